"""Sans-I/O codec: :class:`~flux.message.Message` <-> RFC 3 frames <-> stream bytes.

Byte-level facts follow flux-core 0.88 where it differs from the RFC text
(see PROTOCOL.md): the stream magic ``0xffee0012`` is written in native byte
order, the stream length excludes the 8-byte header, topics and route ids
carry no NUL, and each frame has a 1-byte size prefix (or ``0xff`` plus a
4-byte big-endian size from 255 bytes up).

Nothing here touches a socket: callers feed bytes in and take bytes out.
Every malformed input raises :class:`ProtocolError` (an ``OSError`` with
``errno.EPROTO``).
"""

# No ``from __future__ import annotations`` here: importing __future__ costs ~0.2 ms of every
# ``flux module load``; annotations naming typing-only names are quoted instead.

import errno

# the C module behind ``struct`` (whose Python wrapper adds an import to every
# short-lived command and module process, for nothing this module needs)
import _struct as struct
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterable, Iterator, Optional, Sequence

from flux.constants import (
    FLUX_MSGFLAG_PAYLOAD,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_TOPIC,
)
from flux.message import Message

__all__ = [
    "ProtocolError",
    "STREAM_MAGIC",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "encode",
    "decode",
    "encode_stream",
    "encode_stream_many",
    "request_template",
    "fill_template",
    "to_frames",
    "from_frames",
    "StreamDecoder",
    "decode_range",
    "peek",
    "peek_head",
    "message_from_head",
    "relay_stream",
    "route_frames",
    "push_stream",
]

STREAM_MAGIC = 0xFFEE0012
_MAGIC_BYTES = struct.pack("=I", STREAM_MAGIC)
PROTO_MAGIC = 0x8E
PROTO_VERSION = 0x01
PROTO_SIZE = 20
DEFAULT_MAX_MESSAGE_SIZE = 1 << 30  # the content store's default blob limit

_PROTO = struct.Struct(">BBBBIIII")
_proto_pack = _PROTO.pack
_proto_unpack_from = _PROTO.unpack_from
_VALID_TYPES = frozenset((1, 2, 4, 8))
_SIZE_BYTE = [bytes((i,)) for i in range(255)]
_ROUTE = FLUX_MSGFLAG_ROUTE
_TOPIC = FLUX_MSGFLAG_TOPIC
_PAYLOAD = FLUX_MSGFLAG_PAYLOAD
_from_bytes = int.from_bytes
_new_message = Message.__new__


class ProtocolError(OSError):
    """Malformed Flux bytes.  Always carries ``errno.EPROTO``."""

    def __init__(self, detail: "str") -> "None":
        super().__init__(errno.EPROTO, f"Protocol error: {detail}")
        self.detail = detail


# -- encoding -------------------------------------------------------------------


_PROTO_FRAME = struct.Struct(">BBBBBIIII")  # size byte 20, then the PROTO frame
_proto_frame_pack = _PROTO_FRAME.pack
_HEADER = struct.Struct(">II")
_header_pack = _HEADER.pack
_header_unpack_from = _HEADER.unpack_from
_MAGIC_BE = int.from_bytes(_MAGIC_BYTES, "big")  # native magic, read as big-endian


# The size prefix of each frame (route ids, topic, payload) is written out in
# place here and in _decode_range, on purpose: with one shared helper per
# frame, a typical request's encode_stream + StreamDecoder.feed took 6.1 us
# instead of 5.3 us (15% more; python 3.11, this machine).


