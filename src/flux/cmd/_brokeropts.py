"""Option parsing shared by ``flux broker`` and ``flux start``.

Options stop at the first non-option word: everything from there on is the
initial program and its arguments (``flux start sh -c 'flux ping broker'``).
"""

from __future__ import annotations

from typing import Callable, Optional

__all__ = ["parse"]


def parse(argv: list[str], prog: str, usage: str,
          extra: Optional[dict[str, Callable[[str], None]]] = None,
          flags: Optional[dict[str, Callable[[], None]]] = None) -> tuple[list[str], list[str]]:
    """Return (setattr items, command).  ``extra``: options taking a value."""
    from .util import die

    extra = extra or {}
    flags = flags or {}
    setattrs: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg in ("-h", "--help"):
            print(usage)
            raise SystemExit(0)
        name, eq, value = arg.partition("=")
        if arg.startswith("-S") and not arg.startswith("--"):
            value = arg[2:]
            if not value:
                i += 1
                if i >= len(argv):
                    die(prog, "option -S requires an argument")
                value = argv[i]
            setattrs.append(value)
        elif arg == "-c" or name == "--config-path" or (arg.startswith("-c") and not arg.startswith("--")):
            # -c/--config-path PATH: the instance's TOML config (attribute config.path)
            value = arg[2:] if arg.startswith("-c") and len(arg) > 2 else value
            if not value:
                i += 1
                if i >= len(argv):
                    die(prog, "option --config-path requires an argument")
                value = argv[i]
            setattrs.append(f"config.path={value}")
        elif name == "--setattr":
            if not eq:
                i += 1
                if i >= len(argv):
                    die(prog, "option --setattr requires an argument")
                value = argv[i]
            setattrs.append(value)
        elif name in flags:
            flags[name]()
        elif name in extra:
            if not eq:
                i += 1
                if i >= len(argv):
                    die(prog, f"option {name} requires an argument")
                value = argv[i]
            extra[name](value)
        else:
            die(prog, f"unknown option {arg!r}\n{usage}")
        i += 1
    return setattrs, argv[i:]
