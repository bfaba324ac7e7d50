"""Hand-rolled option loops: the option words before a command's first operand.

``flux broker``, ``flux start`` (options, then the initial program) and
``flux module load/reload`` (options, then a module and its arguments) parse
their leading options by hand.  This is kept apart from :mod:`._optparse`
because ``flux module load`` runs in start-up scripts and tight loops and
should import as little as possible.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Iterator, Optional, Sequence

__all__ = ["LeadingOptions"]


class LeadingOptions:
    """For commands that parse by hand: the option words before the first operand.

    ``for arg in walker`` yields each option word and stops at the first
    operand or after ``--``; ``-h``/``--help`` print ``usage`` and exit 0.
    :meth:`value` takes an option's argument, :meth:`rest` is what follows.
    """

    def __init__(self, argv: Sequence[str], usage: str, fail: Callable[[str], Any]) -> None:
        self.argv = list(argv)
        self.usage = usage
        self.fail = fail  # called with "option X requires an argument"; must not return
        self.i = 0

    def __iter__(self) -> Iterator[str]:
        argv = self.argv
        while self.i < len(argv):
            arg = argv[self.i]
            if arg == "--":
                self.i += 1
                return
            if not arg.startswith("-") or arg == "-":
                return
            if arg in ("-h", "--help"):
                print(self.usage)
                raise SystemExit(0)
            yield arg
            self.i += 1

    def value(self, name: str, inline: Optional[str] = None) -> str:
        """The option's argument: ``inline`` (from ``--opt=V`` or ``-oV``) or the next word."""
        if inline is not None:
            return inline
        self.i += 1
        if self.i >= len(self.argv):
            self.fail(f"option {name} requires an argument")
        return self.argv[self.i]

    def rest(self) -> list[str]:
        """The words after the options (the first operand onwards)."""
        return self.argv[self.i:]
