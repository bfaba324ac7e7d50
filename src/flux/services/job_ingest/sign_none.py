"""J with signing mechanism ``none`` (RFC 15): ``HEADER.PAYLOAD.none``.

flux-core built without flux-security accepts only this mechanism, so this
is what its ``flux_job_submit`` sends to a pureflux instance: the header is
base64 of NUL-separated key/value pairs (``version``/``i1``, ``userid``/``iN``,
``mechanism``/``snone``), the payload base64 of the jobspec.  Unwrapping is
strict in the same places flux-core's is (unknown keys, a signed or
non-decimal userid, trailing text after ``none``), so J that one refuses the
other refuses too.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os

__all__ = ["unwrap", "wrap"]


def _einval() -> OSError:
    return OSError(errno.EINVAL, os.strerror(errno.EINVAL))


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _einval() from None


def _header_userid(text: str) -> int:
    fields = _b64decode(text).split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()  # the encoder ends every field with a NUL
    if len(fields) % 2:
        raise _einval()
    values: dict[bytes, bytes] = {}
    for key, value in zip(fields[::2], fields[1::2], strict=True):
        if key not in (b"version", b"userid", b"mechanism"):
            raise _einval()
        values[key] = value
    userid = values.get(b"userid", b"")
    if values.get(b"version") != b"i1" or values.get(b"mechanism") != b"snone" \
            or len(userid) < 2 or userid[:1] != b"i" or not userid[1:].isdigit():
        raise _einval()
    return int(userid[1:])


def unwrap(j: str) -> tuple[bytes, int]:
    """(payload, signing userid) of J; OSError EINVAL if it is not mechanism ``none``."""
    head, dot, rest = j.partition(".")
    if not dot:
        raise _einval()
    userid = _header_userid(head)
    payload, dot, tail = rest.partition(".")
    if not dot or tail != "none":
        raise _einval()
    return _b64decode(payload), userid


def wrap(payload: bytes, userid: int) -> str:
    """J for ``payload`` signed by ``userid`` with mechanism ``none``."""
    header = b"version\0i1\0userid\0i%d\0mechanism\0snone\0" % userid
    return "%s.%s.none" % (base64.b64encode(header).decode(), base64.b64encode(payload).decode())
