"""``module.trace``: stream a record of every message a broker module sends or receives.

``flux module trace [NAME...]`` sends one streaming ``module.trace`` request
``{"names": [s...], "typemask": i, "topic_glob": s, "full"?: b}`` (flux-core's
``modhash.c``/``trace.c``).  The request stays open -- no response until
traffic -- and every message that crosses a module link and matches it is
answered with one record::

    {"timestamp": f, "prefix": "rx"|"tx", "rank": -1, "name": MODULE,
     "type": i, "topic": s, "payload_size": i, "payload": JSON|null,
     "errnum": i, "errstr": s}

``rx`` is a message delivered to the module, ``tx`` one it sent; ``rank`` is
-1 (flux-core's "no overlay peer"); ``payload`` and ``errstr`` are filled only
with ``full``.  Matching is flux-core's: module name in ``names`` (an empty
list matches every module), message type in ``typemask`` (0 = any), topic
equal to ``topic_glob`` or matching it as a glob (``""`` and ``*`` match
anything).  Messages whose topic is ``module.trace`` are never traced.  A
non-streaming request, or ``names`` that is not an array, gets EPROTO;
``module.disconnect`` drops the sender's trace requests.

Each module link (modules/link.py) calls :meth:`ModuleTracer.trace` for each
message it hands to its module (``rx``, events included) or receives from it
(``tx``), only when :attr:`ModuleTracer.requests` -- the list the links share
as their ``traced`` -- is non-empty, so tracing costs one test per message
when nobody traces.
"""

from __future__ import annotations

import errno
import json
import time
from typing import Any, Callable, Optional

from flux.constants import (
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_RESPONSE,
)
from flux.message import Message

from .router import BuiltinService, RequestError, Router, from_sender

__all__ = ["ModuleTracer"]

_CONTROL_NAMES = {0: "heartbeat", 1: "status", 2: "disconnect"}


class _Filter:
    """One trace request, its match fields decoded once."""

    __slots__ = ("full", "glob", "msg", "names", "nodeid", "typemask")

    def __init__(self, msg: Message, typemask: int, glob: str,
                 names: Optional[frozenset[str]], full: bool, nodeid: int = -1) -> None:
        self.msg = msg
        self.typemask = typemask
        self.glob = glob
        self.names = names
        self.full = full
        #: overlay.trace: only messages to or from this peer rank (-1: any)
        self.nodeid = nodeid

    def matches(self, name: Optional[str], mtype: int, topic: Optional[str],
                rank: int = -1) -> bool:
        if self.names is not None and name not in self.names:
            return False
        if self.nodeid != -1 and rank != -1 and rank != self.nodeid:
            return False
        if self.typemask and not mtype & self.typemask:
            return False
        glob = self.glob
        if not glob or glob == "*":
            return True
        if topic is None:
            return False
        if "*" in glob or "?" in glob or "[" in glob:
            from fnmatch import fnmatchcase

            return fnmatchcase(topic, glob)
        return topic == glob


class ModuleTracer:
    """The open trace requests and the records sent to them."""

    def __init__(self, router: Router, clock: Callable[[], float] = time.time) -> None:
        self.router = router
        self.clock = clock
        #: open trace requests (never replaced: module links keep a reference and
        #: call :meth:`trace` only while it is non-empty)
        self.requests: list[_Filter] = []

    def register(self, service: BuiltinService) -> None:
        """Add ``trace`` to the ``module`` service."""
        service.method("trace", self._trace_request)

    # -- requests -----------------------------------------------------------------------

    def _trace_request(self, msg: Message) -> None:
        obj = msg.payload_json()
        names = obj.get("names")
        typemask = obj.get("typemask")
        glob = obj.get("topic_glob")
        full = obj.get("full", False)
        if ("names" not in obj or not isinstance(typemask, int) or not isinstance(glob, str)
                or not isinstance(full, bool)):
            raise RequestError(errno.EPROTO)
        if not msg.flags & FLUX_MSGFLAG_STREAMING or not isinstance(names, list):
            raise RequestError(errno.EPROTO)
        wanted = frozenset(n for n in names if isinstance(n, str)) if names else None
        self.requests.append(_Filter(msg, typemask, glob, wanted, full))

    def disconnect(self, msg: Message) -> None:
        """``module.disconnect``: forget the trace requests of that client."""
        # in place: module links hold this very list to test it cheaply
        self.requests[:] = [f for f in self.requests if not from_sender(f.msg, msg)]

    # -- records ------------------------------------------------------------------------------

    def trace(self, prefix: str, name: Optional[str], msg: Message, rank: int = -1) -> None:
        """Report ``msg`` (``prefix`` "rx": to module ``name``; "tx": from it; for the
        overlay's tracer, ``name`` is None and ``rank`` the peer, -1 for all children)."""
        if not self.requests:
            return
        mtype = msg.type
        topic = msg.topic
        data = msg.payload_bytes
        errnum = 0
        errstr = ""
        size = 0
        if mtype == FLUX_MSGTYPE_CONTROL:
            shown = f"{_CONTROL_NAMES.get(msg.aux1, 'unknown')} {msg.aux2}"
            topic = None
        else:
            if topic == "module.trace":  # our own records must not trace themselves
                return
            shown = topic or ""
            if mtype == FLUX_MSGTYPE_RESPONSE and msg.aux1 > 0:
                errnum = msg.aux1
                if data and data[-1] == 0:
                    errstr = data[:-1].decode("utf-8", "replace")
            elif data:
                size = len(data)
        payload: Any = None
        decoded = False
        for f in self.requests:
            if not f.matches(name, mtype, topic, rank):
                continue
            if f.full and not decoded:
                decoded = True
                if size:
                    payload = _json_or_none(data)
            self.router.respond(f.msg, {
                "timestamp": self.clock(), "prefix": prefix, "rank": rank, "name": name,
                "type": mtype, "topic": shown, "payload_size": size,
                "payload": payload if f.full else None, "errnum": errnum,
                "errstr": errstr if f.full else "",
            })


def _json_or_none(data: Optional[bytes]) -> Any:
    """The payload as JSON (flux_msg_unpack "o"), or None if it is not JSON."""
    if not data or data[-1] != 0:
        return None
    try:
        return json.loads(data[:-1])
    except ValueError:
        return None
