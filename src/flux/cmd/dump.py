"""``flux dump [OPTIONS] OUTFILE``: write a KVS snapshot to a tar archive, as flux-core's.

The snapshot is the primary namespace's current root (``kvs.getroot``), or
with ``--checkpoint`` the newest checkpoint in the content store; its blobs
are read with ``content.load`` (``content-backing.load`` on rank 0 with
``--no-cache``).  The archive's layout is flux-core's (see
``flux.services.kvs.archive``); its format follows OUTFILE's suffix (``.tar``,
``.tgz``/``.tar.gz``, ``.tar.bz2``, ``.tar.xz``; ``-`` is plain tar on stdout).
Progress is ``flux-dump: archived N keys`` on stderr, each key with ``-v``,
nothing with ``-q``.  ``--maxreqs`` is checked but blobs are loaded one at a
time; ``--sd-notify`` is accepted (pureflux's broker does not talk to systemd).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from flux.services.kvs.archive import DumpEntry

SUMMARY = "Dump KVS snapshot to a portable archive format"
PROG = "flux-dump"


def _options() -> list:
    from ._optparse import NO_ARG, REQUIRED, Option

    return [
        Option("v", "verbose", NO_ARG, help="List keys on stderr as they are archived"),
        Option("q", "quiet", NO_ARG, help="Don't show periodic progress updates"),
        Option(None, "checkpoint", NO_ARG, help="Dump from checkpoint"),
        Option(None, "no-cache", NO_ARG, help="Bypass the broker content cache"),
        Option(None, "ignore-failed-read", NO_ARG,
               help="Treat content load errors as non-fatal"),
        Option(None, "sd-notify", NO_ARG,
               help="Send status updates to systemd via flux-broker(1)"),
        Option(None, "maxreqs", REQUIRED, "N",
               help="Increase number of concurrent requests (default 2)"),
    ]


class Progress:
    """flux-core's count on stderr: each of the first keys, then every hundredth."""

    def __init__(self, verbose: bool, quiet: bool) -> None:
        self.show = not verbose and not quiet
        self.verbose = verbose
        self.keys = 0

    def key(self, path: str) -> None:
        self.keys += 1
        if self.verbose:
            sys.stderr.write(path + "\n")
        elif self.show and (self.keys < 10 or self.keys % 100 == 0):
            sys.stderr.write(f"\rflux-dump: archived {self.keys} keys")
            sys.stderr.flush()

    def end(self) -> None:
        if self.show:
            sys.stderr.write(f"\rflux-dump: archived {self.keys} keys\n")
        sys.stderr.flush()


def _loader(h: Any, bypass: bool) -> Callable[[str], bytes]:
    """``load(blobref) -> bytes`` through the content service (or its backing store)."""
    from flux.constants import FLUX_NODEID_ANY
    from flux.services.content.blobref import strtohash

    topic, nodeid = ("content-backing.load", 0) if bypass else ("content.load", FLUX_NODEID_ANY)

    def load(blobref: str) -> bytes:
        msg = h.rpc(topic, strtohash(blobref), nodeid).get_message()
        return bytes(msg.payload_bytes or b"")

    return load


def _checkpoint_root(h: Any, bypass: bool) -> tuple[str, float]:
    """(rootref, timestamp) of the newest checkpoint; dies as flux-core words it."""
    from .util import die, oserror_text

    topic = "content-backing.checkpoint-get" if bypass else "content.checkpoint-get"
    try:
        value = h.rpc(topic, None, 0).get().get("value")
        checkpt = value[0] if isinstance(value, list) else value
        rootref, timestamp = checkpt["rootref"], checkpt["timestamp"]
        if not isinstance(rootref, str) or not isinstance(timestamp, (int, float)):
            raise TypeError
    except OSError as exc:
        die(PROG, f"error fetching checkpoints: {oserror_text(exc)}")
    except (AttributeError, IndexError, KeyError, TypeError):
        die(PROG, "error fetching checkpoints: Invalid argument")
    return rootref, float(timestamp)


def _current_root(h: Any) -> str:
    from flux.kvs import getroot

    from .util import die, oserror_text

    try:
        return getroot(h).get_blobref()
    except OSError as exc:
        die(PROG, f"error fetching current KVS root: {oserror_text(exc)}")


def main(argv: list[str]) -> int:
    import os
    import time

    from flux.services.kvs.archive import ArchiveError, ReadFailure, add_entry, open_writer, walk

    from ._optparse import Parser, get_int
    from .util import die, open_handle

    parser = Parser("flux dump", "[OPTIONS] OUTFILE", _options(),
                    doc="Dump KVS snapshot to a portable archive format")
    opts, args = parser.parse_n(argv, 1)
    outfile = args[0]
    if get_int(PROG, opts, "maxreqs", 2) <= 0:
        die(PROG, "invalid value for maxreqs")
    bypass = bool(opts.no_cache)
    dump_time = int(time.time())
    uid, gid = os.getuid(), os.getgid()
    h = open_handle(PROG)
    try:
        tar = open_writer(outfile, sys.stdout.buffer)
    except ArchiveError as exc:
        die(PROG, str(exc))
    if opts.checkpoint:
        rootref, timestamp = _checkpoint_root(h, bypass)
        dump_time = int(timestamp)
    else:
        rootref = _current_root(h)
    progress = Progress(bool(opts.verbose), bool(opts.quiet))
    try:
        for item in walk(rootref, _loader(h, bypass)):
            if isinstance(item, ReadFailure):
                print(item.text, file=sys.stderr, flush=True)
                if not opts.ignore_failed_read:
                    raise SystemExit(1)
                continue
            entry: DumpEntry = item
            add_entry(tar, entry, dump_time, uid, gid)
            progress.key(entry.path)
        progress.end()
        tar.close()
    except ArchiveError as exc:
        die(PROG, str(exc))
    except OSError as exc:  # writing the archive
        from .util import oserror_text

        die(PROG, oserror_text(exc))
    return 0
