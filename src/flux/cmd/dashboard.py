"""``flux dashboard [--port N] [--bind ADDR] [--open]``: a live web view of the instance.

A client of the instance (``FLUX_URI``, or run inside ``flux start``) serving a
page on 127.0.0.1 by default, reachable only with the token in the URL it
prints (docs/dashboard.md).  Only the instance owner may start it.  It needs
the optional ``dashboard`` extra (aiohttp); without it, one line says how to
install it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

SUMMARY = "Serve a live web view of this Flux instance"

PROG = "flux-dashboard"

INSTALL_HINT = ("the dashboard needs aiohttp: pip install 'pureflux[dashboard]' "
                "(or pip install 'aiohttp>=3.9')")


def _parser() -> Any:
    import argparse

    p = argparse.ArgumentParser(prog=PROG, description="Serve a live web view of the instance.")
    p.add_argument("-p", "--port", type=int, default=0,
                   help="TCP port to listen on (default: a free one)")
    p.add_argument("-b", "--bind", default="127.0.0.1", metavar="ADDR",
                   help="address to listen on (default: 127.0.0.1)")
    p.add_argument("-o", "--open", action="store_true", help="open the page in a web browser")
    p.add_argument("-i", "--interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often views and charts are refreshed (default: 1)")
    return p


def main(argv: list[str]) -> int:
    import asyncio
    import os
    import secrets
    import sys

    from .util import die, oserror_text, open_handle

    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        die(PROG, f"invalid port {args.port}")
    if not 0.1 <= args.interval <= 3600:
        die(PROG, "--interval must be between 0.1 and 3600 seconds")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        die(PROG, INSTALL_HINT)
    from flux.dashboard.server import configured_actions, serve

    h = open_handle(PROG)
    try:
        owner = int(h.attr_get("security.owner"))
        conf = h.rpc("config.get").get()
    except (OSError, ValueError) as exc:
        die(PROG, oserror_text(exc) if isinstance(exc, OSError) else str(exc))
    if owner != os.getuid():
        die(PROG, "only the instance owner may start the dashboard")
    try:
        actions = configured_actions(conf)
    except ValueError as exc:
        die(PROG, str(exc))

    def ready(url: str) -> None:
        print(f"{PROG}: serving {url}", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    try:
        code = asyncio.run(serve(h, secrets.token_urlsafe(24), actions, args.bind, args.port,
                                 args.interval, ready))
    except OSError as exc:  # the address is taken, not ours, ...
        die(PROG, f"{args.bind}:{args.port}: {oserror_text(exc)}")
    if code:
        print(f"{PROG}: lost the connection to the instance", file=sys.stderr)
    return code
