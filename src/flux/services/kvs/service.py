"""The KVS service: flux-core's ``kvs`` module protocol over the sans-I/O pieces.

It serves ``kvs.lookup``, ``kvs.lookup-plus``, ``kvs.commit``, ``kvs.fence``
(older flux-core's collective commit), ``kvs.getroot``, ``kvs.wait-version``,
``kvs.namespace-create/remove/list``, ``kvs.dropcache``, ``kvs.stats-get``
and ``kvs.disconnect``, with flux-core's payloads and errnos, and publishes
``kvs.namespace-<ns>-setroot``, ``-created`` and ``-removed`` events.

The broker owns the messages and the loop; it hands this class requests and
three callables (respond, respond with an error, publish an event: its payload may
be a callable, called only if someone listens) and calls
:meth:`KVSService.flush` once per loop iteration after :meth:`schedule` asked
for it.  Commits are queued per namespace and applied in ``flush``, so the
commits that arrive in one iteration are merged into one new root, as
flux-core merges the transactions ready at once.

Durability: each applied transaction's new blobs and, for the primary
namespace, a checkpoint naming the new root are written to the content
store's SQLite database in one transaction before anyone is answered.  With a
statedir (WAL, ``synchronous=NORMAL``) a returned commit survives the death of
every process of the instance; a power loss may lose the last commits.  At
start the primary namespace is restored from the newest checkpoint.
"""

from __future__ import annotations

import errno
import os
import time
from json.encoder import encode_basestring_ascii as _quote

from flux.constants import FLUX_KVS_SYNC, FLUX_ROLE_OWNER
from flux.message import Message, encode_json
from flux.services.content import blobref as _blobref
from flux.services.kvs import commit as _commit
from flux.services.kvs import lookup as _lookup
from flux.services.kvs import treeobj
from flux.services.kvs.blobcache import BlobCache
from flux.services.kvs.namespace import PRIMARY, Namespace, Transaction

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any, Optional

    from flux.services.content.store import ContentStore

__all__ = ["EMPTY_DIR", "KVSService"]

#: the empty directory's exact bytes: every new namespace's first root
EMPTY_DIR = b'{"data":{},"type":"dir","ver":1}'

#: decoded tree objects in each of the cache's two generations (blobcache.py)
_CACHE_MAX = 2048
#: lookup answers kept (and the largest one kept): a few MB at most
_ANSWERS_MAX = 4096
_ANSWER_MAX = 1024


def _eproto() -> OSError:
    return OSError(errno.EPROTO, os.strerror(errno.EPROTO))


def _request(msg: Message) -> Any:
    """The request's JSON object; EPROTO for anything else (a list, a string, no payload)."""
    obj = msg.payload_json()
    if type(obj) is not dict:
        raise _eproto()
    return obj


