"""What flux-core's Python job commands share: their error lines and argument parsing.

flux-core's ``flux submit``, ``flux cancel``, ``flux jobs`` ... run under
``flux.util.CLIMain``: an uncaught exception becomes one line
``PROG: ERROR: TEXT`` on stderr and exit status 1 (an OSError's strerror,
then ``: 'FILENAME'`` if it has one), and their argparse parsers refuse
abbreviated long options.  Submission commands stop reading options at the
job's command (POSIX getopt), so ``flux submit hostname -n 2`` gives ``-n 2``
to ``hostname``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from collections.abc import Callable


def error_text(exc: BaseException) -> str:
    """The text CLIMain prints for an exception."""
    text = getattr(exc, "strerror", None) or str(exc)
    filename = getattr(exc, "filename", None)
    if filename:
        text += f": '{filename}'"
    return text


def run(prog: str, body: Callable[[], int | None]) -> int:
    """Run ``body``; an exception is reported as CLIMain does, exit status 1."""
    try:
        return body() or 0
    except (SystemExit, BrokenPipeError):  # a closed pipe ends the command quietly (main)
        raise
    except KeyboardInterrupt:
        return 1
    except Exception as exc:  # noqa: BLE001 - every failure is one line, as flux-core's commands
        sys.stdout.flush()
        print(f"{prog}: ERROR: {error_text(exc)}", file=sys.stderr, flush=True)
        return 1


def warn(prog: str, text: str) -> None:
    """A WARNING line as flux-core's commands log it."""
    print(f"{prog}: WARNING: {text}", file=sys.stderr, flush=True)


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it (``COLUMNS``, then
    the terminal, else 80), without importing shutil and its compression modules, which
    argparse's help formatter does on every ``add_argument`` (~2 ms of each command)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def parser(prog: str, usage: str | None = None, description: str | None = None,
           add_help: bool = True) -> argparse.ArgumentParser:
    """An ArgumentParser as flux-core's (no long option abbreviations)."""
    import argparse

    class Formatter(argparse.HelpFormatter):
        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                     width: int | None = None) -> None:
            super().__init__(prog, indent_increment, max_help_position,
                             _columns() - 2 if width is None else width)

    return argparse.ArgumentParser(prog=prog, usage=usage, description=description,
                                   allow_abbrev=False, add_help=add_help,
                                   formatter_class=Formatter)


def posix_split(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` at the first word that is not an option or an option's value.

    A ``--`` stays at the head of the command (the caller drops it), as flux-core's.
    """
    actions = parser._option_string_actions
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        if word.startswith("--"):
            name, eq, _ = word.partition("=")
            action = actions.get(name)
            if action is not None and not eq and _takes_value(action):
                i += 1
        else:
            # -nVALUE, -n VALUE, or a cluster of flags such as -xv
            for pos in range(1, len(word)):
                action = actions.get("-" + word[pos])
                if action is None:
                    break
                if _takes_value(action):
                    if pos == len(word) - 1:
                        i += 1
                    break
        i += 1
    return argv[:i], argv[i:]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0 and action.nargs != "?"


def idset_decode(text: str) -> list[int]:
    """The ids of an RFC 22 idset, sorted; ValueError where flux.idset.IDset refuses the
    text (flux-core's commands decode --cc, --bcc and --input with IDset)."""
    from flux.idset import IDset

    return list(IDset(text))
