"""``flux kvs put``, ``unlink``, ``link``, ``mkdir``, ``copy``, ``move``, ``sync``: commits.

Each builds one transaction and commits it, as flux-core's ``flux-kvs``:
``put`` stores each value as given (no NUL added; ``-`` reads stdin with
``--raw`` or ``--treeobj``), ``unlink`` first checks each key (missing:
ENOENT unless ``-f``; a non-empty directory: ENOTEMPTY unless ``-R``).
After the commit, ``-O``/``-b``/``-s`` print the new root as a dirref, a
blobref or a sequence number.  ``copy`` puts the source's tree object at
the destination; ``move`` then unlinks the source.  ``sync`` commits
nothing with FLUX_KVS_SYNC.
"""

from __future__ import annotations

import errno

from flux.constants import (
    FLUX_KVS_APPEND,
    FLUX_KVS_NO_MERGE,
    FLUX_KVS_READDIR,
    FLUX_KVS_SYNC,
    FLUX_KVS_TREEOBJ,
)

from . import _kvs_output as out
from ._kvs_format import to_bytes
from ._kvs_read import start_lookup, treeobj_text

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._kvs_options import Args


def _usage_if_no_args(p: Args) -> None:
    if not p.args:
        p.command.print_usage()
        raise SystemExit(1)


def commit(h: Any, ops: list[dict], flags: int = 0, namespace: str | None = None) -> Any:
    """Send the commit; its future."""
    from flux.kvs.txn import commit_ops

    return commit_ops(h, ops, flags, namespace)


def commit_finish(f: Any, p: Args, label: str = "flux_kvs_commit") -> None:
    """Wait for a commit and print what ``-O``, ``-b`` or ``-s`` ask for."""
    try:
        if p.hasopt("treeobj-root"):
            text = treeobj_text(f.get_treeobj())
            out.write(text + b"\n")
        elif p.hasopt("blobref"):
            out.write(f"{f.get_rootref()}\n")
        elif p.hasopt("sequence"):
            out.write(f"{f.get_sequence()}\n")
        else:
            f.get()
    except OSError as exc:
        if p.hasopt("treeobj-root"):
            label = "flux_kvs_commit_get_treeobj"
        elif p.hasopt("blobref"):
            label = "flux_kvs_commit_get_rootref"
        elif p.hasopt("sequence"):
            label = "flux_kvs_commit_get_sequence"
        out.err_exit(label, exc)


def _stdin_or(value: str) -> bytes:
    """``-`` means all of stdin; anything else is the argument's bytes."""
    if value == "-":
        import sys

        try:
            return sys.stdin.buffer.read()
        except OSError as exc:
            out.err_exit("stdin", exc)
    return to_bytes(value)


def put_op(p: Args, arg: str, flags: int) -> dict:
    """The operation for one ``key=value`` argument."""
    from flux.kvs import ops
    from flux.services.kvs import treeobj

    key, eq, value = arg.partition("=")
    if not eq:
        out.msg_exit("put: you must specify a value as key=value")
    try:
        if p.hasopt("treeobj"):
            obj = treeobj.decode(_stdin_or(value))  # EPROTO before the key is checked
            return ops.put_treeobj_op(key, obj)
        if p.hasopt("raw"):
            return ops.put_raw_op(key, _stdin_or(value), flags)
        return ops.put_raw_op(key, to_bytes(value), flags)
    except OSError as exc:
        out.err_exit(key, exc)


def cmd_put(p: Args) -> int:
    _usage_if_no_args(p)
    namespace = p.get_str("namespace")
    commit_flags = (FLUX_KVS_NO_MERGE if p.hasopt("no-merge") else 0) \
        | (FLUX_KVS_SYNC if p.hasopt("sync") else 0)
    h = out.open_handle()
    put_flags = FLUX_KVS_APPEND if p.hasopt("append") else 0
    txn = [put_op(p, arg, put_flags) for arg in p.args]
    commit_finish(commit(h, txn, commit_flags, namespace), p)
    return 0


# -- unlink --------------------------------------------------------------------------------

