"""The resource service as flux-core 0.88's resource module on a single broker: this
machine's R, committed to ``resource.R``; ``resource.eventlog`` (resource-define, drain,
undrain); ``resource.status``, ``resource.drain``/``undrain``, RFC 28 ``resource.acquire``,
``resource.journal`` (the events of this run, as flux-core's reslog: ``restart`` and
``online`` are journal-only, ``resource-define`` carries R) and ``resource.reload``.

Sans-I/O: the wiring (broker/resource.py) passes ``respond``/``respond_error`` and
``commit(ops, done)`` (a KVS commit in the primary namespace).
"""

from __future__ import annotations

import errno
import time

from flux import eventlog
from flux.constants import FLUX_ROLE_OWNER
from flux.message import Message

from .rv1 import build_R, idset_decode, idset_encode

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["ResourceService"]

_DRAIN_MODES = {"update": 0, "overwrite": 1, "force-overwrite": 2}


def _request(msg: Message) -> dict:
    return msg.payload_json()


class ResourceService:
    """The instance's resources (on rank 0; other ranks report theirs, reduce.py)."""

    def __init__(self, cores: set[int], hostname: str,
                 respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, Optional[str]], None],
                 commit: Callable[[list, Callable[[int, Any], None]], None]) -> None:
        self.ranks = {0: set(cores)}
        self.hosts = {0: hostname}
        self.R = build_R(self.ranks, self.hosts)
        self.respond = respond
        self.respond_error = respond_error
        self.commit = commit
        self.online = set(self.ranks)
        #: rank -> (timestamp, reason or None), as flux-core's draininfo
        self.drained: dict[int, tuple[float, Optional[str]]] = {}
        self.acquirer: Optional[Message] = None
        #: ranks whose broker stopped answering (tbon.torpid_max): not up for the scheduler
        self.torpid: set[int] = set()
        self._down_sent: set[int] = set()
        #: this run's events (resource.journal's backlog) and the streams that follow them
        self.journal: list[dict] = []
        self.consumers: list[Message] = []
        #: how R was defined (flux-core's inventory method), None until it is
        self.method: Optional[str] = None

    # -- start-up --------------------------------------------------------------------------

    def define(self, stored: Optional[dict] = None, log: Optional[list] = None) -> None:
        """Commit resource.R, then post resource-define (as flux-core's inventory); an R
        already in the KVS (a restart with a statedir) is reused, and the drains of its
        ``log`` (resource.eventlog's entries) replayed, as flux-core does."""

        self._journal("restart", {"ranks": idset_encode(set(self.ranks)), "online": "",
                                  "nodelist": self._nodelist(set(self.ranks))})
        if stored is not None:
            from .rv1 import R_ranks

            try:
                self.ranks, self.hosts = R_ranks(stored)
            except OSError:
                stored = None
            else:
                self.R = stored
                self.online = set(self.ranks)
                self._replay(log or [])
                self.method = "kvs"
                self._post("resource-define", {"method": "kvs"})
                self._journal("online", {"idset": idset_encode(self.online)})
                return
        self._put_R("dynamic-discovery")

    def define_configured(self) -> None:
        """R set from the configuration (``set_R``): committed, defined as flux-core's
        ``configuration`` method."""
        self._journal("restart", {"ranks": idset_encode(set(self.ranks)), "online": "",
                                  "nodelist": self._nodelist(set(self.ranks))})
        self._put_R("configuration")

    def _put_R(self, method: str, then: Optional[Callable[[int, Any], None]] = None) -> None:
        """Commit ``resource.R``, then post resource-define (and the ranks online)."""
        from flux.services.kvs.txn import op_put

        def posted(errnum: int, _: Any) -> None:
            if not errnum:
                self.method = method
                self._post("resource-define", {"method": method})
                self._journal("online", {"idset": idset_encode(self.online)})
            if then is not None:
                then(errnum, None)

        self.commit([op_put("resource.R", eventlog.dumps(self.R).encode())], posted)

    def _replay(self, entries: list) -> None:
        for entry in entries:
            name, context = entry.get("name"), entry.get("context") or {}
            if name not in ("drain", "undrain"):
                continue
            try:
                ranks = idset_decode(context.get("idset", "")) & set(self.ranks)
            except OSError:
                continue
            for rank in ranks:
                if name == "undrain":
                    self.drained.pop(rank, None)
                elif rank not in self.drained or context.get("overwrite"):
                    stamp = float(int(entry.get("timestamp", 0.0)))
                    self.drained[rank] = (stamp, context.get("reason"))

    def _post(self, name: str, context: dict, timestamp: float = 0.0,
              then: Optional[Callable[[int, Any], None]] = None) -> None:
        from flux.services.kvs.txn import op_append

        entry = eventlog.entry_build(timestamp or time.time(), name, context)
        line = eventlog.encode_entry(entry)
        self.commit([op_append("resource.eventlog", line.encode())],
                    then or (lambda errnum, _: None))
        self._notify_journal(entry)

    def _journal(self, name: str, context: dict) -> None:
        """An event of the journal only (not in resource.eventlog), as flux-core's."""
        self._notify_journal(eventlog.entry_build(time.time(), name, context))

    def _notify_journal(self, entry: dict) -> None:
        self.journal.append(entry)
        for msg in self.consumers:
            self.respond(msg, self._journal_payload([entry]))

    def _journal_payload(self, entries: list[dict]) -> dict:
        payload: dict = {"events": entries}
        if len(entries) == 1 and entries[0]["name"] == "resource-define":
            payload["R"] = {k: v for k, v in self.R.items() if k != "scheduling"}
        return payload

    # -- targets -----------------------------------------------------------------------------

    def _targets(self, targets: str) -> set[int]:
        """An idset of ranks or a hostlist, as flux-core's drain_targets_decode."""
        try:
            ranks = idset_decode(targets)
        except OSError:
            names = _hostlist_names(targets)
            unknown = [n for n in names if n not in self.hosts.values()]
            if unknown or not names:
                raise _error(errno.EINVAL,
                                   f"invalid targets: invalid hosts: {','.join(unknown) or targets}")
            return {r for r, h in self.hosts.items() if h in names}
        if not ranks or max(ranks) >= len(self.ranks):
            raise _error(errno.EINVAL, "idset is out of range")
        return ranks

    def _nodelist(self, ranks: set[int]) -> str:
        """The ranks' hostnames as one compressed hostlist (``n[0-3]``), as flux-core's."""
        names = [self.hosts[r] for r in sorted(ranks)]
        if len(names) < 2:
            return ",".join(names)
        from flux.hostlist import Hostlist

        return str(Hostlist(names))

    def _up(self) -> set[int]:
        return self.online - set(self.drained) - self.torpid

    # -- requests ------------------------------------------------------------------------------

    def status(self, msg: Message) -> None:
        """``resource.status``: what ``flux resource status`` shows."""
        groups: dict[tuple[float, Optional[str]], set[int]] = {}
        for rank, info in self.drained.items():
            groups.setdefault(info, set()).add(rank)
        drain = {}
        for (stamp, reason), ranks in groups.items():
            drain[idset_encode(ranks)] = {"timestamp": stamp, "reason": reason or ""}
        R = {k: v for k, v in self.R.items() if k != "scheduling"}
        self.respond(msg, {
            "R": R, "drain": drain, "online": idset_encode(self.online),
            "offline": idset_encode(set(self.ranks) - self.online), "exclude": "",
            "torpid": idset_encode(self.torpid)})

    def get(self, msg: Message) -> None:
        """``resource.get``: R and how it was defined, which a flux-core broker's resource
        module on a rank below asks for at load (ENOENT while R is not defined yet: that
        rank then discovers its own and reports it with ``resource.topo-reduce``)."""
        if self.method is None:
            raise _error(errno.ENOENT)
        self.respond(msg, {"R": self.R, "method": self.method})

    def drain(self, msg: Message) -> None:
        """``resource.drain``: answered once the event is in resource.eventlog."""
        req = _request(msg)
        targets, reason, mode = req.get("targets"), req.get("reason"), req.get("mode")
        if not isinstance(targets, str) or not _opt_str(reason) or not _opt_str(mode):
            raise _error(errno.EPROTO)
        ranks = self._targets(targets)
        if mode is not None and mode not in _DRAIN_MODES:
            raise _error(errno.EINVAL, "Invalid mode specified")
        overwrite = _DRAIN_MODES.get(mode, 0) if mode else 0
        if mode is None:
            already = sorted(r for r in ranks if r in self.drained and self.drained[r][1])
            if already:
                ids = idset_encode(already)
                raise _error(errno.EEXIST, f"rank{'s' if len(already) > 1 else ''} "
                                                 f"{ids} already drained")
        now = time.time()
        for rank in ranks:
            old = self.drained.get(rank)
            if old is None:
                self.drained[rank] = (float(int(now)), reason)
            elif overwrite == 2:
                self.drained[rank] = (float(int(now)), reason)
            elif overwrite == 1 or not old[1]:
                self.drained[rank] = (old[0], reason)
        context: dict = {"idset": idset_encode(ranks), "nodelist": self._nodelist(ranks)}
        if reason is not None:
            context["reason"] = reason
        context["overwrite"] = overwrite
        self._post("drain", context, now, self._answer(msg))
        self._notify()

    def undrain(self, msg: Message) -> None:
        """``resource.undrain``: ranks not drained are an error unless a mode says not."""
        req = _request(msg)
        targets, reason, mode = req.get("targets"), req.get("reason"), req.get("mode")
        if not isinstance(targets, str) or not _opt_str(reason) or not _opt_str(mode):
            raise _error(errno.EPROTO)
        ranks = self._targets(targets)
        if mode is not None and mode not in _DRAIN_MODES:
            raise _error(errno.EINVAL, f"invalid undrain mode '{mode}' specified")
        overwrite = _DRAIN_MODES.get(mode, 0) if mode else 0
        if mode is None:
            missing = sorted(r for r in ranks if r not in self.drained)
            if missing:
                raise _error(errno.EEXIST, f"rank{'s' if len(missing) > 1 else ''} "
                                                 f"{idset_encode(missing)} not drained")
        for rank in ranks:
            self.drained.pop(rank, None)
        context: dict = {"idset": idset_encode(ranks), "nodelist": self._nodelist(ranks),
                         "overwrite": overwrite}
        if reason is not None:
            context["reason"] = reason
        self._post("undrain", context, 0.0, self._answer(msg))
        self._notify()

    def _answer(self, msg: Message) -> Callable[[int, Any], None]:
        def done(errnum: int, _: Any) -> None:
            if errnum:
                self.respond_error(msg, errnum, None)
            else:
                self.respond(msg, None)
        return done

    def acquire(self, msg: Message) -> None:
        """``resource.acquire`` (RFC 28): one scheduler at a time; the first response
        has R and the ranks up, later ones what went down or came back up."""
        if not msg.flags & 0x40:  # FLUX_MSGFLAG_STREAMING
            raise _error(errno.EPROTO)
        if self.acquirer is not None:
            raise _error(errno.EBUSY)
        self.acquirer = msg
        up = self._up()
        self._down_sent = set(self.ranks) - up
        self.respond(msg, {"resources": self.R, "up": idset_encode(up)})

    def _notify(self) -> None:
        """Tell the acquirer what changed since its last response."""
        if self.acquirer is None:
            return
        down = set(self.ranks) - self._up()
        went_down, came_up = down - self._down_sent, self._down_sent - down
        self._down_sent = down
        if came_up:
            self.respond(self.acquirer, {"up": idset_encode(came_up)})
        if went_down:
            self.respond(self.acquirer, {"down": idset_encode(went_down)})

    def disconnect(self, msg: Message) -> None:
        """``resource.disconnect``: the acquirer may be gone, and journal streams."""
        acq = self.acquirer
        if acq is not None and _speaks_for(msg, acq):
            self.acquirer = None
        self.consumers = [c for c in self.consumers if not _speaks_for(msg, c)]

    # -- journal -------------------------------------------------------------------------------

    def journal_request(self, msg: Message) -> None:
        """``resource.journal`` (streaming): the backlog in batches of at most 100, each
        resource-define alone with R, an empty batch, then each new event."""
        if not msg.flags & 0x40:  # FLUX_MSGFLAG_STREAMING
            raise _error(errno.EPROTO, "journal requires streaming RPC flag")
        batch: list[dict] = []
        for entry in self.journal:
            if entry["name"] == "resource-define":
                if batch:
                    self.respond(msg, {"events": batch})
                    batch = []
                self.respond(msg, self._journal_payload([entry]))
                continue
            batch.append(entry)
            if len(batch) >= 100:
                self.respond(msg, {"events": batch})
                batch = []
        if batch:
            self.respond(msg, {"events": batch})
        self.respond(msg, {"events": []})
        self.consumers.append(msg)

    def journal_cancel(self, msg: Message) -> None:
        """``resource.journal-cancel``: the sender's stream ends with ENODATA."""
        obj = msg.payload_json() if msg.payload_bytes else None
        matchtag = obj.get("matchtag") if isinstance(obj, dict) else None
        for req in list(self.consumers):
            if req.matchtag == matchtag and _speaks_for(msg, req):
                self.consumers.remove(req)
                self.respond_error(req, errno.ENODATA, None)

    # -- reload --------------------------------------------------------------------------------

    def reload(self, msg: Message) -> None:
        """``resource.reload``: R from a file replaces this instance's (refused while a
        scheduler holds the resources, as flux-core's)."""
        req = _request(msg)
        path, xml, force = req.get("path"), req.get("xml"), req.get("force")
        if not isinstance(path, str) or not isinstance(xml, bool) \
                or not isinstance(force, bool):
            raise _error(errno.EPROTO)
        if xml:
            raise _error(errno.ENOSYS, "hwloc XML is not supported by pureflux")
        R = load_R_file(path)
        from .rv1 import R_ranks

        try:
            ranks, hosts = R_ranks(R)
        except OSError:
            raise _error(errno.EINVAL, "error parsing R") from None
        if ranks and max(ranks) >= 1 and not force:  # a size-1 instance
            raise _error(errno.EINVAL, "resource object contains ranks execeeding size=1 "
                                       "(override with -f))")
        if self.acquirer is not None:
            raise _error(errno.EBUSY, "resources are busy (unload scheduler?)")
        self.set_R(R, ranks, hosts)
        self._put_R("reload", self._answer(msg))

    def set_R(self, R: dict, ranks: dict, hosts: dict) -> None:
        self.R, self.ranks, self.hosts = R, ranks, hosts
        self.online = set(ranks)
        self.drained = {r: v for r, v in self.drained.items() if r in ranks}

    def set_offline(self, ranks: set[int]) -> None:
        """Brokers that went away (their overlay link was lost or said goodbye): offline
        in the journal and ``resource.status``, down for the scheduler."""
        ranks = ranks & self.online
        if not ranks:
            return
        self.online -= ranks
        self.torpid -= ranks
        self._journal("offline", {"idset": idset_encode(ranks)})
        self._notify()

    def set_torpid(self, rank: int, torpid: bool) -> None:
        """A broker became torpid or lively again (its parent's overlay says so): a
        ``torpid``/``lively`` journal event, down or up again for the scheduler."""
        if rank not in self.ranks or (rank in self.torpid) == torpid:
            return
        if torpid:
            self.torpid.add(rank)
        else:
            self.torpid.discard(rank)
        self._journal("torpid" if torpid else "lively", {"idset": idset_encode({rank})})
        self._notify()

    def acquire_cancel(self, msg: Message) -> None:
        """``resource.acquire-cancel``: ends the stream with ENODATA."""
        acq = self.acquirer
        if acq is not None and _speaks_for(msg, acq):
            self.acquirer = None
            self.respond_error(acq, errno.ENODATA, None)

    def close(self) -> None:
        """At shutdown the acquirer's stream ends (ENOSYS, as a module unload would)."""
        if self.acquirer is not None:
            self.respond_error(self.acquirer, errno.ENOSYS, None)
            self.acquirer = None
        for msg in self.consumers:
            self.respond_error(msg, errno.ENOSYS, None)
        self.consumers = []


