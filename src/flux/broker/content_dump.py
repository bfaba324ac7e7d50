"""``content.restore`` at start and ``content.dump`` at shutdown (rank 0), as flux-core's rc.

flux-core's rc1 restores an archive (``flux restore --checkpoint``) before
its KVS module loads, after truncating the backing store; its rc3 dumps the
last checkpoint (``flux dump --checkpoint``) after the KVS unloads.  A
pureflux broker's KVS is part of the broker and never unloaded, so:

* the restore happens in the broker itself, before the KVS takes its root
  from the checkpoint: the statedir's database is removed, the archive's blobs
  go straight into the content store, and a checkpoint names the new root
  (with sequence 0 and the newest entry's time, as ``flux restore`` writes it);
* the dump is a command appended to rc3 when the broker enters finalize
  (``content.dump`` may change until then: ``flux shutdown --dump``), so it runs
  last, while the content service still answers, and logs as rc3 does.

``auto`` means ``STATEDIR/dump/YYYYmmdd_HHMMSS.tgz`` (``./dump`` without a
statedir) and a ``RESTORE`` symlink to it, which ``content.restore=auto``
follows and removes.
"""

from __future__ import annotations

import os

from flux.severity import LOG_INFO

from .attrs import Attrs
from .content import Content

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["auto_dump_dir", "dump_command", "install_dump", "restore_at_start"]


def auto_dump_dir(attrs: Attrs) -> str:
    """Where ``auto`` dumps go: ``statedir/dump`` for a statedir that is kept (flux-core
    looks at ``statedir-cleanup``; pureflux never removes a statedir), else ``./dump``."""
    statedir = attrs.get("statedir")
    if statedir and attrs.get("statedir-cleanup") != "1":
        return os.path.join(statedir, "dump")
    return os.path.join(".", "dump")


def dump_command(attrs: Attrs, now: Optional[float] = None) -> Optional[str]:
    """The rc3 command line ``content.dump`` asks for (None if unset)."""
    target = attrs.get("content.dump")
    if not target:
        return None
    import shlex
    import time

    link = None
    prefix = ""
    if target == "auto":
        directory = auto_dump_dir(attrs)
        stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
        target = os.path.join(directory, f"{stamp}.tgz")
        link = os.path.join(directory, "RESTORE")
        prefix = f"mkdir -p {shlex.quote(directory)} && "
    cmd = (f"{prefix}echo {shlex.quote(f'dumping content to {target}')} && "
           f"flux dump --quiet --ignore-failed-read --no-cache --checkpoint "
           f"{shlex.quote(target)}")
    if link is not None:
        cmd += f" && ln -s {shlex.quote(os.path.basename(target))} {shlex.quote(link)}"
    return cmd


def install_dump(state_machine: Any, runat: Any, attrs: Attrs) -> None:
    """Entering finalize, append the dump (if ``content.dump`` is set) to rc3."""
    from .state_machine import FINALIZE

    run_finalize = state_machine.actions[FINALIZE]

    def finalize() -> None:
        cmdline = dump_command(attrs)
        if cmdline is not None:
            runat.append("rc3", cmdline)
        run_finalize()

    state_machine.actions[FINALIZE] = finalize


def restore_at_start(content: Content, attrs: Attrs, log: Callable[[int, str], Any]) -> None:
    """Open the content store; first, if ``content.restore`` names an archive, start it
    afresh from that archive.  OSError (its text names what failed) stops the broker."""
    from pathlib import Path

    dumpfile: Optional[Path] = None
    dumplink: Optional[Path] = None
    value = attrs.get("content.restore")
    if value == "auto":
        link = Path(auto_dump_dir(attrs)) / "RESTORE"
        if link.is_symlink():
            dumpfile, dumplink = link.resolve(), link
    elif value:
        dumpfile = Path(value)
    if dumpfile is not None and content.statedir:
        _truncate(content.statedir)
    content.open()
    if dumpfile is None:
        return
    log(LOG_INFO, f"restoring content from {dumpfile}")
    if dumpfile.exists():
        _restore(content, str(dumpfile))
    if dumplink is not None and dumplink.is_symlink():
        dumplink.unlink()


def _truncate(statedir: str) -> None:
    """Remove the statedir's database (flux-core's content-sqlite ``truncate``)."""
    from flux.services.content import DB_FILENAME

    base = os.path.join(os.path.abspath(statedir), DB_FILENAME)
    for path in (base, base + "-wal", base + "-shm"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _restore(content: Content, path: str) -> None:
    """The archive's tree into the store, and a checkpoint naming its root."""
    import errno
    import time

    from flux.message import compact_json
    from flux.services.content.blobref import hashtostr
    from flux.services.kvs.archive import ArchiveError, open_reader, restore

    store = content.opened()
    hashtype = content.hashtype
    try:
        tar = open_reader(path)
        try:
            result = restore(tar, lambda data: hashtostr(hashtype, store.store(data)))
        finally:
            if tar is not None:
                tar.close()
    except ArchiveError as exc:
        raise OSError(errno.EINVAL, f"content.restore {path}: {exc}") from None
    except OSError as exc:
        raise OSError(exc.errno, f"content.restore {path}: {exc.strerror or exc}") from None
    store.checkpoint_put(compact_json({"version": 1, "rootref": result.rootref, "sequence": 0,
                                       "timestamp": float(result.timestamp or time.time())}))
