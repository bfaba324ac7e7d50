"""J, the signed jobspec (RFC 15), with the mechanism ``none``.

flux-core built without flux-security signs this way, and its job-ingest
accepts it from the instance owner: ``HEADER.PAYLOAD.none`` where HEADER is
base64 of the NUL-separated pairs ``version``/``i1``, ``userid``/``i<uid>``,
``mechanism``/``snone`` (a NUL after each item) and PAYLOAD is base64 of the
jobspec bytes.  Padded standard base64, as flux-core's encoder writes it.
"""

from __future__ import annotations

import base64
import binascii
import errno

__all__ = ["sign_none_unwrap", "sign_none_wrap", "unwrap_string"]


def sign_none_wrap(payload: bytes, userid: int) -> str:
    """J for ``payload`` signed by ``userid`` with the mechanism ``none``."""
    header = b"version\0i1\0userid\0i%d\0mechanism\0snone\0" % userid
    return "%s.%s.none" % (base64.b64encode(header).decode("ascii"),
                           base64.b64encode(payload).decode("ascii"))


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise OSError(errno.EINVAL, "invalid base64") from None


def _header_userid(text: str) -> int:
    """The userid of a ``none`` header; EINVAL for anything flux-core would refuse."""
    items = _b64decode(text).split(b"\0")
    if not items or items[-1] != b"":
        raise OSError(errno.EINVAL, "invalid J header")
    items = items[:-1]
    if len(items) % 2:
        raise OSError(errno.EINVAL, "invalid J header")
    fields = {}
    for key, value in zip(items[0::2], items[1::2]):
        if key not in (b"version", b"userid", b"mechanism"):
            raise OSError(errno.EINVAL, "invalid J header")
        fields[key] = value
    uid = fields.get(b"userid", b"")
    if fields.get(b"version") != b"i1" or fields.get(b"mechanism") != b"snone" \
            or len(uid) < 2 or uid[:1] != b"i" or not uid[1:].isdigit():
        raise OSError(errno.EINVAL, "invalid J header")
    return int(uid[1:])


def sign_none_unwrap(J: str) -> tuple[bytes, int]:
    """(payload, userid) of a J signed with ``none``; EINVAL if it is not one."""
    header, sep, rest = J.partition(".")
    payload, sep2, mech = rest.partition(".")
    if not sep or not sep2 or mech != "none":
        raise OSError(errno.EINVAL, "invalid J")
    userid = _header_userid(header)
    return _b64decode(payload), userid


def unwrap_string(J: str) -> str:
    """The jobspec inside J, not checked against the caller's uid: flux-core's
    ``flux_unwrap_string(J, false, ...)`` as built without flux-security."""
    return sign_none_unwrap(J)[0].decode("utf-8", "surrogateescape")
