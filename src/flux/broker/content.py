"""The ``content`` service (RFC 10) on rank 0: load, store, flush, dropcache.

flux-core runs a cache module in front of a SQLite backing module; a size-1
pureflux broker serves the store itself (``flux.services.content.store``),
writing through to SQLite, so nothing is ever dirty: ``content.flush`` and
``content.dropcache`` succeed at once, and ``content-backing.load/store``
(what ``--bypass-cache`` uses) are the same methods, and so are
``checkpoint-get/put`` (the KVS root kept across restarts: flux-core's
``checkpt_v2`` table).  Payloads are raw bytes:
store takes the blob and answers its digest, load the reverse.  Owner only.

Where the database lives: ``statedir/content.sqlite`` when ``-S statedir=DIR``
is given (kept across restarts), else a temporary directory in ``$TMPDIR`` or
``/var/tmp`` (as flux-core's), named ``pureflux-content-*``, not ``flux-*`` as
flux-core's, so that it is not mistaken for the run directory; once sqlite has
the file open, the file and the directory are removed (the store lives on in
its descriptor, and a killed broker leaves nothing behind).  ``-S content.hash=sha256`` chooses the hash,
``-S content.blob-size-limit=N`` the size limit (flux-core's module option
``blob-size-limit``).
"""

from __future__ import annotations

import errno
import os

from flux.message import Message
from flux.services.content import DB_FILENAME, DEFAULT_BLOB_SIZE_LIMIT
from flux.services.content.blobref import DIGEST_SIZES

from .attrs import Attrs
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

    from flux.services.content.store import ContentStore

__all__ = ["Content"]


class Content:
    """Takes the content attributes from ``-S`` values, registers the service;
    :meth:`open` creates the database at start-up, :meth:`close` at exit."""

    def __init__(self, router: Router, attrs: Attrs, setattrs: dict[str, str],
                 environ: dict[str, str]) -> None:
        """Pops ``content.hash`` and ``content.blob-size-limit`` from ``setattrs``
        (both immutable: they are initial values); ValueError for a bad one."""
        self.router = router
        self.hashtype = setattrs.pop("content.hash", "sha1")
        if self.hashtype not in DIGEST_SIZES:
            raise ValueError(f"content.hash: unknown hash type {self.hashtype!r}")
        limit = setattrs.pop("content.blob-size-limit", str(DEFAULT_BLOB_SIZE_LIMIT))
        try:
            self.blob_size_limit = int(limit)
            if not 0 <= self.blob_size_limit <= 0xFFFFFFFF:
                raise ValueError
        except ValueError:
            raise ValueError(f"content.blob-size-limit: invalid value {limit!r}") from None
        attrs.add("content.hash", self.hashtype)
        attrs.add("content.blob-size-limit", str(self.blob_size_limit))
        self.statedir = setattrs.get("statedir") or None  # the attribute itself is stored later
        self.tmpdir = environ.get("TMPDIR") or "/var/tmp"
        self.created_dir: Optional[str] = None
        self.store: Optional[ContentStore] = None
        for name in ("content", "content-backing"):
            svc = router.builtin(name)
            svc.method("load", self._load)
            svc.method("store", self._store)
            svc.method("checkpoint-get", self._checkpoint_get)
            svc.method("checkpoint-put", self._checkpoint_put)
        svc = router.services["content"]
        svc.method("flush", self._done)
        svc.method("dropcache", self._done)

    def open(self) -> None:
        """Create or reopen the database; OSError with a path in its text if that fails.

        The broker opens a statedir's database at start-up (a locked or unusable one
        stops it there); a temporary one is created on the first request, so an
        instance that never stores a blob pays nothing for sqlite3 at start-up."""
        from flux.services.content.store import ContentStore
        if self.statedir:
            directory = os.path.abspath(self.statedir)
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise OSError(exc.errno, f"statedir {directory}: {exc.strerror}") from None
        else:
            parent = self.tmpdir if os.access(self.tmpdir, os.W_OK | os.X_OK) else "/tmp"
            from .rundir import make_rundir

            directory = make_rundir(parent, prefix="pureflux-content-")
            self.created_dir = directory
        try:
            self.store = ContentStore(os.path.join(directory, DB_FILENAME), self.hashtype,
                                      self.blob_size_limit, durable=self.statedir is not None)
        except OSError:
            self._remove_dir()
            raise
        if self.created_dir is not None:
            # A throw-away store (no journal, exclusive lock: sqlite opens no other file)
            # lives on in its open descriptor: its name and directory go now.  Nothing
            # is left behind even by a broker killed with SIGKILL, and the exit does not
            # wait for the directory's removal (4-6 ms at the end of a 16-broker
            # instance, behind the file system's journal).
            self._remove_dir()

    def close(self) -> None:
        """Close the database and remove it unless it lives in a statedir."""
        if self.store is not None:
            self.store.close()
            self.store = None
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self.created_dir is not None:
            from .rundir import remove_tree

            remove_tree(self.created_dir)
            self.created_dir = None

    def opened(self) -> ContentStore:
        if self.store is None:
            self.open()  # a temporary store: created on first use
        assert self.store is not None
        return self.store

    # -- service methods (OSError -> its errno, answered by the router) -------------------

    def _load(self, msg: Message) -> None:
        self.router.respond(msg, self.opened().load(msg.payload_bytes or b"") or None)

    def _store(self, msg: Message) -> None:
        self.router.respond(msg, self.opened().store(msg.payload_bytes or b""))

    def _checkpoint_get(self, msg: Message) -> None:
        """``{"value": [checkpoint, ...]}``, newest first; ENOENT if none was written."""
        import json

        values = [json.loads(text) for text in self.opened().checkpoint_get()]
        self.router.respond(msg, {"value": values})

    def _checkpoint_put(self, msg: Message) -> None:
        """``{"value": checkpoint}``: kept as compact JSON, as content-sqlite keeps it."""
        from flux.message import compact_json

        value = msg.payload_json().get("value")
        if not isinstance(value, dict):
            raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
        self.opened().checkpoint_put(compact_json(value))
        self.router.respond(msg)

    def _done(self, msg: Message) -> None:
        self.router.respond(msg)
