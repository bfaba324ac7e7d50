"""``flux setattr [-f] NAME VALUE``: set a broker attribute (flux-core's options exactly).

``-f/--force`` updates an attribute that does not support run-time changes
(flux-core's t0008-attr.t: ``flux setattr --force test-nr.foo baz``).  There is
no way to unset an attribute here, as in flux-core 0.88.
"""

from __future__ import annotations

SUMMARY = "Set broker attribute"

PROG = "flux-setattr"


def main(argv: list[str]) -> int:
    from ._optparse import Option, Parser
    from .util import die, oserror_text, open_handle

    parser = Parser("flux setattr", "name value", [
        Option("f", "force", help="force update of attribute that doesn't support runtime changes"),
    ], doc="Set broker attribute")
    opts, args = parser.parse(argv)
    if len(args) != 2:
        parser.fatal_usage()
    name, value = args
    h = open_handle(PROG)
    try:
        if opts.has("force"):
            from flux.message import compact_json

            # flux_attr_set_ex(): "force" is sent only when set
            h.rpc("attr.set", compact_json({"name": name, "value": value, "force": True})).get()
        else:
            h.attr_set(name, value)
    except OSError as exc:
        die(PROG, f"{name}: {oserror_text(exc)}")
    return 0
