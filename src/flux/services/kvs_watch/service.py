"""The ``kvs-watch`` service: flux-core's kvs-watch module, beside the KVS service.

Requests: ``kvs-watch.lookup`` (``{"key","namespace","flags"}``, streaming for
WATCH and STREAM; see ``watcher.py`` for what each flag sends),
``kvs-watch.cancel`` (``{"matchtag"}``: that stream of the sender ends with
ENODATA; the cancel itself is not answered), ``kvs-watch.disconnect`` (the
client's watches end silently) and ``kvs-watch.stats-get``.

flux-core's module asks the KVS for a root with ``kvs.getroot``, subscribes to
the namespace's events and looks keys up with ``kvs.lookup-plus`` RPCs.  This
service runs in the same process as the KVS service, so it reads the
namespaces and walks the trees of :class:`~flux.services.kvs.service.KVSService`
directly and is told of ``kvs.namespace-<ns>-setroot``, ``-created`` and
``-removed`` events as they are published (:meth:`KVSWatchService.event`).
Watchers are looked up again only when a commit may concern them (the rule
in ``monitor.py``); watchers of the same key share one lookup per commit and
one encoded response.  An event for a namespace nobody watches costs a dict
lookup.

Permissions are kvs.lookup's: the watcher must be the instance owner or the
namespace's owner (EPERM), and a symlink into another namespace is followed
only if the watcher may use that one too.
"""

from __future__ import annotations

import errno
import json
import os

from flux.constants import FLUX_KVS_WAITCREATE, FLUX_MSGFLAG_NORESPONSE, FLUX_ROLE_OWNER
from flux.message import encode_json
from flux.services.kvs import keypath, treeobj
from flux.services.kvs import lookup as _lookup
from flux.services.kvs_watch.monitor import Monitor
from flux.services.kvs_watch.watcher import SENTINEL, VALUE, End, Watcher, check_flags

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    from flux.message import Message
    from flux.services.kvs.namespace import Namespace
    from flux.services.kvs.service import KVSService

__all__ = ["KVSWatchService"]

_PREFIX_LEN = len("kvs.namespace-")
_SUFFIX_LEN = len("-setroot")  # and "-created", "-removed"


def _text(exc: OSError) -> str | None:
    """An error's own text, or None where it is only strerror (the client adds that)."""
    errnum = exc.errno or errno.EINVAL
    return exc.strerror if exc.strerror and exc.strerror != os.strerror(errnum) else None


