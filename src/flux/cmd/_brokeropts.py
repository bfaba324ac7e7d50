"""Option parsing shared by ``flux broker`` and ``flux start``.

Options stop at the first non-option word: everything from there on is the
initial program and its arguments (``flux start sh -c 'flux ping broker'``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional

__all__ = ["parse"]


def parse(argv: list[str], prog: str, usage: str,
          extra: Optional[dict[str, Callable[[str], None]]] = None,
          flags: Optional[dict[str, Callable[[], None]]] = None,
          verbosity: Optional[Callable[[int], None]] = None) -> tuple[list[str], list[str]]:
    """Return (setattr items, command).  ``extra``: options taking a value.  ``-v``,
    ``-vv``, ``--verbose[=LEVEL]`` are the broker's own (its log on stderr) unless
    ``verbosity`` is given: then it gets their level (``flux start``'s meaning)."""
    from ._leadingopts import LeadingOptions
    from .util import die

    extra = extra or {}
    flags = flags or {}
    setattrs: list[str] = []
    verbose = 0
    words = LeadingOptions(argv, usage, lambda text: die(prog, text))
    for arg in words:
        name, eq, value = arg.partition("=")
        if arg.startswith("-S") and not arg.startswith("--"):
            setattrs.append(words.value("-S", arg[2:] or None))
        elif arg == "-c" or name == "--config-path" or (arg.startswith("-c") and not arg.startswith("--")):
            # -c/--config-path PATH: the instance's TOML config (attribute config.path)
            inline = arg[2:] if arg.startswith("-c") and len(arg) > 2 else value
            setattrs.append(f"config.path={words.value('--config-path', inline or None)}")
        elif name == "--setattr":
            setattrs.append(words.value("--setattr", value if eq else None))
        elif name in flags:
            flags[name]()
        elif arg.startswith("-v") and arg.strip("v") == "-":  # -v, -vv: the broker's own
            verbose += len(arg) - 1
        elif name == "--verbose":
            try:
                verbose = int(value) if eq else verbose + 1
            except ValueError:
                die(prog, f"--verbose: invalid level {value!r}")
        elif name in extra:
            extra[name](words.value(name, value if eq else None))
        elif len(arg) > 2 and not arg.startswith("--") and arg[:2] in extra:
            extra[arg[:2]](arg[2:])  # a short option with its value attached: -s4, -o,-v
        else:
            die(prog, f"unknown option {arg!r}\n{usage}")
    if verbosity is not None:
        if verbose:
            verbosity(verbose)
    elif verbose > 0:
        # as flux-core's broker: -v prints its info records on its own stderr (local mode),
        # -vv its debug records too, unless -S says otherwise (later items win)
        setattrs = ["log-stderr-mode=local",
                    f"log-stderr-level={7 if verbose > 1 else 6}"] + setattrs
    return setattrs, words.rest()
