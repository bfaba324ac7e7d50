"""``flux event pub|sub``: publish events, or print the events received.

``pub [-r] [-p] [-s] [-l] TOPIC [PAYLOAD...]`` joins the payload arguments
with spaces; it must be a JSON object unless ``--raw``.  Like flux-core, a
plain publish sends an EVENT message (the broker publishes it), while
``--synchronous`` uses the ``event.publish`` RPC (payload base64-encoded)
and prints the sequence number it was given.  ``--loopback`` waits until
the event comes back.

``sub [-c N] [TOPIC...]`` subscribes to the topic prefixes (all events by
default) and prints ``TOPIC<TAB>PAYLOAD`` per event whose rolemask includes
OWNER, as flux-core's default message handler does.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

SUMMARY = "Send and receive Flux events"

PROG = "flux-event"

USAGE = """Usage: flux-event pub [OPTIONS] topic [payload]
   or: flux-event sub [OPTIONS] [topic...]"""

FLAG_PRIVATE = 0x20
ROLE_OWNER = 1


def _usage_exit(code: int = 1) -> None:
    print(USAGE, file=sys.stdout if code == 0 else sys.stderr, flush=True)
    raise SystemExit(code)


def printable(data: bytes) -> str:
    """Non-printable bytes shown as ``.``."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def format_payload(data: Optional[bytes]) -> str:
    """A NUL-terminated string payload as text, anything else made printable."""
    if not data:
        return ""
    if data.endswith(b"\0"):
        return data[:-1].split(b"\0", 1)[0].decode("utf-8", "replace")
    return printable(data)


def _payload_bytes(raw: bool, payload: Optional[str]) -> Optional[bytes]:
    from .util import die

    if payload is None:
        return None
    if raw:
        return payload.encode("utf-8", "surrogateescape") or None
    import json

    try:
        obj = json.loads(payload)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        die(PROG, "publish failed: payload is not a valid JSON object")
    return payload.encode("utf-8", "surrogateescape") + b"\0"


def _recv_event(h: Any, what: str) -> Any:
    """The next event message (None if there is none); an error dies as ``flux-event: WHAT: ERROR``."""
    from flux.constants import FLUX_MSGTYPE_EVENT

    from .util import die, oserror_text

    try:
        return h.recv(type_mask=FLUX_MSGTYPE_EVENT)
    except OSError as exc:
        die(PROG, f"{what}: {oserror_text(exc)}")


def cmd_pub(argv: list[str]) -> int:
    from flux.message import Message, compact_json  # flux-core's command is C: compact JSON

    from ._optparse import Option, Parser
    from .util import die, oserror_text, open_handle

    parser = Parser(f"{PROG} pub", "[OPTIONS] topic [payload]", [
        Option("r", "raw", help="Interpret event payload as raw."),
        Option("s", "synchronous", help="Wait for event sequence assignment before exiting."),
        Option("l", "loopback", help="Wait for published event to be received before exiting."),
        Option("p", "private", help="Set privacy flag on published event."),
    ])
    opts, args = parser.parse(argv)
    if not args:
        parser.fatal_usage()
    topic = args[0]
    payload = " ".join(args[1:]) if len(args) > 1 else None
    raw = opts.has("raw")
    data = _payload_bytes(raw, payload)
    flags = FLAG_PRIVATE if opts.has("private") else 0

    h = open_handle(PROG)
    if opts.has("loopback"):
        try:
            h.event_subscribe(topic)
        except OSError as exc:
            die(PROG, f"flux_event_subscribe: {oserror_text(exc)}")
    if opts.has("synchronous"):
        import base64

        request: dict[str, Any] = {"topic": topic, "flags": flags}
        if data is not None:
            request["payload"] = base64.b64encode(data).decode("ascii")
        try:
            resp = h.rpc("event.publish", compact_json(request), nodeid=0).get()
            seq = resp["seq"]
        except OSError as exc:
            die(PROG, f"publish failed: {oserror_text(exc)}")
        except (KeyError, TypeError):
            die(PROG, "publish failed: Protocol error")
        print(f"seq={seq}", flush=True)
    else:
        msg = Message.from_event_encode(topic)
        msg.payload_bytes = data
        if flags:
            msg.flags |= FLAG_PRIVATE
        try:
            h.send(msg)
        except OSError as exc:
            die(PROG, f"publish failed: {oserror_text(exc)}")
    if opts.has("loopback"):
        while True:
            ev = _recv_event(h, "flux_recv error")
            if ev is None:
                die(PROG, "flux_recv error: Connection reset by peer")
            if ev.topic == topic and (ev.payload_bytes or None) == data:
                break
    return 0


def cmd_sub(argv: list[str]) -> int:
    from ._optparse import REQUIRED, Option, Parser, get_int
    from .util import die, oserror_text, open_handle

    parser = Parser(f"{PROG} sub", "[OPTIONS] [topic...]", [
        Option("c", "count", REQUIRED, "N", "Process N events then exit"),
    ])
    opts, topics = parser.parse(argv)
    count = get_int(PROG, opts, "count", 0)
    h = open_handle(PROG)
    try:
        for topic in topics or [""]:
            h.event_subscribe(topic)
    except OSError as exc:
        die(PROG, f"flux_event_subscribe: {oserror_text(exc)}")
    out = sys.stdout
    received = 0
    while True:
        msg = _recv_event(h, "flux_recv")
        if msg is None:
            break
        if not msg.rolemask & ROLE_OWNER:
            continue  # the default message handler allows only the owner role
        out.write(f"{msg.topic}\t{format_payload(msg.payload_bytes)}\n")
        out.flush()
        received += 1
        if count > 0 and received == count:
            break
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        _usage_exit(1)
    if argv[0] in ("-h", "--help"):
        _usage_exit(0)
    sub = argv[0]
    if sub == "pub":
        return cmd_pub(argv[1:])
    if sub == "sub":
        return cmd_sub(argv[1:])
    print(f"{PROG}: unknown subcommand '{sub}'", file=sys.stderr)
    _usage_exit(1)
    return 1
