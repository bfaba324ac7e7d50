"""``flux kvs get``, ``dir`` and ``readlink``: lookups printed as flux-core prints them.

``get`` prints each value with a newline (none for an empty value, none
with ``--raw``), its RFC 11 object with ``--treeobj``, ``KEY=`` first with
``--label``; with ``--watch`` every change until ``--count`` is reached
(then a cancel) or the stream ends, with ``--stream`` the pieces of one
large value.  ``dir`` prints ``key = value`` lines cut to the window,
``key.`` for a directory and ``key -> target`` for a symlink, sorted, as
flux-core's; a symlink under ``dir -N NS`` is read in NS (flux-core 0.88
reads it in the default namespace, through a shadowed variable).
Failures: ``flux-kvs: KEY: strerror``, exit 1.
"""

from __future__ import annotations

import errno

from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_KVS_READLINK,
    FLUX_KVS_STREAM,
    FLUX_KVS_TREEOBJ,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_UNIQ,
)

from . import _kvs_output as out
from ._kvs_format import c_string, key_at, kv_line, link_target, to_bytes, window_width

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._kvs_options import Args


def start_lookup(h: Any, key: str, flags: int, namespace: str | None,
                 at: str | None = None) -> Any:
    """A lookup future, in ``namespace`` or in the snapshot ``at`` (RFC 11 JSON text).

    Raises OSError (EINVAL for an empty key or a bad snapshot) where flux-core's
    ``flux_kvs_lookup``/``flux_kvs_lookupat`` return NULL.
    """
    from flux.kvs.lookups import lookup, lookupat

    if at is not None:
        return lookupat(h, key, at, flags)
    return lookup(h, key, flags, namespace)


def treeobj_text(obj: dict) -> bytes:
    """A tree object as flux-core prints one (compact, keys sorted)."""
    from flux.services.kvs import treeobj

    return treeobj.encode(obj)


# -- get ---------------------------------------------------------------------------------

class _Getter:
    """One ``flux kvs get`` run: its options and how many changes it has printed."""

    def __init__(self, p: Args) -> None:
        self.p = p
        self.watch = p.hasopt("watch")
        self.stream = p.hasopt("stream")
        self.treeobj = p.hasopt("treeobj")
        self.raw = p.hasopt("raw")
        self.label = p.hasopt("label")
        self.maxcount = p.get_int("count", 0)
        self.count = 0
        self.have_output = False
        self.namespace = p.get_str("namespace")

    def flags(self) -> int:
        p = self.p
        flags = FLUX_KVS_TREEOBJ if self.treeobj else 0
        if self.watch:
            flags |= FLUX_KVS_WATCH
            if p.hasopt("full"):
                flags |= FLUX_KVS_WATCH_FULL
            if p.hasopt("uniq"):
                flags |= FLUX_KVS_WATCH_UNIQ
            if p.hasopt("append"):
                flags |= FLUX_KVS_WATCH_APPEND
        if p.hasopt("waitcreate"):
            flags |= FLUX_KVS_WAITCREATE
        if self.stream:
            flags |= FLUX_KVS_STREAM
        return flags

    def start(self, h: Any, key: str) -> None:
        try:
            f = start_lookup(h, key, self.flags(), self.namespace, self.p.get_str("at"))
        except OSError as exc:
            out.err_exit(key, exc)
        f.then(self.on_response)
        if not self.watch:
            h.reactor_run()

    def _label(self, key: str) -> None:
        if self.label:
            out.write(to_bytes(key) + b"=")

    def on_response(self, f: Any) -> None:
        key = f.get_key()
        if self.watch or self.stream:
            try:
                f.get()
            except OSError as exc:
                if exc.errno == errno.ENODATA:  # the end of the stream
                    if self.stream and self.have_output:
                        out.write(b"\n")
                    return
        try:
            if self.treeobj:
                text = treeobj_text(f.get_treeobj())
                self._label(key)
                out.write(text + b"\n")
            elif self.raw:
                data = f.get_value() or b""
                self._label(key)
                out.write(data)
            else:
                value = c_string(f.get_value())
                self._label(key)
                if value is not None:
                    out.write(value if self.stream else value + b"\n")
                    self.have_output = True
        except OSError as exc:
            out.err_exit(key, exc)
        out.flush()
        if self.watch:
            f.reset()
            if self.maxcount > 0:
                self.count += 1
                if self.count == self.maxcount:
                    try:
                        f.cancel()
                    except OSError as exc:
                        out.err_exit("flux_kvs_lookup_cancel", exc)
        elif self.stream:
            f.reset()