def _encode_parts(msg: "Message") -> "tuple[list[bytes], int]":
    """Size-prefixed frames in wire order after a placeholder, and their size."""
    flags = msg.flags
    parts: "list" = [None]
    append = parts.append
    size = PROTO_SIZE + 1
    if flags & _ROUTE:
        for route in reversed(msg.routes):
            rb = route.encode()
            n = len(rb)
            if n < 255:
                if not n:
                    raise ProtocolError("empty route id")
                append(_SIZE_BYTE[n])
                size += n + 1
            else:
                append(b"\xff" + n.to_bytes(4, "big"))
                size += n + 5
            append(rb)
        append(b"\x00")
        size += 1
    topic = msg._topic_b
    if topic is not None:
        n = len(topic)
        if n < 255:
            append(_SIZE_BYTE[n])
            size += n + 1
        else:
            append(b"\xff" + n.to_bytes(4, "big"))
            size += n + 5
        append(topic)
        flags |= _TOPIC
    else:
        flags &= ~_TOPIC
    payload = msg._payload
    if payload:
        n = len(payload)
        if n < 255:
            append(_SIZE_BYTE[n])
            size += n + 1
        else:
            append(b"\xff" + n.to_bytes(4, "big"))
            size += n + 5
        append(payload)
        flags |= _PAYLOAD
    else:
        flags &= ~_PAYLOAD
    try:
        append(
            _proto_frame_pack(
                PROTO_SIZE,
                PROTO_MAGIC,
                PROTO_VERSION,
                msg.type,
                flags,
                msg.userid,
                msg.rolemask,
                msg.aux1,
                msg.aux2,
            )
        )
    except struct.error as exc:  # type: ignore[attr-defined]  # (absent from _struct stubs)
        raise ProtocolError(f"field out of range: {exc}") from None
    return parts, size


def encode(msg: "Message") -> "bytes":
    """Encode ``msg`` as size-prefixed frames (``flux_msg_encode``)."""
    parts, _ = _encode_parts(msg)
    parts[0] = b""
    return b"".join(parts)


def encode_stream(msg: "Message") -> "bytes":
    """Encode ``msg`` for a ``local://`` or ``fd://`` stream: header + frames."""
    parts, size = _encode_parts(msg)
    parts[0] = _header_pack(_MAGIC_BE, size)
    return b"".join(parts)


def encode_stream_many(msg: "Message", payloads: "Iterable[Optional[bytes]]") -> "list[bytes]":
    """What :func:`encode_stream` writes for ``msg`` with each of ``payloads`` in turn
    (``msg``'s own payload ignored): its routes, topic and PROTO frame are encoded once,
    for a stream of responses that differ only in payload (job output, one per line)."""
    saved = msg._payload
    msg._payload = None
    try:
        parts, size = _encode_parts(msg)
    finally:
        msg._payload = saved
    proto = parts.pop()
    parts[0] = b""
    prefix = b"".join(parts)
    bare = b"".join((_header_pack(_MAGIC_BE, size), prefix, proto))
    # the same PROTO frame with the PAYLOAD flag (its byte 4: after size, magic,
    # version and type)
    with_payload = proto[:4] + bytes((proto[4] | _PAYLOAD,)) + proto[5:]
    out: "list[bytes]" = []
    append = out.append
    for payload in payloads:
        if not payload:
            append(bare)
            continue
        n = len(payload)
        if n < 255:
            append(b"".join((_header_pack(_MAGIC_BE, size + n + 1), prefix, _SIZE_BYTE[n],
                             payload, with_payload)))
        else:
            append(b"".join((_header_pack(_MAGIC_BE, size + n + 5), prefix,
                             b"\xff" + n.to_bytes(4, "big"), payload, with_payload)))
    return out


_AUX_PAIR = struct.Struct(">II")
_aux_pack = _AUX_PAIR.pack
_PROTO_HEAD = struct.Struct(">BBBBBII")  # size byte, then the PROTO frame up to aux1
_proto_head_pack = _PROTO_HEAD.pack


def request_template(
    mtype: "int",
    flags: "int",
    userid: "int",
    rolemask: "int",
    topic_b: "bytes",
    with_payload: "bool",
) -> "tuple[bytes, bytes]":
    """The constant parts of a message that :func:`fill_template` completes: a client
    sends many requests that differ only in payload, nodeid and matchtag.

    Returns (the frames before the payload: a route delimiter when ``flags`` has ROUTE,
    then the topic frame; the PROTO frame up to aux1).  TOPIC is set, PAYLOAD follows
    ``with_payload``: the template serves only payloads that match it.
    """
    flags = (flags | _TOPIC) & ~_PAYLOAD
    if with_payload:
        flags |= _PAYLOAD
    n = len(topic_b)
    size = _SIZE_BYTE[n] if n < 255 else b"\xff" + n.to_bytes(4, "big")
    try:
        head = _proto_head_pack(PROTO_SIZE, PROTO_MAGIC, PROTO_VERSION, mtype, flags, userid,
                                rolemask)
    except struct.error as exc:  # type: ignore[attr-defined]  # (absent from _struct stubs)
        raise ProtocolError(f"field out of range: {exc}") from None
    return (b"\x00" if flags & _ROUTE else b"") + size + topic_b, head