def load_R_file(path: str, configured: bool = False) -> dict:
    """R read from ``path``; OSError with flux-core's texts (its json_load_file error
    as ``SOURCE:LINE TEXT``, or for ``[resource] path`` ``SOURCE: TEXT on line N``)."""
    import json

    def problem(errnum: int, line: int, text: str) -> OSError:
        return _error(errnum, f"{path}: {text} on line {line}" if configured
                      else f"{path}:{line} {text}")

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise problem(errno.ENOENT, -1, f"unable to open {path}: {exc.strerror}") from None
    except ValueError:
        raise problem(errno.EPROTO, 1, "unable to decode byte") from None
    try:
        R = json.loads(text)
    except json.JSONDecodeError as exc:
        raise problem(errno.EPROTO, exc.lineno, exc.msg) from None
    if not isinstance(R, dict):
        raise problem(errno.EPROTO, 1, "not a JSON object")
    return R


def _error(errnum: int, text: Optional[str] = None) -> OSError:
    """An error the wiring answers with (no text where strerror says it all)."""
    import os

    return OSError(errnum, text or os.strerror(errnum))


def _opt_str(value: object) -> bool:
    return value is None or isinstance(value, str)


def _hostlist_names(text: str) -> list[str]:
    """A hostlist's names: ``a,b`` and the bracket form ``n[1-3,5]``."""
    names: list[str] = []
    depth, start = 0, 0
    parts = []
    for i, c in enumerate(text):
        depth += c == "["
        depth -= c == "]"
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        if "[" in part and part.endswith("]"):
            prefix, _, body = part[:-1].partition("[")
            try:
                ids = sorted(idset_decode(body))
            except OSError:
                return []
            width = len(body.split("-")[0].split(",")[0])
            names.extend(f"{prefix}{i:0{width}d}" for i in ids)
        elif part:
            names.append(part)
    return names


def _speaks_for(msg: Message, req: Message) -> bool:
    """Whether ``msg`` (a cancel or disconnect) may end ``req``: same sender, and the
    owner or ``req``'s own user (a guest can put any route on its requests)."""
    return req.route_first == msg.route_first and (
        bool(msg.rolemask & FLUX_ROLE_OWNER) or req.userid == msg.userid)