def _str(obj: dict, key: str, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _eproto()
    return value


def _int(obj: dict, key: str, required: bool = True) -> Any:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _eproto()
    return value


class _Fence:
    """A ``kvs.fence`` collecting its ``nprocs`` participants' ops."""

    __slots__ = ("nprocs", "flags", "ops", "requests")

    def __init__(self, nprocs: int, flags: int) -> None:
        self.nprocs = nprocs
        self.flags = flags
        self.ops: list = []
        self.requests: list[Message] = []


class _ContentSource:
    """Blobs by blobref from the content store (opened on first use)."""

    __slots__ = ("_store",)

    def __init__(self, store: Callable[[], ContentStore]) -> None:
        self._store = store

    def load(self, blobref: str) -> bytes:
        return self._store().load(_blobref.strtohash(blobref))


class KVSService:
    """The state and request handlers of the KVS (see the module docstring)."""

    def __init__(self, *, owner: int, rank: int, hashtype: str,
                 store: Callable[[], ContentStore],
                 respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, Optional[str]], None],
                 publish: Callable[[str, bytes | Callable[[], bytes]], None],
                 schedule: Callable[[], None]) -> None:
        self.owner = owner
        self.rank = rank
        self.hashtype = hashtype
        self.store = store
        self.respond = respond
        self.respond_error = respond_error
        self.publish = publish
        self.schedule = schedule
        self.blobs = BlobCache(_ContentSource(store), limit=_CACHE_MAX)
        self.empty_ref = _blobref.hash_blobref(hashtype, EMPTY_DIR)
        self.blobs.add(self.empty_ref, treeobj.create_dir())
        self._empty_stored = False
        self.namespaces: dict[str, Namespace] = {
            PRIMARY: Namespace(PRIMARY, owner, self.empty_ref)}
        self._busy: dict[str, Namespace] = {}  # namespaces with ready transactions
        self._fences: dict[tuple[str, str], _Fence] = {}
        self._txn_seq = 0
        # request bytes -> (namespace, its root, answer bytes): see lookup()
        self._answers: dict[bytes, tuple[str, str, bytes]] = {}
        self._crossed = False
        self.commits = 0  # applied transactions (merged ones count once)
        self.ops_applied = 0

    # -- start and stop ----------------------------------------------------------------

    def restore(self) -> Optional[float]:
        """Take the primary root from the newest checkpoint, if there is one; its time."""
        import json

        try:
            texts = self.store().checkpoint_get()
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise
        try:
            value = json.loads(texts[0])
            rootref = value.get("rootref")
        except (ValueError, AttributeError):
            raise OSError(errno.EINVAL, "invalid KVS checkpoint") from None
        if not isinstance(rootref, str) or not _blobref.validate(rootref):
            raise OSError(errno.EINVAL, "invalid KVS checkpoint")
        primary = self.namespaces[PRIMARY]
        primary.rootref = rootref
        primary.seq = int(value.get("sequence", 0))
        self._empty_stored = True  # the database exists: flux-core stored it there at start
        ts = value.get("timestamp")
        return float(ts) if isinstance(ts, (int, float)) else 0.0

    def close(self, errnum: int = errno.ENOSYS) -> None:
        """Fail what still waits (flux-core answers pending requests ENOSYS at unload)."""
        for ns in self.namespaces.values():
            for msg in ns.take_waiters(force=True):
                self.respond_error(msg, errnum, None)
            for txn in ns.ready:
                for req in txn.requests:
                    self._fail(req, errnum, None)
            ns.ready.clear()
        for fence in self._fences.values():
            for msg in fence.requests:
                self._fail(msg, errnum, None)
        self._fences.clear()

    # -- namespaces ----------------------------------------------------------------------

    def _namespace(self, name: str, msg: Message) -> Namespace:
        """The live namespace ``name`` the sender may use: ENOTSUP if none, EPERM if not its."""
        ns = self.namespaces.get(name)
        if ns is None or ns.removed:
            raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))
        ns.check_user(msg)
        return ns

    def namespace_create(self, msg: Message) -> None:
        obj = _request(msg)
        name = _str(obj, "namespace")
        rootref = _str(obj, "rootref")
        owner = _int(obj, "owner")
        flags = _int(obj, "flags")
        if not _blobref.validate(rootref):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        if owner == -1 or owner == 0xFFFFFFFF:
            owner = self.owner
        if owner < 0:
            raise _eproto()
        if name in self.namespaces:
            text = None
            if self.namespaces[name].removed:
                text = ("namespace with identical name in process of being removed."
                        " Try again later")
            self.respond_error(msg, errno.EEXIST, text)
            return
        ns = Namespace(name, owner, rootref, 0, flags)
        self.namespaces[name] = ns
        self.publish(f"kvs.namespace-{name}-created", encode_json(
            {"namespace": name, "rootseq": 0, "rootref": rootref, "owner": owner}))
        self.respond(msg, None)

    def namespace_remove(self, msg: Message) -> None:
        name = _str(_request(msg), "namespace")
        if name.lower() == PRIMARY:
            raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))
        ns = self.namespaces.get(name)
        if ns is not None and not ns.removed:
            self.publish(f"kvs.namespace-{name}-removed", encode_json({"namespace": name}))
            self._remove(ns)
        self.respond(msg, None)

    def _remove(self, ns: Namespace) -> None:
        ns.removed = True
        for req in ns.take_waiters(force=True):
            self.respond_error(req, errno.ENOTSUP, None)
        for txn in ns.ready:
            for req in txn.requests:
                self._fail(req, errno.ENOTSUP, None)
        ns.ready.clear()
        self._busy.pop(ns.name, None)
        del self.namespaces[ns.name]

    def namespace_create_internal(self, name: str, owner: int) -> None:
        """A namespace created by a service inside the broker (job-exec's guest namespace),
        rooted at the empty directory; OSError EEXIST if the name is taken."""
        if name in self.namespaces:
            raise OSError(errno.EEXIST, os.strerror(errno.EEXIST))
        self.namespaces[name] = Namespace(name, owner, self.empty_ref, 0, 0)
        self.publish(f"kvs.namespace-{name}-created", encode_json(
            {"namespace": name, "rootseq": 0, "rootref": self.empty_ref, "owner": owner}))

    def namespace_remove_internal(self, name: str) -> None:
        """Remove a namespace for a service inside the broker (no-op if there is none)."""
        ns = self.namespaces.get(name)
        if ns is not None and not ns.removed and name != PRIMARY:
            self.publish(f"kvs.namespace-{name}-removed", encode_json({"namespace": name}))
            self._remove(ns)

    def namespace_rootref(self, name: str) -> str | None:
        """The current root blobref of a live namespace, else None."""
        ns = self.namespaces.get(name)
        return None if ns is None or ns.removed else ns.rootref

    def namespace_list(self, msg: Message) -> None:
        self.respond(msg, {"namespaces": [
            {"namespace": ns.name, "owner": ns.owner, "flags": ns.flags}
            for ns in self.namespaces.values() if not ns.removed]})

    # -- reading --------------------------------------------------------------------------

    def _namespace_root(self, msg: Message) -> Callable[[str], str]:
        def root_of(name: str) -> str:
            self._crossed = True  # the answer depends on another namespace's root
            return self._namespace(name, msg).rootref
        return root_of

    def _do_lookup(self, msg: Message) -> tuple[dict | None, Namespace | None, str]:
        """(value or None for ENOENT, namespace, root blobref) of a lookup request."""
        obj = _request(msg)
        key = _str(obj, "key")
        flags = _int(obj, "flags")
        name = _str(obj, "namespace", required=False)
        rootdir = obj.get("rootdir")
        ns = None
        if rootdir is not None:
            try:
                treeobj.validate(rootdir)
                if treeobj.get_type(rootdir) != "dirref" or len(rootdir["data"]) != 1:
                    raise ValueError
            except (OSError, ValueError):
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL)) from None
            root: Any = rootdir
            rootref = rootdir["data"][0]
            if name is not None:
                ns = self._namespace(name, msg)
        elif name is not None:
            ns = self._namespace(name, msg)
            root = rootref = ns.rootref
        else:
            raise _eproto()
        try:
            val = _lookup.lookup(root, key, self.blobs, flags, self._namespace_root(msg),
                                 share=True)
        except OSError as exc:
            if exc.errno == errno.ENOENT and not isinstance(exc, _lookup.MissingNamespace):
                return None, ns, rootref
            raise
        return val, ns, rootref

    def lookup(self, msg: Message) -> None:
        """``kvs.lookup``: ``{"val": treeobj}``; ENOENT if the key is missing.

        A root never changes, so the answer to the same request at the same root is
        the same: recent small answers are kept by request bytes (see ``_answers``)
        and a repeated lookup costs a dict lookup and the permission check."""
        raw = msg._payload
        hit = self._answers.get(raw)  # type: ignore[arg-type]
        if hit is not None:
            ns = self.namespaces.get(hit[0])
            if ns is not None and ns.rootref == hit[1]:
                ns.check_user(msg)
                self.respond(msg, hit[2])
                return
        self._crossed = False
        val, ns, rootref = self._do_lookup(msg)
        if val is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        data = val["data"]
        if val["type"] == "val" and type(data) is str:
            # the common answer, spelled out (what encode_json writes, in the stored order)
            answer = b'{"val":{"data":%s,"type":"val","ver":1}}\0' % _quote(data).encode()
        else:
            answer = encode_json({"val": val})
        self.respond(msg, answer)
        if (ns is not None and rootref == ns.rootref and not self._crossed
                and raw is not None and len(answer) <= _ANSWER_MAX):
            answers = self._answers
            if len(answers) >= _ANSWERS_MAX:
                answers.clear()
            answers[raw] = (ns.name, rootref, answer)

    def lookup_plus(self, msg: Message) -> None:
        """``kvs.lookup-plus`` (kvs-watch's): the value or ``errno`` ENOENT, with the root."""
        val, ns, rootref = self._do_lookup(msg)
        seq = ns.seq if ns is not None and ns.rootref == rootref else 0
        if val is None:
            self.respond(msg, {"errno": errno.ENOENT, "rootseq": seq, "rootref": rootref})
        else:
            self.respond(msg, {"val": val, "rootseq": seq, "rootref": rootref})

    def getroot(self, msg: Message) -> None:
        ns = self._namespace(_str(_request(msg), "namespace"), msg)
        self.respond(msg, {"owner": ns.owner, "rootseq": ns.seq, "rootref": ns.rootref,
                           "flags": ns.flags, "namespace": ns.name})

    def wait_version(self, msg: Message) -> None:
        obj = _request(msg)
        rootseq = _int(obj, "rootseq")
        ns = self._namespace(_str(obj, "namespace"), msg)
        if ns.seq < rootseq:
            ns.waiters.append((rootseq, msg))
            return
        self.respond(msg, {"rootseq": ns.seq, "rootref": ns.rootref})

    # -- writing ---------------------------------------------------------------------------

    def _authorize_ops(self, msg: Message, ops: Any) -> None:
        if not isinstance(ops, list):
            raise _eproto()
        if msg.rolemask & FLUX_ROLE_OWNER:
            return
        for op in ops:
            dirent = op.get("dirent") if isinstance(op, dict) else None
            if not isinstance(op, dict) or "dirent" not in op:
                raise OSError(errno.EPROTO, "could not decode commit operation")
            if dirent is None:
                continue
            typ = dirent.get("type") if isinstance(dirent, dict) else None
            if typ == "val" or (typ == "dir" and dirent.get("data") == {}):
                continue
            what = ("non-empty " if typ == "dir" else "") + (typ if isinstance(typ, str) else "???")
            raise OSError(errno.EPERM, f"guests may not commit {what} objects")

    def _txn_name(self) -> str:
        self._txn_seq += 1
        return f"transaction_req.{self.rank}.{self._txn_seq}"

    def _enqueue(self, ns: Namespace, txn: Transaction) -> None:
        ns.ready.append(txn)
        if ns.name not in self._busy:
            self._busy[ns.name] = ns
            self.schedule()

    def commit(self, msg: Message) -> None:
        """``kvs.commit``: queued; answered ``{"rootref","rootseq"}`` once applied."""
        obj = _request(msg)
        ops = obj.get("ops")
        name = _str(obj, "namespace")
        flags = _int(obj, "flags")
        self._authorize_ops(msg, ops)
        ns = self._namespace(name, msg)
        if flags & FLUX_KVS_SYNC and name != PRIMARY:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))  # flux-core: only primary
        self._enqueue(ns, Transaction(self._txn_name(), ops, flags, [msg]))

    def relaycommit(self, msg: Message) -> None:
        """``kvs.relaycommit`` (no response): a commit that a flux-core broker's kvs module
        on another rank took from its client, named by it.  Its outcome reaches that rank
        by the name: in the setroot event's ``names``, or in a
        ``kvs.namespace-NS-error`` event (``names``, ``errnum``), as flux-core's rank 0."""
        obj = _request(msg)
        ops = obj.get("ops")
        txn_name = _str(obj, "name")
        nsname = _str(obj, "namespace")
        flags = _int(obj, "flags")
        if not isinstance(ops, list):
            raise _eproto()

        def failed(errnum: int, _: Any) -> None:
            if errnum:
                self.publish(f"kvs.namespace-{nsname}-error", encode_json(
                    {"namespace": nsname, "names": [txn_name], "errnum": errnum}))

        ns = self.namespaces.get(nsname)
        if ns is None or ns.removed:
            failed(errno.ENOTSUP, None)
            return
        self._enqueue(ns, Transaction(txn_name, ops, flags, [failed]))

    def commit_ops(self, namespace: str, ops: list, flags: int,
                   done: Callable[[int, Optional[dict]], None]) -> None:
        """A commit from a service inside the broker (job-ingest, job-manager...), as the
        instance owner: queued and merged like any; ``done(0, {"rootref","rootseq"})``
        once applied and stored, or ``done(errnum, None)``."""
        ns = self.namespaces.get(namespace)
        if ns is None or ns.removed:
            done(errno.ENOTSUP, None)
            return
        self._enqueue(ns, Transaction(self._txn_name(), ops, flags, [done]))

    def lookup_at(self, namespace: str, key: str, flags: int = 0) -> dict:
        """A lookup for a service inside the broker, as the instance owner: the tree
        object (a copy it may keep); OSError as ``kvs.lookup`` answers."""
        ns = self.namespaces.get(namespace)
        if ns is None or ns.removed:
            raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))

        def root_of(name: str) -> str:
            other = self.namespaces.get(name)
            if other is None or other.removed:
                raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))
            return other.rootref

        return _lookup.lookup(ns.rootref, key, self.blobs, flags, root_of)

    def _fail(self, req: Any, errnum: int, text: Optional[str]) -> None:
        if type(req) is Message:
            self.respond_error(req, errnum, text)
        else:
            req(errnum, None)

    def fence(self, msg: Message) -> None:
        """``kvs.fence`` (older flux-core): ``nprocs`` requests named alike make one commit."""
        obj = _request(msg)
        ops = obj.get("ops")
        fname = _str(obj, "name")
        nprocs = _int(obj, "nprocs")
        nsname = _str(obj, "namespace")
        flags = _int(obj, "flags")
        if nprocs <= 0:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self._authorize_ops(msg, ops)
        ns = self._namespace(nsname, msg)
        key = (nsname, fname)
        fence = self._fences.get(key)
        if fence is None:
            fence = self._fences[key] = _Fence(nprocs, flags)
        elif fence.nprocs != nprocs or fence.flags != flags:
            raise OSError(errno.EINVAL, "fence parameters do not match")
        fence.ops.extend(ops)
        fence.requests.append(msg)
        if len(fence.requests) == nprocs:
            del self._fences[key]
            self._enqueue(ns, Transaction(fname, fence.ops, flags, fence.requests))

    def flush(self) -> None:
        """Apply every queued transaction (merging those that may be merged)."""
        while self._busy:
            self.apply_ready()

    def apply_ready(self) -> None:
        """Apply the transactions queued so far (merging those that may be merged); those
        their answers queue (a service's next events) wait for the next call, made busy
        again: the broker makes it after the other services' flushes, so what they commit
        meanwhile merges with them."""
        busy, self._busy = self._busy, {}
        for ns in busy.values():
            if not ns.ready:
                continue
            last = ns.ready[-1]  # the last one queued so far: later ones are appended
            while ns.ready and not ns.removed:
                self._apply_next(ns)
                if not any(txn is last for txn in ns.ready):
                    break

    def _apply_next(self, ns: Namespace) -> None:
        batch = ns.next_batch()
        if len(batch) == 1:
            ops = batch[0].ops
        else:
            ops = [op for txn in batch for op in txn.ops]
        try:
            result = _commit.apply(ns.rootref, ops, self.blobs, self.hashtype, ns.name)
            blobs = result.blobs
            if not self._empty_stored:
                blobs = dict(blobs)
                blobs[self.empty_ref] = EMPTY_DIR
            checkpoint = None
            if ns.name == PRIMARY:
                # compact JSON, as content-sqlite keeps it (a blobref needs no escaping)
                checkpoint = (f'{{"version":1,"rootref":"{result.rootref}",'
                              f'"sequence":{ns.seq + 1},"timestamp":{time.time()!r}}}')
            if blobs or checkpoint is not None:
                self.store().store_batch(blobs, checkpoint)
            self._empty_stored = True
        except OSError as exc:
            errnum = exc.errno or errno.EINVAL
            if len(batch) > 1 and errnum not in (errno.ENOMEM, errno.ENOTSUP):
                for txn in batch:  # retry each alone: only the bad one fails
                    txn.flags |= 1  # FLUX_KVS_NO_MERGE
                return
            del ns.ready[0]
            text = exc.strerror if exc.strerror != os.strerror(errnum) else None
            for req in batch[0].requests:
                self._fail(req, errnum, text)
            return
        del ns.ready[:len(batch)]
        add = self.blobs.add
        for ref, obj in result.treeobjs.items():
            add(ref, obj)
        ns.rootref = result.rootref
        ns.seq += 1
        self.commits += 1
        self.ops_applied += len(ops)
        names = [txn.name for txn in batch]
        # "keys" is an object with a null per key, as flux-core's kvstxn builds it
        self.publish(f"kvs.namespace-{ns.name}-setroot", lambda: encode_json(
            {"namespace": ns.name, "rootseq": ns.seq, "rootref": ns.rootref, "names": names,
             "keys": dict.fromkeys(sorted(result.keys)), "owner": ns.owner}))
        answer = {"rootref": ns.rootref, "rootseq": ns.seq}
        for txn in batch:
            for req in txn.requests:
                if type(req) is Message:
                    self.respond(req, answer)
                else:  # a service inside the broker (commit_ops)
                    req(0, answer)
        for req in ns.take_waiters():
            self.respond(req, answer)

    # -- housekeeping ------------------------------------------------------------------------

    def dropcache(self, msg: Optional[Message] = None) -> None:
        """``kvs.dropcache`` (and the ``kvs.dropcache`` event): forget decoded blobs."""
        self.blobs.clear()
        self.blobs.add(self.empty_ref, treeobj.create_dir())
        self._answers.clear()
        if msg is not None:
            self.respond(msg, None)

    def disconnect(self, msg: Message) -> None:
        """A client went away: its parked ``wait-version`` requests need no answer."""
        sender = msg.route_first
        for ns in self.namespaces.values():
            if ns.waiters:
                ns.waiters = [(s, m) for s, m in ns.waiters
                              if not (m.route_first == sender
                                      and (msg.rolemask & FLUX_ROLE_OWNER
                                           or m.userid == msg.userid))]

    def stats(self, msg: Message) -> None:
        """``kvs.stats-get``: cache and namespace figures (flux-core's shape, roughly)."""
        namespaces = {
            ns.name: {"#versionwaiters": len(ns.waiters), "#no-op stores": 0,
                      "#transactions": len(ns.ready), "#readytransactions": len(ns.ready),
                      "store revision": ns.seq}
            for ns in self.namespaces.values()}
        self.respond(msg, {
            "cache": {"count": len(self.blobs)},
            "namespace": namespaces,
            "pending_requests": sum(len(ns.waiters) for ns in self.namespaces.values()),
            "transaction-opcount": {"count": self.commits, "ops": self.ops_applied},
        })