def fill_template(template: "tuple[bytes, bytes]", payload: "Optional[bytes]", aux1: "int",
                  aux2: "int") -> "bytes":
    """The stream bytes of ``template`` (:func:`request_template`) with this payload (None
    exactly when the template was made without one), aux1 and aux2: what
    :func:`encode_stream` writes for the same Message (tests/unit/test_codec_template.py)."""
    prefix, head = template
    try:
        aux = _aux_pack(aux1, aux2)
    except struct.error as exc:  # type: ignore[attr-defined]  # (absent from _struct stubs)
        raise ProtocolError(f"field out of range: {exc}") from None
    if payload is None:
        return b"".join((_header_pack(_MAGIC_BE, len(prefix) + PROTO_SIZE + 1), prefix, head, aux))
    n = len(payload)
    if n < 255:
        return b"".join((_header_pack(_MAGIC_BE, len(prefix) + n + PROTO_SIZE + 2), prefix,
                         _SIZE_BYTE[n], payload, head, aux))
    return b"".join((_header_pack(_MAGIC_BE, len(prefix) + n + PROTO_SIZE + 6), prefix,
                     b"\xff" + n.to_bytes(4, "big"), payload, head, aux))


def to_frames(msg: "Message") -> "list[bytes]":
    """The RFC 3 frames of ``msg`` without size prefixes (one ZeroMQ part each)."""
    frames: "list[bytes]" = []
    flags = msg.flags
    if flags & _ROUTE:
        frames.extend(r.encode() for r in reversed(msg.routes))
        frames.append(b"")
    if msg._topic_b is not None:
        frames.append(msg._topic_b)
    if msg._payload:
        frames.append(msg._payload)
    parts, _ = _encode_parts(msg)
    frames.append(parts[-1][1:])
    return frames


# -- decoding -------------------------------------------------------------------


def _build(
    proto: "tuple[int, ...]",
    routes: "list[str]",
    topic_b: "Optional[bytes]",
    payload: "Optional[bytes]",
) -> "Message":
    magic, version, mtype, flags, userid, rolemask, aux1, aux2 = proto
    if magic != PROTO_MAGIC:
        raise ProtocolError(f"bad PROTO magic {magic:#x}")
    if version != PROTO_VERSION:
        raise ProtocolError(f"bad PROTO version {version}")
    if mtype not in _VALID_TYPES:
        raise ProtocolError(f"unknown message type {mtype}")
    msg = _new_message(Message)
    msg.type = mtype
    msg.flags = flags
    msg.userid = userid
    msg.rolemask = rolemask
    msg.aux1 = aux1
    msg.aux2 = aux2
    msg.routes = routes
    if topic_b is not None:
        try:
            msg._topic = topic_b.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("topic is not UTF-8") from None
    else:
        msg._topic = None
    msg._topic_b = topic_b
    msg._payload = payload
    return msg


def decode(body: "bytes") -> "Message":
    """Decode size-prefixed frames (``flux_msg_decode``) into a Message."""
    if type(body) is not bytes:
        body = bytes(body)  # bytearray/memoryview: slices must be bytes
    return _decode_range(body, 0, len(body))


