"""``flux setattr NAME VALUE`` / ``flux setattr -e NAME``: set or unset a broker attribute."""

from __future__ import annotations

SUMMARY = "Set broker attribute"

PROG = "flux-setattr"


def main(argv: list[str]) -> int:
    from ._optparse import Option, Parser
    from .util import die, oserror_text, open_handle

    parser = Parser(PROG, "name value",
                    [Option("e", "expunge", help="Unset the specified attribute")])
    opts, args = parser.parse(argv)
    expunge = opts.has("expunge")
    if len(args) != (1 if expunge else 2):
        parser.fatal_usage()
    name = args[0]
    h = open_handle(PROG)
    try:
        if expunge:
            h.attr_remove(name)
        else:
            h.attr_set(name, args[1])
    except OSError as exc:
        die(PROG, f"{name}: {oserror_text(exc)}")
    return 0
