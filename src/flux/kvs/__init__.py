"""``flux.kvs``: flux-core's Python KVS API, plus the libkvs layer beneath it, plus asyncio.

flux-core's names, signatures, defaults and errors: ``get``, ``put``,
``commit``, ``KVSDir``, ``KVSTxn``, ``kvs_watch_async``... so scripts written
for flux-core run unchanged.  Beneath them, libkvs's calls (``lookup``,
``lookupat``, ``getroot``, ``wait_version``, ``commit_ops``) return futures
that the ``flux kvs`` command and asyncio code use directly: every future
here can be awaited, and a watch iterated with ``async for``.

The submodules load on first use of one of their names, so ``import
flux.kvs`` costs almost nothing:

* ``namespaces`` - which namespace a call uses; create, remove, list
* ``lookups`` - lookups and their futures; ``get_key_direct``, ``exists``, ``isdir``
* ``ops`` / ``txn`` - transaction operations; staging and committing them
* ``roots`` - ``getroot``, ``wait_version``, and the futures naming a root
* ``kvsdir`` - ``KVSDir``, ``get``, ``get_dir``, ``walk``
* ``watch`` - ``WatchImplementation``, ``KVSWatchFuture``, ``kvs_watch_async``
* ``service`` - ``dropcache``, ``kvs_checkpoint_lookup``
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    # "X as X" re-exports them: type checkers cannot compute __all__ = sorted(_HOME)
    from flux.kvs.kvsdir import (
        KVSDir as KVSDir,
        get as get,
        get_dir as get_dir,
        join as join,
        walk as walk,
    )
    from flux.kvs.lookups import (
        LookupFuture as LookupFuture,
        exists as exists,
        get_key_direct as get_key_direct,
        isdir as isdir,
        lookup as lookup,
        lookupat as lookupat,
    )
    from flux.kvs.namespaces import (
        get_namespace as get_namespace,
        namespace_create as namespace_create,
        namespace_list as namespace_list,
        namespace_remove as namespace_remove,
    )
    from flux.kvs.roots import (
        RootFuture as RootFuture,
        get_version as get_version,
        getroot as getroot,
        wait_version as wait_version,
    )
    from flux.kvs.service import (
        dropcache as dropcache,
        kvs_checkpoint_lookup as kvs_checkpoint_lookup,
    )
    from flux.kvs.txn import (
        KVSTxn as KVSTxn,
        commit as commit,
        commit_async as commit_async,
        commit_ops as commit_ops,
        put as put,
        put_mkdir as put_mkdir,
        put_symlink as put_symlink,
        put_unlink as put_unlink,
    )
    from flux.kvs.watch import (
        KVSWatchFuture as KVSWatchFuture,
        WatchImplementation as WatchImplementation,
        kvs_watch_async as kvs_watch_async,
    )

# name -> the submodule that defines it
_HOME = {
    "get_namespace": "namespaces", "namespace_create": "namespaces",
    "namespace_remove": "namespaces", "namespace_list": "namespaces",
    "lookup": "lookups", "lookupat": "lookups", "LookupFuture": "lookups",
    "get_key_direct": "lookups", "exists": "lookups", "isdir": "lookups",
    "KVSTxn": "txn", "put": "txn", "put_mkdir": "txn", "put_unlink": "txn",
    "put_symlink": "txn", "commit": "txn", "commit_async": "txn", "commit_ops": "txn",
    "RootFuture": "roots", "getroot": "roots", "wait_version": "roots", "get_version": "roots",
    "KVSDir": "kvsdir", "get": "kvsdir", "get_dir": "kvsdir", "join": "kvsdir", "walk": "kvsdir",
    "WatchImplementation": "watch", "KVSWatchFuture": "watch", "kvs_watch_async": "watch",
    "dropcache": "service", "kvs_checkpoint_lookup": "service",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'flux.kvs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"flux.kvs.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
