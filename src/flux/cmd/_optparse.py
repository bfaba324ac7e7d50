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


LEFT_MARGIN = 2
OPTION_WIDTH = 25  # liboptparse's column for option descriptions


def term_columns() -> int:
    """The width liboptparse wraps usage to: ``$COLUMNS`` if it is a sane number, else 80."""
    import os

    value = os.environ.get("COLUMNS", "").strip()
    cols = 80
    if value:
        sign = -1 if value[0] == "-" else 1
        digits = value[1:] if value[0] in "+-" else value
        if digits.isdigit():
            cols = sign * int(digits)
    return 80 if cols >= 256 or cols <= 16 else cols


def segments(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width``, at spaces, else hyphenating a word."""
    out = []
    while text:
        if len(text) <= width:
            out.append(text)
            break
        p = width
        while p and not text[p].isspace():
            p -= 1
        following = p + 1
        while p and text[p].isspace():
            p -= 1
        if p == 0:
            out.append(text[:width - 1] + "-")
            text = text[width - 1:]
        else:
            out.append(text[:p + 1])
            text = text[following:]
    return out


def option_lines(key: Optional[str], name: str, arginfo: str, text: str,
                 columns: int) -> list[str]:
    """One option's lines of ``--help`` as liboptparse lays them out (``-k, --name=ARG``
    then the description at column 25, wrapped; a long left part gets its own line)."""
    arg = f"={arginfo}" if arginfo else ""
    if key and key.isalnum():
        info = f"{'':{LEFT_MARGIN}}-{key}, --{name}{arg}"
    else:
        info = f"{'':{LEFT_MARGIN + 4}}--{name}{arg}"
    parts = segments(text, columns - OPTION_WIDTH) or [""]
    if len(info) < OPTION_WIDTH:
        lines = [f"{info:<{OPTION_WIDTH}}{parts[0]}"]
    else:
        lines = [info, f"{'':{OPTION_WIDTH}}{parts[0]}"]
    return lines + [f"{'':{OPTION_WIDTH}}{part}" for part in parts[1:]]


def usage_text(prog: str, synopsis: str, table: Sequence[Option],
               doc: Optional[str] = None) -> str:
    """``--help`` as flux-core's C commands print it: the usage line, the description,
    ``-h, --help`` first, then the options in table order."""
    columns = term_columns()
    lines = [f"Usage: {prog} {synopsis}".rstrip()]
    if doc:
        lines += segments(doc, columns)
    for opt in [Option("h", "help", help="Display this message.")] + list(table):
        lines += option_lines(opt.short, opt.long, opt.metavar if opt.has_arg else "",
                              opt.help, columns)
    return "\n".join(line.rstrip() for line in lines)


class Parser:
    """``Parser(prog, synopsis, table).parse(argv) -> (Options, args)``."""

    def __init__(self, prog: str, synopsis: str, table: Sequence[Option],
                 stop_at_nonoption: bool = False, doc: Optional[str] = None) -> None:
        self.prog = prog
        self.doc = doc
        self.synopsis = synopsis
        self.table = list(table)
        self.stop_at_nonoption = stop_at_nonoption

    def usage(self) -> str:
        return usage_text(self.prog, self.synopsis, self.table, self.doc)

    def print_usage(self, out: Any = None) -> None:
        sys.stdout.flush()  # liboptparse writes usage (--help too) on stderr
        print(self.usage(), file=out or sys.stderr, flush=True)

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

    def parse_n(self, argv: Sequence[str], least: int,
                most: Optional[int] = None) -> tuple[Options, list[str]]:
        """``parse``, then the usage on stderr and exit 1 unless ``least`` to ``most``
        (default: exactly ``least``) arguments are left, as flux-core's C commands do."""
        opts, args = self.parse(argv)
        if not least <= len(args) <= (least if most is None else most):
            self.print_usage()
            raise SystemExit(1)
        return opts, args

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
