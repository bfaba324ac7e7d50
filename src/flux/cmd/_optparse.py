"""A small command-line option parser with flux-core's conventions.

flux-core's commands use its own ``optparse`` library: GNU-style short and
long options (``-c 2``, ``-c2``, ``--count=2``, ``--count 2``, unambiguous
long prefixes, bundled flags ``-Cf``), ``--help`` printing a usage block on
stdout, and errors reported as ``PROG: MESSAGE`` followed by a hint, with
exit status 1 (argparse would exit 2).  This module is tiny and imports
nothing heavy, so commands start fast.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn, Optional, Sequence

NO_ARG = 0
REQUIRED = 1
OPTIONAL = 2  # long form takes ``--opt=VALUE``; a bare ``--opt``/``-o`` gets None


class Option:
    __slots__ = ("short", "long", "has_arg", "metavar", "help", "dest")

    def __init__(self, short: Optional[str], long: str, has_arg: int = NO_ARG,
                 metavar: str = "", help: str = "", dest: Optional[str] = None) -> None:
        self.short = short
        self.long = long
        self.has_arg = has_arg
        self.metavar = metavar
        self.help = help
        self.dest = dest or long.replace("-", "_")


class Options:
    """Parsed options: ``opts.name`` is the value (flags: count of uses, 0 if absent)."""

    def __init__(self, table: Sequence[Option]) -> None:
        self._given: dict[str, Any] = {}
        self._table = table

    def has(self, dest: str) -> bool:
        return dest in self._given

    def get(self, dest: str, default: Any = None) -> Any:
        return self._given.get(dest, default)

    def _set(self, opt: Option, value: Any) -> None:
        if opt.has_arg == NO_ARG:
            self._given[opt.dest] = self._given.get(opt.dest, 0) + 1
        else:
            self._given[opt.dest] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._given.get(name)


def usage_text(prog: str, synopsis: str, table: Sequence[Option]) -> str:
    lines = [f"Usage: {prog} {synopsis}".rstrip()]
    rows = []
    for opt in list(table) + [Option("h", "help", help="Display this message.")]:
        left = f"-{opt.short}, " if opt.short else "    "
        left += f"--{opt.long}"
        if opt.has_arg == REQUIRED:
            left += f"={opt.metavar or 'ARG'}"
        elif opt.has_arg == OPTIONAL:
            left += f"[={opt.metavar or 'ARG'}]"
        rows.append((left, opt.help))
    width = max((len(r[0]) for r in rows), default=0)
    width = max(width, 24)
    for left, text in rows:
        lines.append(f"  {left:<{width}}  {text}".rstrip())
    return "\n".join(lines)


class Parser:
    """``Parser(prog, synopsis, table).parse(argv) -> (Options, args)``."""

    def __init__(self, prog: str, synopsis: str, table: Sequence[Option],
                 stop_at_nonoption: bool = False) -> None:
        self.prog = prog
        self.synopsis = synopsis
        self.table = list(table)
        self.stop_at_nonoption = stop_at_nonoption

    def usage(self) -> str:
        return usage_text(self.prog, self.synopsis, self.table)

    def print_usage(self, out: Any = None) -> None:
        print(self.usage(), file=out or sys.stdout, flush=True)

    def fatal_usage(self, message: Optional[str] = None) -> NoReturn:
        """``PROG: MESSAGE`` (if any) and the usage on stderr; exit 1."""
        if message:
            print(f"{self.prog}: {message}", file=sys.stderr)
        self.print_usage(sys.stderr)
        raise SystemExit(1)

    def _error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}", file=sys.stderr)
        print(f"Try `{self.prog} --help' for more information.", file=sys.stderr, flush=True)
        raise SystemExit(1)

    def _find_long(self, name: str) -> Option:
        exact = [o for o in self.table if o.long == name]
        if exact:
            return exact[0]
        if name == "help":
            raise _Help()
        matches = [o for o in self.table if o.long.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        if not matches and "help".startswith(name):
            raise _Help()
        if matches:
            self._error(f"option '--{name}' is ambiguous")
        self._error(f"unrecognized option '--{name}'")

    def _find_short(self, ch: str) -> Option:
        for opt in self.table:
            if opt.short == ch:
                return opt
        if ch == "h":
            raise _Help()
        self._error(f"invalid option -- '{ch}'")

    def parse(self, argv: Sequence[str]) -> tuple[Options, list[str]]:
        try:
            return self._parse(list(argv))
        except _Help:
            self.print_usage()
            raise SystemExit(0)

    def _parse(self, argv: list[str]) -> tuple[Options, list[str]]:
        opts = Options(self.table)
        args: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                args.extend(argv[i:])
                break
            if arg.startswith("--"):
                name, eq, value = arg[2:].partition("=")
                opt = self._find_long(name)
                if opt.has_arg == NO_ARG:
                    if eq:
                        self._error(f"option '--{opt.long}' doesn't allow an argument")
                    opts._set(opt, None)
                elif opt.has_arg == OPTIONAL:
                    opts._set(opt, value if eq else None)
                else:
                    if not eq:
                        if i >= len(argv):
                            self._error(f"option '--{opt.long}' requires an argument")
                        value = argv[i]
                        i += 1
                    opts._set(opt, value)
                continue
            if arg.startswith("-") and arg != "-":
                j = 1
                while j < len(arg):
                    opt = self._find_short(arg[j])
                    j += 1
                    if opt.has_arg == NO_ARG:
                        opts._set(opt, None)
                        continue
                    rest = arg[j:]
                    if opt.has_arg == OPTIONAL:
                        opts._set(opt, rest or None)
                    elif rest:
                        opts._set(opt, rest)
                    else:
                        if i >= len(argv):
                            self._error(f"option requires an argument -- '{opt.short}'")
                        opts._set(opt, argv[i])
                        i += 1
                    break
                continue
            args.append(arg)
            if self.stop_at_nonoption:
                args.extend(argv[i:])
                break
        return opts, args


class _Help(Exception):
    pass


def get_int(prog: str, opts: Options, dest: str, default: int) -> int:
    value = opts.get(dest)
    if value is None:
        return default
    try:
        return int(value, 0) if value.strip().lower().startswith(("0x", "0o", "0b")) else int(value)
    except ValueError:
        print(f"{prog}: Option '{dest.replace('_', '-')}' requires an integer argument", file=sys.stderr)
        raise SystemExit(1)


_FSD_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Flux Standard Duration (RFC 23): a number with optional ms/s/m/h/d suffix."""
    t = text.strip()
    if t.lower() in ("inf", "infinity"):
        return float("inf")
    for unit in ("ms", "s", "m", "h", "d", ""):
        if unit and not t.endswith(unit):
            continue
        number = t[: len(t) - len(unit)] if unit else t
        try:
            value = float(number)
        except ValueError:
            continue
        if value != value:  # NaN
            break
        return value * _FSD_UNITS[unit]
    raise ValueError(f"invalid duration '{text}'")


def get_duration(prog: str, opts: Options, dest: str, default: float) -> float:
    value = opts.get(dest)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError:
        print(f"{prog}: Invalid argument for option '{dest.replace('_', '-')}': '{value}'", file=sys.stderr)
        raise SystemExit(1)