def _decode_range(buf: "bytes", pos: "int", stop_at: "int") -> "Message":
    """Decode the message occupying ``buf[pos:stop_at]`` without copying it."""
    start = pos
    end = stop_at - PROTO_SIZE
    limit = end - 1  # where the PROTO frame's size byte sits
    if limit < pos or buf[limit] != PROTO_SIZE:
        return _decode_slow(buf[pos:stop_at])
    magic, version, mtype, flags, userid, rolemask, aux1, aux2 = _proto_unpack_from(
        buf, end
    )
    routes: "list[str]" = []
    topic_b = None
    payload = None
    try:
        if flags & _ROUTE:
            while True:
                n = buf[pos]
                pos += 1
                if not n:
                    break
                if n == 255:
                    n = _from_bytes(buf[pos : pos + 4], "big")
                    pos += 4
                stop = pos + n
                if stop > limit:
                    raise ProtocolError("route frame overruns message")
                routes.append(buf[pos:stop].decode())
                pos = stop
            if len(routes) > 1:
                routes.reverse()  # wire frame 0 is the most recent hop
        if flags & _TOPIC:
            n = buf[pos]
            pos += 1
            if n == 255:
                n = _from_bytes(buf[pos : pos + 4], "big")
                pos += 4
            stop = pos + n
            if stop > limit:
                raise ProtocolError("topic frame overruns message")
            topic_b = buf[pos:stop]
            pos = stop
        if flags & _PAYLOAD:
            n = buf[pos]
            pos += 1
            if n == 255:
                n = _from_bytes(buf[pos : pos + 4], "big")
                pos += 4
            stop = pos + n
            if stop > limit:
                raise ProtocolError("payload frame overruns message")
            payload = buf[pos:stop] or None
            pos = stop
        if pos != limit and not _frames_tile(buf, pos, limit):
            raise ProtocolError("frames do not end at the PROTO frame")
        if magic != PROTO_MAGIC or version != PROTO_VERSION or mtype not in _VALID_TYPES:
            raise ProtocolError("bad PROTO frame")
        topic = topic_b.decode() if topic_b is not None else None
    except (ProtocolError, IndexError, UnicodeDecodeError):
        # The fast path assumed a short-form PROTO frame at the end; let the
        # frame-by-frame walk decide and produce the precise error.
        return _decode_slow(buf[start:stop_at])
    msg = _new_message(Message)
    msg.type = mtype
    msg.flags = flags
    msg.userid = userid
    msg.rolemask = rolemask
    msg.aux1 = aux1
    msg.aux2 = aux2
    msg.routes = routes
    msg._topic = topic
    msg._topic_b = topic_b
    msg._payload = payload
    return msg


decode_range = _decode_range


# -- relaying without decoding ------------------------------------------------------------
#
# A message that only passes through the broker needs its PROTO fields and its
# route stack read, route ids popped or pushed, maybe its credentials set --
# and nothing else.  These functions do that on the bytes (a stream message:
# ``buf[start:stop]`` is its body, after the 8-byte header), so the topic and
# payload frames are copied once as they are and never parsed or rebuilt.
# For a message as encode_stream writes it, relay_stream(...) returns exactly
# the bytes decode + the same edits + encode_stream would (tests/unit/test_codec_relay.py).

_PROTO_CREDS = struct.Struct(">II")
_creds_pack = _PROTO_CREDS.pack


def peek(buf: "bytes", start: "int", stop: "int") -> "Optional[tuple[int, ...]]":
    """``(type, flags, userid, rolemask, aux1, aux2)`` of the body ``buf[start:stop]``.

    None where the PROTO frame is not the short-form 20-byte frame at the end,
    or its magic, version or type are wrong: let :func:`decode_range` judge it.
    """
    end = stop - PROTO_SIZE
    if end - 1 < start or buf[end - 1] != PROTO_SIZE:
        return None
    magic, version, mtype, flags, userid, rolemask, aux1, aux2 = _proto_unpack_from(buf, end)
    if magic != PROTO_MAGIC or version != PROTO_VERSION or mtype not in _VALID_TYPES:
        return None
    return mtype, flags, userid, rolemask, aux1, aux2


def peek_head(buf: "bytes", start: "int", stop: "int") -> "Optional[tuple]":
    """:func:`peek`, the route stack (Message order: oldest first) and the topic (None
    without the TOPIC flag) in one walk:
    ``(type, flags, userid, rolemask, aux1, aux2, routes, topic, rend, pos)``, None where
    :func:`peek` is; ``rend`` is where the route frames end (after their empty delimiter
    frame: ``rend - 1`` is the delimiter, for :func:`push_stream` to pop them all), ``pos``
    where the frames after the topic start (for :func:`message_from_head`).  What a link
    relaying a batch of messages reads of each one."""
    end = stop - PROTO_SIZE
    limit = end - 1
    if limit < start or buf[limit] != PROTO_SIZE:
        return None
    magic, version, mtype, flags, userid, rolemask, aux1, aux2 = _proto_unpack_from(buf, end)
    if magic != PROTO_MAGIC or version != PROTO_VERSION or mtype not in _VALID_TYPES:
        return None
    routes = []
    pos = start
    try:
        if flags & _ROUTE:
            while True:
                if pos >= limit:
                    raise ProtocolError("route frames overrun message")
                n = buf[pos]
                pos += 1
                if not n:
                    break
                if n == 255:
                    n = _from_bytes(buf[pos : pos + 4], "big")
                    pos += 4
                stop_at = pos + n
                if stop_at > limit:
                    raise ProtocolError("route frame overruns message")
                routes.append(buf[pos:stop_at].decode())
                pos = stop_at
            if len(routes) > 1:
                routes.reverse()
        rend = pos
        topic = None
        if flags & _TOPIC:
            if pos >= limit:
                raise ProtocolError("topic frame missing")
            n = buf[pos]
            pos += 1
            if n == 255:
                n = _from_bytes(buf[pos : pos + 4], "big")
                pos += 4
            if pos + n > limit:
                raise ProtocolError("topic frame overruns message")
            topic = buf[pos : pos + n].decode()
            pos += n
    except UnicodeDecodeError:
        raise ProtocolError("route id or topic is not UTF-8") from None
    return mtype, flags, userid, rolemask, aux1, aux2, routes, topic, rend, pos