def _unlinkable(h: Any, key: str, namespace: str | None, recursive: bool, force: bool) -> bool:
    """Whether ``key`` may be unlinked (False: missing, with ``-f``); raises OSError otherwise."""
    try:
        obj = start_lookup(h, key, FLUX_KVS_TREEOBJ, namespace).get_treeobj()
    except OSError as exc:
        if exc.errno == errno.ENOENT and force:
            return False
        raise
    kind = obj["type"]
    if kind == "dir" and not recursive and obj["data"]:
        raise OSError(errno.ENOTEMPTY, "")
    if kind == "dirref" and not recursive \
            and start_lookup(h, key, FLUX_KVS_READDIR, namespace).get_dir()["data"]:
        raise OSError(errno.ENOTEMPTY, "")  # a dirref is resolved by a second lookup
    return True


def cmd_unlink(p: Args) -> int:
    _usage_if_no_args(p)
    namespace = p.get_str("namespace")
    recursive, force = p.hasopt("recursive"), p.hasopt("force")
    h = out.open_handle()
    from flux.kvs import ops
    txn = []
    for key in p.args:
        try:
            if not _unlinkable(h, key, namespace, recursive, force):
                continue
        except OSError as exc:
            out.err_exit(f"cannot unlink '{key}'", exc)
        try:
            txn.append(ops.unlink_op(key))
        except OSError as exc:
            out.err_exit(key, exc)
    commit_finish(commit(h, txn, 0, namespace), p)
    return 0


# -- link, mkdir -----------------------------------------------------------------------------

def cmd_link(p: Args) -> int:
    _usage_if_no_args(p)
    if len(p.args) != 2:
        out.msg_exit("link: specify target and link_name")
    target, linkname = p.args
    h = out.open_handle()
    from flux.kvs import ops
    try:
        op = ops.symlink_op(linkname, target, p.get_str("target-namespace"))
    except OSError as exc:
        out.err_exit(linkname, exc)
    commit_finish(commit(h, [op], 0, p.get_str("namespace")), p)
    return 0


def cmd_mkdir(p: Args) -> int:
    _usage_if_no_args(p)
    namespace = p.get_str("namespace")
    h = out.open_handle()
    from flux.kvs import ops
    txn = []
    for key in p.args:
        try:
            txn.append(ops.mkdir_op(key))
        except OSError as exc:
            out.err_exit(key, exc)
    commit_finish(commit(h, txn, 0, namespace), p, "kvs_commit")
    return 0


# -- copy, move, sync ------------------------------------------------------------------------

def copy(h: Any, srcns: str | None, srckey: str, dstns: str | None, dstkey: str) -> None:
    """Put the tree object at ``srckey`` (a reference for a directory) at ``dstkey``."""
    from flux.kvs import ops

    obj = start_lookup(h, srckey, FLUX_KVS_TREEOBJ, srcns).get_treeobj()
    commit(h, [ops.put_treeobj_op(dstkey, obj)], 0, dstns).get()


def _copy_args(p: Args, word: str) -> tuple[str, str]:
    if len(p.args) != 2:
        out.msg_exit(f"{word}: specify srckey dstkey")
    return p.args[0], p.args[1]


def cmd_copy(p: Args) -> int:
    srckey, dstkey = _copy_args(p, "copy")
    h = out.open_handle()
    try:
        copy(h, p.get_str("src-namespace"), srckey, p.get_str("dst-namespace"), dstkey)
    except OSError as exc:
        out.err_exit("flux_kvs_copy", exc)
    return 0


def cmd_move(p: Args) -> int:
    srckey, dstkey = _copy_args(p, "move")
    srcns = p.get_str("src-namespace")
    h = out.open_handle()
    from flux.kvs import ops
    try:
        copy(h, srcns, srckey, p.get_str("dst-namespace"), dstkey)
        commit(h, [ops.unlink_op(srckey)], 0, srcns).get()
    except OSError as exc:
        out.err_exit("flux_kvs_move", exc)
    return 0


def cmd_sync(p: Args) -> int:
    if p.args:
        p.command.print_usage()
        raise SystemExit(1)
    h = out.open_handle()
    try:
        commit(h, [], FLUX_KVS_SYNC).get()
    except OSError as exc:
        out.err_exit("flux_kvs_commit", exc)
    return 0
