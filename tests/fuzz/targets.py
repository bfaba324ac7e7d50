"""Fuzz targets: each takes arbitrary bytes and checks what must hold for any input.

A target returns normally when the input was handled as the code promises: a
result, or the error the code documents for bad input (``ProtocolError`` from
the codec, ``Refused`` from job-ingest, ``OSError(EINVAL)`` from parsers...).
Anything else (another exception, a broken round trip) is a finding and
propagates.  The targets are shared by the fast hypothesis tests
(``test_fuzz.py``) and the long coverage-guided run (``python -m tests.fuzz``).

Each target reads the input through :class:`Input`, which carves typed values
out of the bytes (lengths, choices, chunk sizes), so one byte string drives a
whole scenario deterministically, as libFuzzer's FuzzedDataProvider does.
"""

from __future__ import annotations

import errno
import json
from typing import Any, Callable

__all__ = ["TARGETS", "Input"]


class Input:
    """Typed values carved from the front of a byte string (zeros once it runs out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out

    def text(self) -> str:
        return self.rest().decode("utf-8", "surrogateescape")


def _einval_ok(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.EINVAL, errno.EPROTO,
                                                       errno.EOVERFLOW, errno.ERANGE)


# -- the wire --------------------------------------------------------------------------


def stream_decoder(data: bytes) -> None:
    """The ``local://`` stream decoder, fed in chunks the input chooses: whole messages
    or ProtocolError (EPROTO), after which the decoder stays broken; what it decodes
    encodes again to bytes that decode to the same encoding."""
    from flux.codec import ProtocolError, StreamDecoder, decode, encode

    inp = Input(data)
    limit = 64 + inp.byte() * 64  # a small limit, so oversized lengths are met too
    sizes = [1 + inp.byte() % 64 for _ in range(inp.byte() % 8)]
    body = inp.rest()
    dec = StreamDecoder(max_size=limit)
    pos = 0
    messages = []
    try:
        for size in sizes + [len(body)]:
            messages += dec.feed(body[pos:pos + size])
            pos += size
        dec.check_eof()
    except ProtocolError as exc:
        assert exc.errno == errno.EPROTO
        if dec.broken is not None:  # once broken, always broken
            try:
                dec.feed(b"")
            except ProtocolError:
                pass
            else:
                raise AssertionError("a broken decoder accepted more input") from None
    for msg in messages:
        once = encode(msg)
        assert encode(decode(once)) == once


def frame_decoder(data: bytes) -> None:
    """Messages as the overlay receives them (one ZeroMQ part per frame): a message or
    ProtocolError; a decoded message gives the same frames back."""
    from flux.codec import ProtocolError, from_frames, to_frames

    inp = Input(data)
    frames = []
    while inp.pos < len(data) and len(frames) < 12:
        frames.append(inp.take(inp.byte() % 40))
    try:
        msg = from_frames(frames)
    except ProtocolError as exc:
        assert exc.errno == errno.EPROTO
        return
    again = to_frames(msg)
    assert to_frames(from_frames(again)) == again


def message_decode(data: bytes) -> None:
    """One whole encoded message body: a message or ProtocolError; its payload is
    readable as the API reads it (bytes, text and JSON access fail cleanly)."""
    from flux.codec import ProtocolError, decode

    try:
        msg = decode(data)
    except ProtocolError as exc:
        assert exc.errno == errno.EPROTO
        return
    _ = msg.topic, msg.type, msg.flags, msg.payload_bytes
    try:
        msg.payload_json()
    except (ValueError, OSError, UnicodeDecodeError):
        pass


# -- text that users and peers hand us -------------------------------------------------


def toml_config(data: bytes) -> None:
    """A configuration file: a table or ConfigError, never another exception."""
    import os
    import tempfile

    from flux.broker.config import ConfigError, check, load

    fd, path = tempfile.mkstemp(suffix=".toml")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            check(load(path))
        except ConfigError:
            pass
    finally:
        os.unlink(path)


def jobspec_text(data: bytes) -> None:
    """Jobspec text (JSON or YAML): a valid version-1 jobspec or JobspecError."""
    from flux.services.job_ingest.jobspec import JobspecError, validate

    try:
        validate(data)
    except JobspecError:
        pass


def _signed(payload: bytes, userid: int) -> str:
    """A ``none``-signed J of ``payload`` (what ``flux submit`` sends)."""
    import base64

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = json.dumps({"version": 1, "mechanism": "none", "userid": userid}).encode()
    return f"{b64(header)}.{b64(payload)}."


def job_submission(data: bytes) -> None:
    """A ``job-ingest.submit`` request body, and a well-signed J around arbitrary bytes:
    a submission or Refused with an errno, never another exception."""
    import os

    from flux.services.job_ingest.ingest import Ingest, Refused

    inp = Input(data)
    mode = inp.byte() % 3
    uid = os.getuid()
    ingest = Ingest(rank=0, owner=uid)
    if mode == 0:
        try:
            obj: Any = json.loads(inp.rest().decode("utf-8", "replace"))
        except ValueError:
            return
    else:
        obj = {"J": _signed(inp.rest(), uid), "urgency": 16, "flags": 0}
    try:
        ingest.decode(None, obj, uid, owner=(mode != 2))
    except Refused as exc:
        assert exc.errnum in (errno.EINVAL, errno.EPROTO, errno.EPERM), exc.errnum


def kvs_keys(data: bytes) -> None:
    """KVS keys (what ``flux kvs`` and ``flux.kvs`` take): normalized or EINVAL."""
    from flux.services.kvs import keypath

    key = Input(data).text()
    try:
        norm, _ = keypath.normalize_dir(key)
        keypath.split(norm)
        keypath.split_parent(norm)
    except OSError as exc:
        assert _einval_ok(exc), exc


def idsets_hostlists(data: bytes) -> None:
    """RFC 22 idsets and RFC 29 hostlists from text: decoded (an idset re-encoded to text
    that decodes to the same set; a hostlist to text that decodes) or OSError(EINVAL)."""
    from flux import hostlist, idset

    inp = Input(data)
    which = inp.byte() % 2
    text = inp.take(200).decode("utf-8", "replace")
    try:
        if which:
            ids = idset.decode(text)
            assert idset.decode(str(ids)) == ids
        else:
            # libhostlist's text of a list is not always read back as the same list (one
            # bracket per host name: "n[0-1]e[0-1]" prints as "n0e[0-1],n1e[0-1]", which
            # reads as four hosts); flux-core's does the same, so only decoding is asked
            hosts = hostlist.decode(text)
            if len(hosts) <= 100_000:  # multi-bracket forms print one entry per host
                hostlist.decode(str(hosts))
    except (OSError, ValueError, TypeError) as exc:
        if isinstance(exc, OSError):
            assert _einval_ok(exc), exc


def jobids_and_durations(data: bytes) -> None:
    """Job ids in any RFC 19 encoding and Flux Standard Durations: a value or ValueError
    (or EINVAL); a job id prints in every encoding and reads back."""
    from flux.job.JobID import JobID
    from flux.util import parse_fsd

    inp = Input(data)
    text = inp.take(64).decode("utf-8", "replace")
    try:
        jobid = JobID(text)
    except (ValueError, OSError, TypeError, OverflowError):
        pass
    else:
        for form in (jobid.f58, jobid.hex, jobid.dothex, jobid.kvs, jobid.words):
            assert JobID(form) == jobid
    try:
        parse_fsd(inp.text()[:64])
    except (ValueError, OSError, TypeError, OverflowError):
        pass


def eventlogs(data: bytes) -> None:
    """Eventlog text (RFC 18, what job-info and `flux job eventlog` read): entries or
    ValueError/EINVAL."""
    from flux import eventlog

    text = Input(data).text()
    for line in text.splitlines():
        try:
            entry = eventlog.loads(line)
        except (ValueError, OSError, RecursionError):
            continue
        eventlog.entry_validate(entry)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "stream_decoder": stream_decoder,
    "frame_decoder": frame_decoder,
    "message_decode": message_decode,
    "toml_config": toml_config,
    "jobspec_text": jobspec_text,
    "job_submission": job_submission,
    "kvs_keys": kvs_keys,
    "idsets_hostlists": idsets_hostlists,
    "jobids_and_durations": jobids_and_durations,
    "eventlogs": eventlogs,
}


def seeds(name: str) -> list[bytes]:
    """Valid inputs of target ``name``: what mutations start from (the fuzzers find the
    deep paths from valid input much sooner than from noise)."""
    import struct

    from flux.codec import encode, encode_stream, to_frames
    from flux.message import Message

    def messages() -> list[Message]:
        out = []
        for mtype, topic, payload in ((1, "attr.get", {"name": "rank"}),
                                      (2, "kvs.lookup", {"val": "aGk="}),
                                      (4, "heartbeat.pulse", None), (8, "", None)):
            msg = Message(mtype)
            if topic:
                msg.topic = topic
            if payload is not None:
                msg.payload_str = json.dumps(payload)
            out.append(msg)
        return out

    def carve(*parts: bytes) -> bytes:  # the bytes Input.byte/take read back as parts
        return b"".join(bytes([len(p) % 256]) + p for p in parts)

    if name == "stream_decoder":
        return [bytes([200, 3, 5, 9, 40]) + b"".join(encode_stream(m) for m in messages())]
    if name == "frame_decoder":
        return [carve(*to_frames(m)) for m in messages()]
    if name == "message_decode":
        return [encode(m) for m in messages()]
    if name == "toml_config":
        return [b"[access]\nallow-guest-user = true\n", b"[bootstrap]\ncurve_cert = 'x'\n"
                b"hosts = [{host = 'a[0-3]', bind = 'tcp://*:8050'}]\n",
                b"[queues.debug]\nrequires = ['debug']\n[policy.limits]\nduration = '1h'\n"]
    if name in ("jobspec_text", "job_submission"):
        from flux.job import JobspecV1

        spec = JobspecV1.from_command(["hostname"], num_tasks=4, num_nodes=2,
                                      cores_per_task=2).dumps().encode()
        yaml = b"version: 1\nresources:\n  - type: slot\n    count: 1\n    label: task\n" \
               b"    with:\n      - type: core\n        count: 1\ntasks:\n  - command: [true]\n" \
               b"    slot: task\n    count: {per_slot: 1}\nattributes: {system: {}}\n"
        if name == "jobspec_text":
            return [spec, yaml]
        return [b"\x01" + spec, b"\x00" + json.dumps({"J": "x", "urgency": 16,
                                                       "flags": 0}).encode()]
    if name == "kvs_keys":
        return [b"a.b.c", b".", b"job.0000.0001.eventlog", b"a..b."]
    if name == "idsets_hostlists":
        return [b"\x01[0-3,7]", b"\x0012,14-15", b"\x00node[0-15],login[1,3]", b"\x00a[00-10]b"]
    if name == "jobids_and_durations":
        return [b"f2ZnGk6KRD5" + b" " * 53 + b"1.5h", b"0x1234" + b" " * 58 + b"10ms",
                b"\xc6\x92" + struct.pack("8s", b"abc") + b"inf"]
    if name == "eventlogs":
        return [b'{"timestamp":1.5,"name":"submit","context":{"userid":0}}\n'
                b'{"timestamp":2,"name":"clean"}\n']
    return []
