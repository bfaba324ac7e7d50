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
    obj = request.payload_json()
    obj["route"] = f"{request.route_string()}!{uuid[:8]}"
    obj["userid"] = request.userid
    obj["rolemask"] = request.rolemask
    obj["rank"] = rank
    return obj


#: the members ping_reply sets
PING_KEYS = frozenset(("route", "userid", "rolemask", "rank"))
_JSON_SPACE = b" \t\n\r"


def ping_reply_payload(request: Message, uuid: str, rank: int) -> bytes:
    """:func:`ping_reply` as the answer's payload (JSON text and its NUL), for a broker that
    answers many pings: where the request's object has none of :data:`PING_KEYS`, its
    members are kept as their text and the reply's are written after them, instead of
    re-encoding the whole object (the same JSON object; its members in the same order).

    Raises OSError(EPROTO) when the request carries no JSON object (as libflux).
    """
    obj = request.payload_json()  # checks the payload is one JSON object, and its NUL
    if not PING_KEYS.isdisjoint(obj):
        return encode_json(ping_reply(request, uuid, rank))
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
    text = request.payload_bytes
    assert text is not None  # payload_json has read it
    if text[-2] == 0x7D:  # "}" then the NUL: compact text
        body = text[:-2]
    else:
        body = text[:-1].rstrip(_JSON_SPACE)[:-1]  # without the object's "}"
    return b"".join((body, b"," if obj else b"", tail))


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
