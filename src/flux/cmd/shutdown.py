"""``flux shutdown``: stop the enclosing instance cleanly.

Sends ``shutdown.start`` and then waits until the broker closes the
connection, so that when this returns the instance is really gone.
"""

from __future__ import annotations

import os

SUMMARY = "Shut down the Flux instance"

USAGE = """Usage: flux shutdown [--no-wait] [--timeout=SECONDS]
Stop the enclosing Flux instance (FLUX_URI) and wait for it to exit."""


def main(argv: list[str]) -> int:
    from flux.broker.client import SimpleClient

    from .util import die, oserror_text

    wait = True
    timeout = 60.0
    for arg in argv:
        if arg in ("-h", "--help"):
            print(USAGE)
            return 0
        if arg == "--no-wait":
            wait = False
        elif arg.startswith("--timeout="):
            try:
                timeout = float(arg.split("=", 1)[1])
            except ValueError:
                die("flux-shutdown", f"invalid timeout {arg!r}")
        else:
            die("flux-shutdown", f"unknown option {arg!r}\n{USAGE}")
    uri = os.environ.get("FLUX_URI")
    if not uri:
        die("flux-shutdown", "FLUX_URI is not set: not inside a Flux instance")
    try:
        client = SimpleClient(uri)
    except OSError as exc:
        die("flux-shutdown", f"{uri}: {oserror_text(exc)}")
    with client:
        try:
            client.rpc("shutdown.start", {})
        except OSError as exc:
            die("flux-shutdown", f"shutdown.start: {oserror_text(exc)}")
        if wait and not client.wait_closed(timeout):
            die("flux-shutdown", "timed out waiting for the instance to exit")
    return 0
