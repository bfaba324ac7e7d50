"""RFC 36 submission directives: ``#flux: -N2 --job-name=x`` lines of a batch script.

A directive is a line whose non-word prefix is followed by ``flux:`` (or ``FLUX:``);
its text is split as a POSIX shell would and must start with an option (a SETARGS
directive) or be empty.  Every directive of a file uses the same prefix; once a
non-blank line that does not start with that prefix follows a directive, directives
are over and a later one is an error (an "orphan").  Not here: triple-quoted values
spanning several lines.
"""

from __future__ import annotations

import re
import shlex
from typing import Iterable

__all__ = ["Directive", "DirectiveParser"]

_DIRECTIVE = re.compile(r"^([^\w]*)((?:flux|FLUX):)(.*)$")


class Directive:
    """One directive: ``action`` SETARGS (``args`` for the command line) or NOOP."""

    def __init__(self, value: str, lineno: int = -1) -> None:
        self.lineno = lineno
        lexer = shlex.shlex(value, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.escapedquotes = "\"'"
        try:
            self.args = list(lexer)
        except ValueError as exc:
            raise ValueError(f"line {lineno}: {value}: {exc}") from None
        if not self.args:
            self.action = "NOOP"
        elif self.args[0].startswith("-"):
            self.action = "SETARGS"
        else:
            raise ValueError(f"line {lineno}: Unknown directive: {value}")

    def __str__(self) -> str:
        return f"{self.action}({self.args})"


class DirectiveParser:
    """Reads a script (lines): ``script`` is its text, ``directives`` its directives."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.directives: list[Directive] = []
        self.script = ""
        self.sentinel: str | None = None
        prefix = ""
        ended_at = 0  # the line after which directives are over (0: not over)
        lineno = 0
        for line in lines:
            lineno += 1
            self.script += line
            match = _DIRECTIVE.match(line)
            if match is None:
                if (self.sentinel is not None and not ended_at and line.strip()
                        and not line.startswith(prefix.rstrip())):
                    ended_at = lineno - 1
                continue
            sentinel = match.group(1) + match.group(2)
            if ended_at:
                raise ValueError(f"line {lineno}: orphan '{match.group(2)}' detected: "
                                 f"directives disabled after line {ended_at}")
            if self.sentinel is None:
                self.sentinel, prefix = sentinel, match.group(1)
            elif sentinel != self.sentinel:
                raise ValueError(f"line {lineno}: sentinel changed from "
                                 f"'{self.sentinel}' to '{sentinel}'")
            value = match.group(3)
            if value.strip():
                self.directives.append(Directive(value, lineno))