class KVSWatchService:
    """The watches of every namespace (see the module docstring)."""

    def __init__(self, kvs: KVSService, *,
                 respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, str | None], None],
                 from_sender: Callable[[Message, Message], bool]) -> None:
        self.kvs = kvs
        self.respond = respond
        self.respond_error = respond_error
        self.from_sender = from_sender
        self.monitors: dict[str, Monitor] = {}
        #: (sender, matchtag) -> watcher, for cancel
        self.by_tag: dict[tuple[str | None, int], Watcher] = {}
        #: sender -> its watchers, for disconnect
        self.by_sender: dict[str | None, dict[Watcher, None]] = {}
        #: in-process requesters: their route id (a request's only one) -> a receiver
        #: ``(request, errnum, val)`` its responses are handed to as they are, not encoded
        #: (val: the value's tree object, one blob's bytes, or None)
        self.local: dict[str, Callable[[Message, int, Any], None]] = {}

    # -- requests -------------------------------------------------------------------------

    def lookup(self, msg: Message) -> None:
        """``kvs-watch.lookup``: start a watch (its first response comes at once, unless it
        waits for the key or the namespace to be created)."""
        try:
            obj = msg.payload_json()
            name = obj.get("namespace")
            key = obj.get("key")
            flags = obj.get("flags")
            if (not isinstance(name, str) or not isinstance(key, str)
                    or not isinstance(flags, int) or isinstance(flags, bool)):
                raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
            check_flags(flags, msg.streaming)
            key = keypath.normalize(key)
        except OSError as exc:
            self.respond_error(msg, exc.errno or errno.EPROTO, _text(exc))
            return
        ns = self.kvs.namespaces.get(name)
        if (ns is None or ns.removed) and not flags & FLUX_KVS_WAITCREATE:
            self.respond_error(msg, errno.ENOTSUP, None)
            return
        w = Watcher(msg, name, key, flags)
        self._add(w)
        if ns is not None and not ns.removed:
            self._start(w, ns)
        # else: it waits for kvs.namespace-<name>-created

    def cancel(self, msg: Message) -> None:
        """``kvs-watch.cancel``: end the sender's watch ``matchtag`` with ENODATA."""
        obj = msg.payload_json()
        matchtag = obj.get("matchtag")
        if not isinstance(matchtag, int) or isinstance(matchtag, bool):
            return  # flux-core logs it and answers nothing
        w = self.by_tag.get((msg.route_first, matchtag))
        if w is not None and self.from_sender(w.request, msg):
            self._emit(w, w.cancel(), None)

    def disconnect(self, msg: Message) -> None:
        """``kvs-watch.disconnect``: the client is gone; its watches end without a word."""
        mine = self.by_sender.get(msg.route_first)
        if mine:
            for w in list(mine):
                if self.from_sender(w.request, msg):
                    w.done = True
                    self._drop(w)

    def stats(self, msg: Message) -> None:
        """``kvs-watch.stats-get``: flux-core's figures, per namespace watched."""
        namespaces = {}
        for name, mon in self.monitors.items():
            ns = self.kvs.namespaces.get(name)
            live = ns is not None and not ns.removed
            namespaces[name] = {
                "owner": ns.owner if live else -1,  # type: ignore[union-attr]
                "rootseq": ns.seq if live else -1,  # type: ignore[union-attr]
                "rootref": ns.rootref if live else "(null)",  # type: ignore[union-attr]
                "watchers": len(mon),
            }
        self.respond(msg, {"watchers": sum(len(mon) for mon in self.monitors.values()),
                           "namespace-count": len(self.monitors),
                           "namespaces": namespaces})

    def close(self, errnum: int = errno.ENOSYS) -> None:
        """Fail the watches still running (the service is going away)."""
        for mon in list(self.monitors.values()):
            for w in list(mon.watchers):
                self._emit(w, [End(errnum)], None)
        self.monitors.clear()

    # -- the KVS's events -------------------------------------------------------------------

    def event(self, msg: Message) -> None:
        """A ``kvs.namespace-<ns>-*`` event, as the KVS publishes it."""
        if not self.monitors:
            return
        topic = msg.topic or ""
        mon = self.monitors.get(topic[_PREFIX_LEN:-_SUFFIX_LEN])
        if mon is None:
            return
        kind = topic[-_SUFFIX_LEN:]
        if kind == "-setroot":
            data = msg.payload_bytes or b"{}"
            self._setroot(mon, json.loads(data[:-1] if data.endswith(b"\0") else data))
        elif kind == "-created":
            self._created(mon)
        elif kind == "-removed":
            self._removed(mon)

    def _setroot(self, mon: Monitor, event: dict) -> None:
        """A commit: look again for the watchers it concerns, once per key and flags."""
        targets = mon.concerned(event.get("keys") or ())
        if not targets:
            return
        rootseq = event["rootseq"]
        rootref = event["rootref"]
        load = self.kvs.blobs.load
        shared: dict[tuple[str, int, int], list] = {}
        for w in targets:
            if w.done:
                continue
            req = w.request
            cred = -1 if req.rolemask & FLUX_ROLE_OWNER else req.userid
            entry = shared.get((w.key, w.lookup_flags, cred))
            if entry is None:
                val, errnum = self._lookup(w, rootref)
                entry = shared[(w.key, w.lookup_flags, cred)] = [val, errnum, None]
            out = w.next(entry[0], entry[1], rootseq, load)
            if out:
                entry[2] = self._emit(w, out, entry[0], entry[2])

    def _created(self, mon: Monitor) -> None:
        """The namespace exists now: the watches waiting for it start."""
        ns = self.kvs.namespaces.get(mon.name)
        if ns is None or ns.removed:
            return
        for w in list(mon.watchers):
            if w.rootseq < 0 and not w.done:
                self._start(w, ns)

    def _removed(self, mon: Monitor) -> None:
        """The namespace is gone: its watches end with ENOTSUP, as flux-core's do."""
        for w in list(mon.watchers):
            self._emit(w, [End(errno.ENOTSUP)], None)
        self.monitors.pop(mon.name, None)

    # -- helpers ------------------------------------------------------------------------------

    def _start(self, w: Watcher, ns: Namespace) -> None:
        """The watch's first lookup, at the namespace's current root."""
        try:
            ns.check_user(w.request)
        except OSError as exc:
            self._emit(w, [End(exc.errno or errno.EPERM)], None)
            return
        val, errnum = self._lookup(w, ns.rootref)
        self._emit(w, w.first(val, errnum, ns.seq, self.kvs.blobs.load), val)

    def _lookup(self, w: Watcher, rootref: str) -> tuple[Any, int]:
        """(value, 0) or (None, errno) of ``w``'s key in the tree at ``rootref``."""
        namespaces = self.kvs.namespaces
        req = w.request

        def root_of(name: str) -> str:  # a symlink into another namespace
            ns = namespaces.get(name)
            if ns is None or ns.removed:
                raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))
            ns.check_user(req)
            return ns.rootref

        try:
            return _lookup.lookup(rootref, w.key, self.kvs.blobs, w.lookup_flags, root_of), 0
        except OSError as exc:
            return None, exc.errno or errno.EINVAL

    def _emit(self, w: Watcher, out: list, val: Any, encoded: bytes | None = None
              ) -> bytes | None:
        """Send ``out`` (see watcher.py); the ``{"val": val}`` bytes, encoded once if needed."""
        msg = w.request
        routes = msg.routes
        receiver = self.local.get(routes[0]) if self.local and len(routes) == 1 else None
        if receiver is not None:
            self._hand(receiver, msg, out, val)
        else:
            for item in out:
                if item is VALUE:
                    if encoded is None:
                        encoded = encode_json({"val": val})
                    self.respond(msg, encoded)
                elif item is SENTINEL:
                    self.respond(msg, None)
                elif isinstance(item, End):
                    self.respond_error(msg, item.errnum, item.text)
                else:
                    self.respond(msg, {"val": treeobj.create_val(item)})
        if w.done:
            self._drop(w)
        return encoded

    @staticmethod
    def _hand(receiver: Callable[[Message, int, Any], None], msg: Message, out: list,
              val: Any) -> None:
        """:meth:`_emit` to an in-process requester: what each response would carry."""
        if msg.flags & FLUX_MSGFLAG_NORESPONSE:
            return
        for item in out:
            if item is VALUE:
                receiver(msg, 0, val)
            elif item is SENTINEL:
                receiver(msg, 0, None)
            elif isinstance(item, End):
                receiver(msg, item.errnum, None)
            else:
                receiver(msg, 0, item)

    def _add(self, w: Watcher) -> None:
        mon = self.monitors.get(w.namespace)
        if mon is None:
            mon = self.monitors[w.namespace] = Monitor(w.namespace)
        mon.add(w)
        msg = w.request
        self.by_tag[(msg.route_first, msg.matchtag)] = w
        self.by_sender.setdefault(msg.route_first, {})[w] = None

    def _drop(self, w: Watcher) -> None:
        mon = self.monitors.get(w.namespace)
        if mon is not None:
            mon.remove(w)
            if not mon:
                del self.monitors[w.namespace]
        msg = w.request
        tag = (msg.route_first, msg.matchtag)
        if self.by_tag.get(tag) is w:
            del self.by_tag[tag]
        mine = self.by_sender.get(msg.route_first)
        if mine is not None:
            mine.pop(w, None)
            if not mine:
                del self.by_sender[msg.route_first]
