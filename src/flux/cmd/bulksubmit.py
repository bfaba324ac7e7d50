"""``flux bulksubmit``: submit one job per input, like xargs or GNU parallel, as flux-core 0.88's.

Inputs come from stdin (split at ``--sep``, newline by default, ``none`` for
any whitespace) or from the command line after ``:::`` (several lists give
every combination; ``::::`` FILE reads a list from a file, ``-`` for stdin;
``:::+``/``::::+`` link a list to the previous one instead).  Each job's
command and options are the templates with ``{}``/``{N}``, ``{seq}``,
``{seq1}`` and ``{cc}`` replaced (``_job_bulk_template``).  ``--dry-run``
prints ``bulksubmit: submit ...`` lines instead of submitting; submission,
``--cc``, ``--wait`` and exit codes are ``flux submit``'s.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any, TextIO

SUMMARY = "Submit jobs in bulk from a list of inputs"

PROG = "flux-bulksubmit"


def parser() -> argparse.ArgumentParser:
    import argparse

    from ._job_submit_options import submission_parser

    p = submission_parser(PROG)
    p.add_argument("--shuffle", action="store_true",
                   help="Shuffle list of commands before submission")
    p.add_argument("--sep", type=str, metavar="STRING", default="\n",
                   help="Set the input argument separator. To split on whitespace, use "
                        "--sep=none. The default is newline.")
    p.add_argument("--define", action="append", type=lambda kv: kv.split("="),
                   dest="methods", default=[], metavar="NAME=CODE",
                   help="Define a named method for transforming any input, accessible via "
                        "e.g. '{0.NAME}'. (local variable 'x' will contain the input string "
                        "to be transformed)")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="Job command and initial arguments")
    return p


def main(argv: list[str]) -> int:
    from ._job_cli import posix_split, run

    def body() -> int:
        p = parser()
        options, command = posix_split(p, argv)
        args = p.parse_args(options)
        args.command = command
        return _main(args)

    return run(PROG, body)


def _read_inputs(stream: TextIO, sep: str | None) -> list[str]:
    return [x for x in stream.read().split(sep) if x]


def _split_before(items: Iterable[str], pred: Callable[[str], bool]) -> Iterator[list[str]]:
    """Lists of items, a new one at each item where ``pred`` holds (the first may be empty)."""
    buf: list[str] = []
    for item in items:
        if pred(item):
            yield buf
            buf = []
        buf.append(item)
    yield buf


def split_command_inputs(command: list[str], sep: str | None,
                         delim: str = ":::") -> tuple[list[str], list[list[str]], list[dict]]:
    """The command template, the input lists, and the linked lists (``:::+``)."""
    links = []
    template, *lists = _split_before(command, lambda x: x.startswith(delim))
    for i, lst in enumerate(lists):
        first = lst.pop(0)
        if first == delim:
            continue
        if first == delim + ":":
            if len(lst) > 1:
                raise ValueError("Multiple args not allowed after ::::")
            if lst[0] == "-":
                lists[i] = _read_inputs(sys.stdin, sep)
            else:
                with open(lst[0]) as stream:
                    lists[i] = _read_inputs(stream, sep)
        if first in (delim + "+", delim + ":+"):
            links.append({"index": i, "list": lst.copy()})
            lst.clear()
    return template, [lst for lst in lists if lst], links


def create_commands(args: argparse.Namespace) -> list[Any]:
    """One templated argument set per combination of inputs."""
    import itertools

    from ._job_bulk_template import Xcmd

    sep: str | None = bytes(args.sep, "utf-8").decode("unicode_escape")
    if sep is not None and sep.lower() == "none":
        sep = None
    args.methods = {name: compile(code, name, "eval")
                    for name, code in dict(args.methods).items()}
    args.command, input_lists, links = split_command_inputs(args.command, sep)
    if not args.command:
        args.command = ["{}"]
    if not input_lists:
        input_lists = [_read_inputs(sys.stdin, sep)]
    inputs = [list(x) for x in itertools.product(*input_lists)]
    for link in links:
        cycle = itertools.cycle(link["list"])
        for lst in inputs:
            lst.insert(link["index"], next(cycle))
    return [Xcmd(args, inp, seq=i, seq1=i + 1, cc="{cc}") for i, inp in enumerate(inputs)]


def _main(args: argparse.Namespace) -> int:
    from ._job_submit_bulk import BulkSubmitter, cc_list

    if not args.command:
        args.command = ["{}"]
    commands = create_commands(args)
    if args.shuffle:
        import random

        random.shuffle(commands)
    total = sum(len(cc_list(xargs)) for xargs in commands)
    if total == 0:
        raise ValueError("no jobs provided for bulk submission")
    if args.progress and args.dry_run:
        print(f"bulksubmit: submitting a total of {total} jobs")
    if args.dry_run:
        for xargs in commands:
            print(f"bulksubmit: submit {xargs}")
        return 0
    submitter = BulkSubmitter(args)
    try:
        for xargs in commands:
            if args.verbose:
                print(f"bulksubmit: submit {xargs}", flush=True)
            submitter.submit_with_cc(xargs)
    finally:
        status = submitter.finish()
    return status