def message_from_head(buf: "bytes", start: "int", stop: "int", head: "tuple") -> "Message":
    """``decode_range(buf, start, stop)`` for a body :func:`peek_head` has read (``head``):
    only its payload is left to read.  The Message takes ``head``'s route list."""
    mtype, flags, userid, rolemask, aux1, aux2, routes, topic, _, pos = head
    limit = stop - PROTO_SIZE - 1
    payload = None
    if flags & _PAYLOAD and pos < limit:
        n = buf[pos]
        pos += 1
        if n == 255:
            n = _from_bytes(buf[pos : pos + 4], "big")
            pos += 4
        payload = buf[pos : pos + n] or None
        pos += n
    if pos != limit:  # a frame missing, or more than the flags say: as decode_range judges
        return _decode_range(buf, start, stop)
    msg = _new_message(Message)
    msg.type = mtype
    msg.flags = flags
    msg.userid = userid
    msg.rolemask = rolemask
    msg.aux1 = aux1
    msg.aux2 = aux2
    msg.routes = routes
    msg._topic = topic
    msg._topic_b = topic.encode() if topic is not None else None
    msg._payload = payload
    return msg


def route_frames(hops: "Sequence[str]") -> "bytes":
    """The route frames :func:`relay_stream` puts in front of a message to push ``hops``
    (in order: the last one newest), encoded once for :func:`push_stream`."""
    head = b""
    for hop in hops:
        rb = hop.encode()
        n = len(rb)
        if not n:
            raise ProtocolError("empty route id")
        head = (_SIZE_BYTE[n] if n < 255 else b"\xff" + n.to_bytes(4, "big")) + rb + head
    return head


def push_stream(
    buf: "bytes",
    start: "int",
    stop: "int",
    frames: "bytes",
    userid: "Optional[int]" = None,
    rolemask: "Optional[int]" = None,
) -> "bytes":
    """``relay_stream(buf, start, stop, 0, hops, userid, rolemask)`` with the hops already
    encoded (``frames = route_frames(hops)``): a link pushes the same hops on every request
    it relays.  The body must have passed :func:`peek`.

    With nothing to push (``frames`` empty) on a message with the ROUTE flag, ``start``
    may also be where one of its route frames or its delimiter starts: the message is
    then written without the route ids before it (popped, without walking them again).
    """
    end = stop - PROTO_SIZE
    flags = buf[end + 3]
    if not flags & _ROUTE and frames:
        frames += b"\x00"
        flags |= _ROUTE
    elif userid is None and rolemask is None:
        return b"".join((_header_pack(_MAGIC_BE, len(frames) + stop - start), frames,
                         buf[start:stop]))
    if userid is None or rolemask is None:
        old_userid, old_rolemask = _PROTO_CREDS.unpack_from(buf, end + 4)
        if userid is None:
            userid = old_userid
        if rolemask is None:
            rolemask = old_rolemask
    try:
        proto = bytes((flags,)) + _creds_pack(userid, rolemask)
    except struct.error as exc:  # type: ignore[attr-defined]  # (absent from _struct stubs)
        raise ProtocolError(f"field out of range: {exc}") from None
    return b"".join((_header_pack(_MAGIC_BE, len(frames) + stop - start), frames,
                     buf[start : end + 3], proto, buf[end + 12 : stop]))