def cmd_get(p: Args) -> int:
    if not p.args:
        p.command.print_usage()
        raise SystemExit(1)
    getter = _Getter(p)
    h = out.open_handle()
    for key in p.args:
        getter.start(h, key)
    if getter.watch:  # all the watches at once; otherwise each lookup ran in turn
        h.reactor_run()
    return 0


# -- dir ---------------------------------------------------------------------------------

class _DirDumper:
    """``flux kvs dir``: the entries of a directory, recursively with ``-R``."""

    def __init__(self, h: Any, p: Args, maxcol: int) -> None:
        self.h = h
        self.maxcol = maxcol
        self.namespace = p.get_str("namespace")
        self.recursive = p.hasopt("recursive")
        self.names_only = p.hasopt("directory")

    def lookup(self, key: str, flags: int, at: str | None) -> Any:
        try:
            return start_lookup(self.h, key, flags, self.namespace, at)
        except OSError as exc:
            out.err_exit(key, exc)

    def dump(self, dirobj: dict, dirkey: str, at: str | None) -> None:
        data = dirobj["data"]
        for name in sorted(data, key=to_bytes):
            key = key_at(dirkey, name)
            kind = data[name].get("type")
            if kind == "symlink":
                f = self.lookup(key, FLUX_KVS_READLINK, at)
                try:
                    ns, target = f.get_symlink()
                except OSError as exc:
                    out.err_exit(key, exc)
                out.write(to_bytes(f"{key} -> {link_target(ns, target)}\n"))
            elif kind in ("dir", "dirref"):
                if not self.recursive:
                    out.write(to_bytes(key) + b".\n")
                    continue
                f = self.lookup(key, FLUX_KVS_READDIR, at)
                try:
                    sub = f.get_dir()
                except OSError as exc:
                    out.err_exit(key, exc)
                if not sub["data"]:
                    out.write(to_bytes(key) + b".\n")
                else:
                    self.dump(sub, key, at)
            elif self.names_only:
                out.write(to_bytes(key) + b"\n")
            else:
                f = self.lookup(key, 0, at)
                try:
                    value = c_string(f.get_value()) or b""
                except OSError as exc:
                    out.err_exit(key, exc)
                out.write(kv_line(to_bytes(key), value, self.maxcol))


def cmd_dir(p: Args) -> int:
    maxcol = window_width(p.get_int("width", -1))
    if len(p.args) > 1:
        out.msg_exit("dir: specify zero or one directory")
    key = p.args[0] if p.args else "."
    h = out.open_handle()
    at = p.get_str("at")
    dumper = _DirDumper(h, p, maxcol)
    f = dumper.lookup(key, FLUX_KVS_READDIR, at)
    try:
        dirobj = f.get_dir()
    except OSError as exc:
        out.err_exit(key, exc)
    dumper.dump(dirobj, key, at)
    return 0


# -- readlink ----------------------------------------------------------------------------

def cmd_readlink(p: Args) -> int:
    if not p.args:
        p.command.print_usage()
        raise SystemExit(1)
    namespace = p.get_str("namespace")
    ns_only = p.hasopt("namespace-only")
    key_only = p.hasopt("key-only")
    at = p.get_str("at")
    h = out.open_handle()
    for key in p.args:
        try:
            ns, target = start_lookup(h, key, FLUX_KVS_READLINK, namespace, at).get_symlink()
        except OSError as exc:
            out.err_exit(key, exc)
        if ns_only and ns is not None:
            line = ns
        elif key_only:
            line = target
        else:
            line = link_target(ns, target)
        out.write(to_bytes(line) + b"\n")
    return 0
