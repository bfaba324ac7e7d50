"""``flux shutdown``: stop the enclosing instance cleanly.

Sends ``shutdown.start`` and then waits until the broker closes the
connection, so that when this returns the instance is really gone.
"""

from __future__ import annotations

SUMMARY = "Shut down the Flux instance"

USAGE = """Usage: flux shutdown [--no-wait] [--timeout=SECONDS]
Stop the enclosing Flux instance (FLUX_URI) and wait for it to exit."""


def main(argv: list[str]) -> int:
    from .util import die, oserror_text, open_handle

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
    # the same URI rules and connection error text as every other command
    h = open_handle("flux-shutdown")
    try:
        h.rpc("shutdown.start", {}).get()
    except OSError as exc:
        die("flux-shutdown", f"shutdown.start: {oserror_text(exc)}")
    if wait and not _wait_closed(h._core.conn.sock, timeout):
        die("flux-shutdown", "timed out waiting for the instance to exit")
    return 0


def _wait_closed(sock, timeout: float) -> bool:
    """Wait until the broker closes the connection; True if it did."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except OSError:
            return True
