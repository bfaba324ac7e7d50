"""``flux submit``: submit a job and print its id (f58), as flux-core 0.88's.

The jobspec is built from the options (``_job_jobspec``); ``--dry-run`` prints
it instead of submitting.  ``--cc``/``--bcc IDSET`` submits one copy per id
(``FLUX_JOB_CC`` set in each copy's environment with ``--cc``, ``{cc}`` in
the command and options replaced by the id).  All copies are submitted at
once, then their ids printed in order; a refused submission prints the
service's error (with ``cc=ID: `` before it) and the exit status is 1.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, TextIO

SUMMARY = "Submit a job to a Flux instance"

PROG = "flux-submit"

_URGENCY_NAMES = {"default": 16, "hold": 0, "expedite": 31}
_FLAGS = ("debug", "waitable", "novalidate")


def main(argv: list[str]) -> int:
    from ._job_cli import posix_split, run
    from ._job_submit_options import submit_parser

    parser = submit_parser(PROG)
    options, command = posix_split(parser, argv)
    args = parser.parse_args(options)
    args.command = command
    return run(PROG, lambda: _submit(args))


def _cc_list(args: argparse.Namespace) -> list[Any]:
    """The copies to submit: [None], or one id per member of --cc/--bcc."""
    from ._job_cli import idset_decode

    if args.cc and args.bcc:
        raise ValueError("specify only one of --cc or --bcc")
    text = args.cc or args.bcc
    if not text:
        return [None]
    try:
        return list(idset_decode(text))
    except ValueError:
        raise ValueError(f"IDset(): Invalid argument: {text}") from None


def _with_cc(args: argparse.Namespace, cc: int) -> argparse.Namespace:
    """A copy of ``args`` with ``{cc}`` replaced by ``cc`` in the command and options."""
    import argparse

    def subst(value: Any) -> Any:
        if isinstance(value, str):
            keep = value.replace("{{", "\0<").replace("}}", "\0>")
            try:
                done = keep.format(cc=cc)
            except (IndexError, KeyError) as exc:
                raise ValueError(f"Invalid replacement string: '{value}' ({exc})") from None
            return done.replace("\0<", "{{").replace("\0>", "}}")
        if isinstance(value, list):
            return [subst(v) for v in value]
        return value

    copy = argparse.Namespace(**vars(args))
    for key, value in vars(args).items():
        if key not in ("cc", "bcc"):
            setattr(copy, key, subst(value))
    return copy


def _submit_flags(args: argparse.Namespace) -> dict:
    flags = {name: False for name in _FLAGS}
    for arg in args.flags or ():
        for flag in arg.split(","):
            if flag not in flags:
                raise ValueError("--flags: Unknown flag " + flag)
            flags[flag] = True
    return flags


def _urgency(text: str) -> int:
    if text in _URGENCY_NAMES:
        return _URGENCY_NAMES[text]
    return int(text)


def _logfile(files: dict, path: str) -> TextIO:
    if path not in files:
        files[path] = open(path, "w", buffering=1)  # noqa: SIM115 - closed by _submit
    return files[path]


def _submit(args: argparse.Namespace) -> int:
    import sys

    import flux
    from flux.job.submit import submit_async

    from ._job_cli import idset_decode
    from ._job_jobspec import jobspec_from_args

    cclist = _cc_list(args)
    pending = []
    handle = None
    files: dict = {}
    try:
        for cc in cclist:
            xargs = _with_cc(args, cc) if cc is not None else args
            jobspec = jobspec_from_args(xargs)
            if xargs.input:
                try:
                    idset_decode(xargs.input)
                except ValueError:
                    pass
                else:  # flux-core logs this one under the logger name "flux"
                    print("flux: ERROR: per-task input not supported for submit",
                          file=sys.stderr, flush=True)
                    return 1
            label = ""
            if cc is not None:
                label = f"cc={cc}: "
                if not args.bcc:
                    jobspec.environment["FLUX_JOB_CC"] = str(cc)
            if args.dry_run:
                print(jobspec.dumps())
                return 0
            flags = _submit_flags(xargs)
            if handle is None:
                handle = flux.Flux()
            future = submit_async(handle, jobspec.dumps(),
                                           urgency=_urgency(xargs.urgency), **flags)
            out = _logfile(files, xargs.log) if xargs.log else sys.stdout
            err = out if xargs.log else sys.stderr
            if xargs.log_stderr:
                err = _logfile(files, xargs.log_stderr)
            pending.append((future, label, out, err))
        status = 0
        for future, label, out, err in pending:
            try:
                jobid = future.get_id()
            except OSError as exc:
                print(f"{label}{exc}", file=err, flush=True)
                status = 1
                continue
            if not args.quiet:
                print(jobid, file=out, flush=True)
        return status
    finally:
        for stream in files.values():
            stream.close()
