"""``flux relay PATH``: one client on stdin/stdout, relayed to ``local://PATH``.

What the ``ssh://`` connector runs on the far host (as flux-core's relay): it
connects to the broker, answers the client's handshake byte on stdout, then
moves the stream both ways until either side closes.  Errors are prefixed with
the host name, since the user sees them through ssh.
"""

from __future__ import annotations

SUMMARY = "Relay messages between stdio and local://path"

PROG = "flux-relay"


def main(argv: list[str]) -> int:
    import os
    import socket

    from flux.core.connection import connect

    from ._optparse import Parser
    from ._relay_pump import Pump
    from .util import die, oserror_text

    parser = Parser("flux relay", "[OPTIONS] path", [],
                    doc="Relay messages between stdio and local://path")
    _, args = parser.parse(argv)
    if not args:
        parser.fatal_usage("path argument is required")
    if len(args) != 1:
        parser.fatal_usage()
    prefix = socket.gethostname() or "unknown-host"
    target = args[0]
    uri = target if target.startswith("local://") else f"local://{target}"
    try:
        conn = connect(uri)
    except OSError as exc:
        die(prefix, f"{uri}: {os.strerror(exc.errno) if exc.errno else oserror_text(exc)}")
    try:
        os.write(1, b"\x00")  # the client's handshake: relayed clients have our credentials
    except OSError:
        conn.close()
        return 0
    pump = Pump()
    done: list[str] = []
    pump.add_session(0, 1, conn.fileno(), conn.fileno(), lambda _s, why: done.append(why))
    while not done:
        pump.run_once(None)
    conn.close()
    return 0