def relay_stream(
    buf: "bytes",
    start: "int",
    stop: "int",
    pop: "int" = 0,
    push: "Sequence[str]" = (),
    userid: "Optional[int]" = None,
    rolemask: "Optional[int]" = None,
) -> "bytes":
    """The stream bytes of the body ``buf[start:stop]`` with its ``pop`` newest route ids
    removed, then ``push`` pushed (in order: the last one ends up newest, the ROUTE flag
    set), and userid/rolemask replaced where given.  Topic and payload are copied as is.

    The body must have passed :func:`peek`; ``pop`` more routes than it has, or a pop
    from a message without the ROUTE flag, raises ProtocolError.
    """
    end = stop - PROTO_SIZE  # the PROTO frame's first byte (its size byte is at end - 1)
    flags = buf[end + 3]
    pos = start
    if pop:
        if not flags & _ROUTE:
            raise ProtocolError("cannot pop a route from a message without routes")
        limit = end - 1
        for _ in range(pop):
            n = buf[pos] if pos < limit else 0
            if not n:
                raise ProtocolError(f"cannot pop {pop} routes from this stack")
            if n == 255:
                n = _from_bytes(buf[pos + 1 : pos + 5], "big") + 4
            pos += n + 1
            if pos > limit:
                raise ProtocolError("route frame overruns message")
    head = b""
    if push:
        for hop in push:
            rb = hop.encode()
            n = len(rb)
            if not n:
                raise ProtocolError("empty route id")
            head = (_SIZE_BYTE[n] if n < 255 else b"\xff" + n.to_bytes(4, "big")) + rb + head
        if not flags & _ROUTE:
            head += b"\x00"
            flags |= _ROUTE
    size = len(head) + stop - pos
    if userid is None and rolemask is None and flags == buf[end + 3]:
        return b"".join((_header_pack(_MAGIC_BE, size), head, buf[pos:stop]))
    if userid is None or rolemask is None:
        old_userid, old_rolemask = _PROTO_CREDS.unpack_from(buf, end + 4)
        if userid is None:
            userid = old_userid
        if rolemask is None:
            rolemask = old_rolemask
    try:
        proto = bytes((flags,)) + _creds_pack(userid, rolemask)
    except struct.error as exc:  # type: ignore[attr-defined]  # (absent from _struct stubs)
        raise ProtocolError(f"field out of range: {exc}") from None
    return b"".join((_header_pack(_MAGIC_BE, size), head, buf[pos : end + 3], proto,
                     buf[end + 12 : stop]))


def _frames_tile(body: "bytes", pos: "int", limit: "int") -> "bool":
    try:
        while pos < limit:
            n = body[pos]
            pos += 1
            if n == 255:
                n = _from_bytes(body[pos : pos + 4], "big")
                pos += 4
            pos += n
    except IndexError:
        return False
    return pos == limit


def _split_frames(body: "bytes") -> "list[bytes]":
    frames = []
    pos = 0
    size = len(body)
    while pos < size:
        n = body[pos]
        pos += 1
        if n == 255:
            if pos + 4 > size:
                raise ProtocolError("truncated frame size")
            n = _from_bytes(body[pos : pos + 4], "big")
            pos += 4
        if pos + n > size:
            raise ProtocolError("frame overruns message")
        frames.append(body[pos : pos + n])
        pos += n
    return frames


def _decode_slow(body: "bytes") -> "Message":
    return from_frames(_split_frames(body))


def from_frames(frames: "Iterable[bytes]") -> "Message":
    """Build a Message from RFC 3 frames (no size prefixes), PROTO last."""
    frames = [bytes(f) for f in frames]
    if not frames:
        raise ProtocolError("no frames")
    proto_b = frames.pop()
    if len(proto_b) != PROTO_SIZE:
        raise ProtocolError(f"PROTO frame is {len(proto_b)} bytes, not {PROTO_SIZE}")
    proto = _PROTO.unpack(proto_b)
    flags = proto[3]
    it: "Iterator[bytes]" = iter(frames)
    routes: "list[str]" = []
    try:
        if flags & _ROUTE:
            while True:
                frame = next(it)
                if not frame:
                    break
                routes.append(frame.decode("utf-8"))
            routes.reverse()  # wire frame 0 is the most recent hop
        topic_b = next(it) if flags & _TOPIC else None
        payload = (next(it) or None) if flags & _PAYLOAD else None
    except StopIteration:
        raise ProtocolError("frame missing for flags") from None
    except UnicodeDecodeError:
        raise ProtocolError("route id is not UTF-8") from None
    return _build(proto, routes, topic_b, payload)


