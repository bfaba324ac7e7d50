"""``flux lsattr [-v]``: list broker attribute names (sorted), with ``-v`` their values."""

from __future__ import annotations

SUMMARY = "List broker attributes"

PROG = "flux-lsattr"


def main(argv: list[str]) -> int:
    import sys

    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from ._optparse import Option, Parser
    from .util import die, oserror_text, open_handle

    parser = Parser("flux lsattr", "[-v]", [Option("v", "values", help="List values with attributes")],
                    doc="List broker attributes")
    opts, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    h = open_handle(PROG)
    try:
        resp = h.rpc("attr.list").get()
    except OSError as exc:
        die(PROG, f"attr.list: {oserror_text(exc)}")
    names = resp.get("names") if isinstance(resp, dict) else None
    if not isinstance(names, list):
        die(PROG, "attr.list: Protocol error")
    if not all(isinstance(n, str) for n in names):
        die(PROG, "non-string attr name returned")
    names = sorted(names)
    out = []
    if opts.has("values"):
        # send every attr.get first, then collect: one round trip's worth of latency
        futures = [h.rpc("attr.get", compact_json({"name": n})) for n in names]
        for name, f in zip(names, futures):
            try:
                value = f.get()["value"]
            except (OSError, KeyError, TypeError):
                value = None
            out.append(f"{name:<40}{value if value is not None else '-'}")
    else:
        out = names
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return 0
