"""``flux shutdown``: stop the enclosing instance cleanly.

Sends ``shutdown.start`` and then waits until the broker closes the
connection, so that when this returns the instance is really gone.  Only the
handle's public API is used (a message watcher, a timer, the reactor).
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

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
    if wait and not _wait_closed(h, timeout):
        die("flux-shutdown", "timed out waiting for the instance to exit")
    return 0


def _wait_closed(h: Any, timeout: float) -> bool:
    """Run the handle's reactor until the broker closes the connection (True) or ``timeout`` passes.

    A started message watcher keeps the connection read; when the broker
    goes away, the lost connection stops the reactor with an error.
    """
    if timeout <= 0:
        return False
    expired = []

    def on_timeout(h: Any, watcher: Any, revents: int, arg: Any) -> None:
        expired.append(True)
        h.reactor_stop()

    h.msg_watcher_create(lambda h, watcher, msg, arg: None).start()
    h.timer_watcher_create(timeout, on_timeout).start()
    try:
        h.reactor_run()
    except OSError:
        return True
    return not expired