class StreamDecoder:
    """Incremental decoder for the stream framing of ``local://`` and ``fd://``.

    Feed it bytes in chunks of any size; it returns whole messages.  After a
    :class:`ProtocolError` the stream is unusable (``broken`` is True) and
    every further call raises again: a framing error cannot be resynchronized.
    """

    __slots__ = ("_buf", "_need", "max_size", "broken")

    def __init__(self, max_size: "int" = DEFAULT_MAX_MESSAGE_SIZE) -> "None":
        self._buf = bytearray()
        # Bytes ``_buf`` must hold before another message (or its header) can
        # complete: a partial message is only appended to, never re-copied,
        # so a large message arriving in many chunks costs linear time.
        self._need = 0
        self.max_size = max_size
        self.broken: "Optional[ProtocolError]" = None

    @property
    def buffered(self) -> "int":
        """Bytes received but not yet part of a whole message."""
        return len(self._buf)

    def feed(self, data: "bytes") -> "list[Message]":
        """Add ``data``; return every message it completes (maybe none)."""
        # The same walk as feed_ranges, with each message decoded in place: a client
        # reads every reply through here, and the list of ranges would cost it ~0.3 us.
        if self.broken is not None:
            raise self.broken
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return []
            view = bytes(buf)
        else:
            view = data if type(data) is bytes else bytes(data)
            size = len(view)
            if size > 8:  # the usual read: exactly one whole message
                magic, n = _header_unpack_from(view, 0)
                if n + 8 == size and magic == _MAGIC_BE and PROTO_SIZE < n <= self.max_size:
                    try:
                        return [_decode_range(view, 8, size)]
                    except ProtocolError as exc:
                        self.broken = exc
                        raise
        out: "list[Message]" = []
        pos = 0
        size = len(view)
        need = 8
        try:
            while size - pos >= 8:
                magic, n = _header_unpack_from(view, pos)
                if magic != _MAGIC_BE or n > self.max_size or n <= PROTO_SIZE:
                    self._bad_header(view, pos, n)
                stop = pos + 8 + n
                if stop > size:
                    need = 8 + n
                    break
                out.append(_decode_range(view, pos + 8, stop))
                pos = stop
        except ProtocolError as exc:
            self.broken = exc
            self._buf = bytearray()
            self._need = 0
            raise
        if pos == size:
            if buf:
                self._buf = bytearray()
        else:
            self._buf = bytearray(view[pos:])
            self._need = need
        return out

    def _bad_header(self, view: "bytes", pos: "int", n: "int") -> "None":
        """Raise the ProtocolError a stream header that failed the checks deserves."""
        if view[pos : pos + 4] != _MAGIC_BYTES:
            raise ProtocolError(f"bad stream magic {view[pos:pos + 4].hex()}")
        if n > self.max_size:
            raise ProtocolError(f"message of {n} bytes exceeds the limit of {self.max_size}")
        raise ProtocolError(f"message length {n} is too short")

    def feed_ranges(self, data: "bytes") -> "tuple[bytes, list[tuple[int, int]]]":
        """Add ``data``; return a buffer and the ``(start, stop)`` of the body of every
        message it completes, in order, for :func:`decode_range` or the relay functions.
        Only the stream framing is checked here."""
        if self.broken is not None:
            raise self.broken
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return b"", []
            view = bytes(buf)
        else:
            view = data if type(data) is bytes else bytes(data)
        out: "list[tuple[int, int]]" = []
        pos = 0
        size = len(view)
        need = 8
        try:
            while size - pos >= 8:
                magic, n = _header_unpack_from(view, pos)
                if magic != _MAGIC_BE or n > self.max_size or n <= PROTO_SIZE:
                    self._bad_header(view, pos, n)
                stop = pos + 8 + n
                if stop > size:
                    need = 8 + n
                    break
                out.append((pos + 8, stop))
                pos = stop
        except ProtocolError as exc:
            self.broken = exc
            self._buf = bytearray()
            self._need = 0
            raise
        if pos == size:
            if buf:
                self._buf = bytearray()
        else:
            self._buf = bytearray(view[pos:])
            self._need = need
        return view, out

    def check_eof(self) -> "None":
        """At end of stream: raise if a partial message was left behind."""
        if self._buf:
            raise ProtocolError(f"stream ended inside a message ({len(self._buf)} bytes)")
