"""``flux kvs ls``: keys in columns, as flux-core's mimicry of ls(1).

The keys named (``.`` if none) are sorted into values, shown first in one
block of columns, and directories, each listed after a ``KEY:`` label when
there are several (or ``-R``, which descends into subdirectories).  A key
ending in ``.`` must be a directory.  A symlink is followed (a directory
target is listed, anything else shows its name) unless ``-F`` or ``-d``.
A key that cannot be listed prints ``KEY: strerror`` (no program name, as
flux-core) and the command goes on, exiting 1 at the end.
"""

from __future__ import annotations

import errno
import os
import sys

from flux.constants import FLUX_KVS_READDIR, FLUX_KVS_TREEOBJ

from . import _kvs_output as out
from ._kvs_format import columns, key_at, to_bytes, window_width
from ._kvs_read import start_lookup

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._kvs_options import Args


class _Lister:
    def __init__(self, h: Any, p: Args, width: int) -> None:
        self.h = h
        self.namespace: str | None = p.get_str("namespace")
        self.width = width
        self.recursive = p.hasopt("recursive")
        self.directory = p.hasopt("directory")
        self.classify = p.hasopt("classify")
        self.dirs: list[str] = []
        self.singles: list[str] = []

    def _lookup(self, key: str, flags: int) -> Any:
        try:
            return start_lookup(self.h, key, flags, self.namespace)
        except OSError as exc:
            out.err_exit("flux_kvs_lookup", exc)

    @staticmethod
    def _complain(key: str, errnum: int) -> bool:
        out.flush()
        sys.stderr.write(f"{key}: {os.strerror(errnum)}\n")
        sys.stderr.flush()
        return False

    def categorize(self, key: str) -> bool:
        """File ``key`` among the dirs to list or the singles to show; False if it cannot be."""
        require_dir = False
        while len(key) > 1 and key.endswith("."):
            key = key[:-1]
            require_dir = True
        f = self._lookup(key, FLUX_KVS_TREEOBJ)
        try:
            kind = f.get_treeobj()["type"]
        except OSError as exc:
            return self._complain(key, out.errno_of(exc))
        if kind in ("dir", "dirref"):
            if self.directory:
                self.singles.append(key + "." if self.classify else key)
            else:
                self.dirs.append(key)
        elif kind in ("val", "valref"):
            if require_dir:
                return self._complain(key, errno.ENOTDIR)
            self.singles.append(key)
        elif kind == "symlink":
            if require_dir:
                return self._complain(key, errno.ENOTDIR)
            if self.classify or self.directory:
                self.singles.append(key + "@" if self.classify else key)
            else:
                self._categorize_link(key)
        self.singles.sort(key=to_bytes)
        self.dirs.sort(key=to_bytes)
        return True

    def _categorize_link(self, key: str) -> None:
        """A link to a directory lists it; to a value, or to nothing, shows its name."""
        f = self._lookup(key, 0)
        try:
            f.get_value()
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                self.dirs.append(key)
                return
            if exc.errno != errno.ENOENT:
                out.err_exit(key, exc)
        self.singles.append(key)

    def list_dir(self, key: str, label: bool, vspace: bool) -> None:
        try:
            dirobj = start_lookup(self.h, key, FLUX_KVS_READDIR, self.namespace).get_dir()
        except OSError as exc:
            out.err_exit(key, exc)
        if label:
            out.write(("\n" if vspace else "") + key + ":\n")
        data = dirobj["data"]
        names = sorted(data, key=to_bytes)
        col_width = max((len(to_bytes(n)) for n in names), default=0) + 4
        shown = [to_bytes(n + self._indicator(data[n])) for n in names]
        out.write(columns(shown, self.width, col_width))
        if self.recursive:
            for name in names:
                if data[name].get("type") in ("dir", "dirref"):
                    self.list_dir(key_at(key, name), label, True)

    def _indicator(self, entry: dict) -> str:
        if not self.classify:
            return ""
        kind = entry.get("type")
        if kind in ("dir", "dirref"):
            return "."
        return "@" if kind == "symlink" else ""


def cmd_ls(p: Args) -> int:
    width = window_width(p.get_int("width", -1))
    if p.hasopt("1"):
        width = 1
    h = out.open_handle()
    lister = _Lister(h, p, width)
    ok = True
    for key in p.args or ["."]:
        ok = lister.categorize(key) and ok
    label = vspace = False
    if lister.singles:
        out.write(columns([to_bytes(k) for k in lister.singles], width))
        label = vspace = True
    if lister.recursive or len(lister.dirs) > 1:
        label = True
    for key in lister.dirs:
        lister.list_dir(key, label, vspace)
        vspace = True
    return 0 if ok else -1
