"""Replies of the methods every Flux endpoint answers: ``ping`` and ``rusage``.

The broker (``broker.ping``, ``broker.rusage``) and every module process
(``NAME.ping``, ``NAME.rusage``, see module_exec.py) answer them the same
way, as libflux's default methods do for both; this is the one place the
replies are built.  It sits below both users: the broker imports it, and so
does a module process, which must never import the broker.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.message import Message

from flux.message import compact_json, encode_json

__all__ = ["ping_reply", "ping_reply_payload", "rusage_reply"]

#: ``struct rusage`` fields after utime/stime, in flux-core's reply order.
RUSAGE_FIELDS = ("maxrss", "ixrss", "idrss", "isrss", "minflt", "majflt", "nswap",
                 "inblock", "oublock", "msgsnd", "msgrcv", "nsignals", "nvcsw", "nivcsw")


def ping_reply(request: Message, uuid: str, rank: int) -> dict[str, Any]:
    """The request's JSON object plus ``route`` (its hops, then ``uuid[:8]``), creds and rank.

    Raises OSError(EPROTO) when the request carries no JSON object (as libflux).
    """
    return _add_ping_members(request.payload_json(), request, uuid, rank)


def _add_ping_members(obj: dict[str, Any], request: Message, uuid: str,
                      rank: int) -> dict[str, Any]:
    obj["route"] = f"{request.route_string()}!{uuid[:8]}"
    obj["userid"] = request.userid
    obj["rolemask"] = request.rolemask
    obj["rank"] = rank
    return obj


#: the members ping_reply sets
PING_KEYS = frozenset(("route", "userid", "rolemask", "rank"))
#: member values whose compact JSON text has one spelling (no float: 1e2, 1.50...)
_ONE_SPELLING = (str, int, bool, type(None))


def ping_reply_payload(request: Message, uuid: str, rank: int) -> bytes:
    """``encode_json(ping_reply(request, uuid, rank))``, the answer's payload, for a broker
    that answers many pings: where the request's object has none of :data:`PING_KEYS`, the
    reply is that object's compact text (the request's own where it is already exactly
    that, :func:`_is_encoded`, as flux-core's ``flux ping`` sends it) followed by the
    reply's members, written once per route and credentials and kept -- the same bytes,
    without encoding them again for every ping.

    Raises OSError(EPROTO) when the request carries no JSON object (as libflux).
    """
    obj = request.payload_json()  # checks the payload is one JSON object, and its NUL
    if not PING_KEYS.isdisjoint(obj):  # the reply's members replace the request's
        return encode_json(_add_ping_members(obj, request, uuid, rank))
    text = request.payload_bytes
    if text is None or not _is_encoded(text, obj):
        text = encode_json(obj)
    # the members the reply adds are the same for every ping along one route with the
    # same credentials (a client's, a module's): written once, kept for the next
    key = (uuid, rank, request.userid, request.rolemask, *request.routes)
    tail = _ping_tails.get(key)
    if tail is None:
        if len(_ping_tails) >= _PING_TAILS_MAX:
            _ping_tails.clear()
        route = compact_json(f"{request.route_string()}!{uuid[:8]}")  # as ping_reply's
        tail = _ping_tails[key] = (
            f'"route":{route},"userid":{request.userid},"rolemask":{request.rolemask},'
            f'"rank":{rank}}}').encode("utf-8", "surrogateescape") + b"\0"
    return b"".join((text[:-2], b"," if obj else b"", tail))  # text[:-2]: without "}\0"


def _is_encoded(text: bytes, obj: dict[str, Any]) -> bool:
    """Whether ``text`` (JSON object + NUL) is exactly ``encode_json(obj)``.  Cheap tests,
    each enough to say no: whitespace or an escape anywhere, ``-0`` (an int spelled two
    ways), a member that is a float or nested, or more ``":`` than members (a duplicate
    key).  (Closing up json.dumps's separators instead, with the checks that makes safe,
    cost more than encoding again.)"""
    if (b" " in text or b"\\" in text or b"\n" in text or b"\t" in text or b"\r" in text
            or b"-0" in text or text.count(b'":') != len(obj)):
        return False
    for value in obj.values():
        if type(value) not in _ONE_SPELLING:
            return False
    return True


#: the reply members ping_reply_payload wrote, by (uuid, rank, userid, rolemask, *route)
_ping_tails: dict[tuple, bytes] = {}
_PING_TAILS_MAX = 1024


def rusage_reply(request: Message) -> dict[str, Any]:
    """``getrusage`` of ``{"who": "self"|"children"|"thread"}`` (default self).

    Raises OSError(EPROTO) for a malformed payload and ValueError (the text of
    an EINVAL reply) for an unknown target.
    """
    import resource

    who = request.payload_json().get("who", "self") if request.payload_bytes else "self"
    targets = {"self": resource.RUSAGE_SELF, "children": resource.RUSAGE_CHILDREN}
    if hasattr(resource, "RUSAGE_THREAD"):
        targets["thread"] = resource.RUSAGE_THREAD
    if not isinstance(who, str) or who not in targets:
        raise ValueError(f"unknown rusage target {who!r}")
    ru = resource.getrusage(targets[who])
    out: dict[str, Any] = {"utime": ru.ru_utime, "stime": ru.ru_stime}
    for field in RUSAGE_FIELDS:
        out[field] = getattr(ru, "ru_" + field)
    return out
