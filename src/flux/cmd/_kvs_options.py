"""Options of ``flux kvs`` as flux-core's liboptparse reads and reports them.

flux-core's ``flux-kvs`` is a C program built on liboptparse (over glibc's
getopt in POSIX order), whose texts differ from :mod:`flux.cmd._optparse`'s:
parsing stops at the first non-option; errors read
``flux-kvs get: unrecognized option '-x'`` then ``Try `flux-kvs get --help'
for more information.``; usage goes to stderr with ``-h, --help`` first, the
subcommand's one-line description before the options, descriptions in a
column at 25 wrapped to the terminal width; nested subcommands list
``Usage:``/``or:`` lines.  Numbers are read as C's ``strtol``/``strtoul``/
``strtod`` read them.  Every failure prints and raises SystemExit.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Sequence
    from typing import NoReturn

from ._optparse import option_lines as _option_lines
from ._optparse import segments, term_columns

NO_ARG, REQUIRED, OPTIONAL = 0, 1, 2



class Opt:
    """One option: short key, long name, its help text and how it takes an argument."""

    __slots__ = ("arginfo", "has_arg", "key", "name", "short_optional", "usage")

    def __init__(self, key: str, name: str, usage: str, has_arg: int = NO_ARG,
                 arginfo: str | None = None, short_optional: bool = False) -> None:
        self.key = key
        self.name = name
        self.usage = usage
        self.has_arg = has_arg
        self.arginfo = arginfo
        self.short_optional = short_optional  # ``-L`` takes ``-Lalways`` but never the next word


HELP = Opt("h", "help", "Display this message.")


class Command:
    """A program or subcommand: full name (``flux-kvs get``), usage, description, options.

    ``subcommands`` (name -> Command, in registration order) makes it a
    command such as ``flux-kvs namespace`` that lists theirs in its usage.
    """

    def __init__(self, fullname: str, usage: str | None = None, doc: str | None = None,
                 options: Sequence[Opt] = (), subcommands: dict | None = None,
                 on_help: Callable[[], None] | None = None) -> None:
        self.fullname = fullname
        self.name = fullname.rsplit(" ", 1)[-1]
        self.usage = usage
        self.doc = doc
        self.options = [HELP, *options]
        self.subcommands = subcommands or {}
        self.on_help = on_help

    # -- usage -------------------------------------------------------------------------

    def usage_text(self) -> str:
        lines = []
        if self.usage is not None:
            lines.append(f"Usage: {self.fullname} {self.usage}")
        if not self.subcommands:
            if self.usage is None:
                lines.append(f"Usage: {self.fullname} [OPTIONS]...")
        else:
            for i, sub in enumerate(self.subcommands.values()):
                label = "Usage" if i == 0 and self.usage is None else "or"
                usage = sub.usage if sub.usage is not None else "[OPTIONS]"
                lines.append(f"{label:>5}: {sub.fullname} {usage}")
        columns = term_columns()
        if self.doc is not None:
            lines += segments(self.doc, columns)
        for opt in self.options:
            lines += option_lines(opt, columns)
        return "".join(line + "\n" for line in lines)

    def print_usage(self) -> None:
        sys.stdout.flush()
        sys.stderr.write(self.usage_text())
        sys.stderr.flush()

    def fatal_usage(self, code: int = 1, message: str | None = None) -> NoReturn:
        """``FULLNAME: MESSAGE`` if any, the usage, and exit with ``code``."""
        if message is not None:
            sys.stderr.write(f"{self.fullname}: {message}\n")
        self.print_usage()
        raise SystemExit(code)

    def fatal(self, message: str) -> NoReturn:
        """``FULLNAME: MESSAGE`` and exit 1 (liboptparse's fatal message)."""
        sys.stdout.flush()
        sys.stderr.write(f"{self.fullname}: {message}")
        sys.stderr.flush()
        raise SystemExit(1)

    # -- parsing -----------------------------------------------------------------------

    def parse(self, argv: Sequence[str]) -> Args:
        """Parse ``argv`` (``argv[0]`` is the command's own name), as getopt in POSIX order."""
        return _Getopt(self, list(argv)).run()


def option_lines(opt: Opt, columns: int) -> list[str]:
    return _option_lines(opt.key, opt.name, opt.arginfo or "", opt.usage, columns)


class Args:
    """What was parsed: options seen (with their last argument) and the operands."""

    def __init__(self, command: Command) -> None:
        self.command = command
        self.found: dict[str, int] = {}
        self.optarg: dict[str, str | None] = {}
        self.args: list[str] = []

    def hasopt(self, name: str) -> bool:
        return name in self.found

    def get_str(self, name: str, default: str | None = None) -> str | None:
        """The option's (last) argument, ``default`` if not given, None if given without one."""
        if name not in self.found:
            return default
        return self.optarg.get(name)

    def _bad(self, text: str) -> NoReturn:
        self.command.fatal(f"{self.command.name}: {text}\n")

    def get_int(self, name: str, default: int) -> int:
        """optparse_get_int: a whole C ``int`` in base 10."""
        if name not in self.found:
            return default
        value = self.optarg.get(name)
        if value is None:
            return self.found[name]
        number, end, overflow = c_strtol(value)
        if not value or overflow or end != len(value) or not -(1 << 31) <= number < (1 << 31):
            self._bad(f"Option '{name}' requires an integer argument")
        return number

    def get_double(self, name: str, default: float) -> float:
        """optparse_get_double: a whole C ``strtod`` number."""
        if name not in self.found:
            return default
        value = self.optarg.get(name) or ""
        number, end, erange = c_strtod(value)
        if not value or erange or end != len(value):
            self._bad(f"Option '{name}' requires a floating point argument")
        return number

    def get_duration(self, name: str, default: float) -> float:
        """optparse_get_duration: an RFC 23 duration (``1.5``, ``30s``, ``2m``, ``inf``)."""
        if name not in self.found:
            return default
        value = self.optarg.get(name) or ""
        number = fsd_parse_duration(value)
        if number is None:
            self._bad(f"Invalid argument for option '{name}': '{value}'")
        return number

    def get_color(self, name: str = "color") -> bool:
        """optparse_get_color: ``always`` (or no argument), ``never``, ``auto`` (a tty)."""
        when: str | None = "never" if os.environ.get("NO_COLOR") else "auto"
        when = self.get_str(name, when)
        if when is None or when == "always":
            return True
        if when == "never":
            return False
        if when == "auto":
            return os.isatty(1)
        self.command.fatal(f"Invalid argument to --{name}: '{when}'")


class _ParseError(Exception):
    pass


class _Getopt:
    """glibc's getopt_long in REQUIRE_ORDER with a leading ``:`` and no messages of its own."""

    def __init__(self, command: Command, argv: list[str]) -> None:
        self.command = command
        self.argv = argv
        self.result = Args(command)

    def run(self) -> Args:
        argv = self.argv
        optind = 1
        try:
            while optind < len(argv):
                arg = argv[optind]
                if arg == "--":
                    optind += 1
                    break
                if not arg.startswith("-") or arg == "-":
                    break
                if arg.startswith("--"):
                    optind = self._long(arg, optind)
                else:
                    optind = self._short(arg, optind)
        except _ParseError:
            raise SystemExit(1) from None
        self.result.args = argv[optind:]
        return self.result

    def _found(self, opt: Opt, value: str | None) -> None:
        res = self.result
        res.found[opt.name] = res.found.get(opt.name, 0) + 1
        if value is not None:
            res.optarg[opt.name] = value
        if opt is HELP:
            if self.command.on_help is not None:
                self.command.on_help()
            self.command.fatal_usage(0)

    def _unrecognized(self, what: str) -> NoReturn:
        name = self.command.fullname
        sys.stderr.write(f"{name}: unrecognized option '{what}'\n"
                         f"Try `{name} --help' for more information.\n")
        raise _ParseError

    def _missing(self, what: str) -> NoReturn:
        sys.stderr.write(f"{self.command.fullname}: '{what}' missing argument\n")
        raise _ParseError

    def _long(self, arg: str, optind: int) -> int:
        name, eq, value = arg[2:].partition("=")
        options = self.command.options
        exact = [o for o in options if o.name == name]
        if exact:
            opt = exact[0]
        else:
            matches = [o for o in options if o.name.startswith(name)]
            if len(matches) != 1:  # none, or ambiguous (every option has its own key)
                self._unrecognized(arg)
            opt = matches[0]
        optind += 1
        if eq:
            if opt.has_arg == NO_ARG:
                self._unrecognized(f"-{opt.key}")
            self._found(opt, value)
        elif opt.has_arg == REQUIRED:
            if optind >= len(self.argv):
                self._missing(self.argv[optind - 1])
            self._found(opt, self.argv[optind])
            optind += 1
        else:
            self._found(opt, None)
        return optind

    def _short(self, arg: str, optind: int) -> int:
        j = 1
        while j < len(arg):
            ch = arg[j]
            j += 1
            last = j == len(arg)
            if last:
                optind += 1
            opt = next((o for o in self.command.options if o.key == ch and o.key.isalnum()), None)
            if opt is None:
                self._unrecognized(f"-{ch}")
            if opt.has_arg == NO_ARG or (opt.has_arg == OPTIONAL and not opt.short_optional):
                self._found(opt, None)
                continue
            if not last:
                self._found(opt, arg[j:])
                return optind + 1
            if opt.has_arg == OPTIONAL:
                self._found(opt, None)
            elif optind >= len(self.argv):
                self._missing(self.argv[optind - 1])
            else:
                self._found(opt, self.argv[optind])
                optind += 1
            return optind
        return optind


# -- numbers as C reads them ------------------------------------------------------------

_C_SPACE = " \t\n\v\f\r"


def c_strtol(text: str, unsigned: bool = False) -> tuple[int, int, bool]:
    """(value, end index, out of range) of C's ``strtol``/``strtoul`` in base 10.

    No digits: value 0 and end 0.  ``strtoul`` of ``-N`` wraps modulo 2**64,
    as C's does.
    """
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    negative = False
    if i < len(text) and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    start = i
    while i < len(text) and "0" <= text[i] <= "9":
        i += 1
    if i == start:
        return 0, 0, False
    value = int(text[start:i])
    if unsigned:
        if value > (1 << 64) - 1:
            return (1 << 64) - 1, i, True
        return ((-value) % (1 << 64) if negative else value), i, False
    value = -value if negative else value
    if value > (1 << 63) - 1:
        return (1 << 63) - 1, i, True
    if value < -(1 << 63):
        return -(1 << 63), i, True
    return value, i, False


def c_strtod(text: str) -> tuple[float, int, bool]:
    """(value, end index, ERANGE) of C's ``strtod``: decimal, hex, inf, nan; end 0 if none."""
    import re

    m = re.match(r"[ \t\n\v\f\r]*([+-]?)(?:0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+))"
                 r"(?:[pP]([+-]?[0-9]+))?|((?:[0-9]+\.?[0-9]*|\.[0-9]+))(?:[eE]([+-]?[0-9]+))?"
                 r"|(inf(?:inity)?)|(nan(?:\([0-9A-Za-z_]*\))?))", text, re.IGNORECASE)
    if not m:
        return 0.0, 0, False
    sign, hex_digits, hex_exp, digits, exp, inf, _nan = m.groups()
    if hex_digits is not None:
        value = float.fromhex(f"0x{hex_digits}p{hex_exp or 0}")
    elif digits is not None:
        value = float(f"{digits}e{exp or 0}")
    else:
        value = float("inf") if inf else float("nan")
    mantissa = hex_digits if hex_digits is not None else digits
    erange = mantissa is not None and (
        value == float("inf") or (value == 0.0 and mantissa.strip("0.") != ""))
    return (-value if sign == "-" else value), m.end(), erange


def fsd_parse_duration(text: str) -> float | None:
    """flux-core's ``fsd_parse_duration``: seconds, or None if ``text`` is not a duration."""
    value, end, _ = c_strtod(text)
    import math

    if math.isnan(value) or value < 0:
        return None
    rest = text[end:]
    if rest:
        if value == float("inf"):
            return None
        units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
        if rest not in units:
            return None
        value *= units[rest]
    return value
