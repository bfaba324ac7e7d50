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

__all__ = ["ping_reply", "rusage_reply"]

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
