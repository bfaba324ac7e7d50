"""``flux getattr NAME``: print the value of a broker attribute (``attr.get``)."""

from __future__ import annotations

SUMMARY = "Get broker attribute"

PROG = "flux-getattr"


def main(argv: list[str]) -> int:
    import errno
    import os

    from ._optparse import Parser
    from .util import die, open_handle

    parser = Parser("flux getattr", "name", [], doc="Get broker attribute")
    _, args = parser.parse(argv)
    if len(args) != 1:
        parser.fatal_usage()
    name = args[0]
    h = open_handle(PROG)
    try:
        value = h.attr_get(name)
    except OSError as exc:
        # like flux-core: the errno's text, not the service's message
        die(PROG, f"{name}: {os.strerror(exc.errno or errno.EINVAL)}")
    print(value)
    return 0
