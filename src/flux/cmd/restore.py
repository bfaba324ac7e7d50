"""``flux restore [OPTIONS] INFILE``: load a KVS snapshot from an archive, as flux-core's.

INFILE (``-``: stdin) is a tar archive, compressed or not (what ``flux dump``
writes; see ``flux.services.kvs.archive``).  Its values and directories are
stored with ``content.store`` (``content-backing.store`` with ``--no-cache``)
and the new root goes either to a KVS key (``--key=KEY``: one commit putting
a dirref there) or to the checkpoint the KVS starts from
(``--checkpoint``: refused while the KVS runs, as flux-core's; a pureflux
broker's KVS always runs, so an instance restores an archive at start with
``-S content.restore=PATH`` instead).  One of the two is required.

Blobrefs use the instance's ``content.hash`` (flux-core's command assumes sha1).
``--maxreqs`` is checked but blobs are stored one at a time; ``--sd-notify`` is
accepted (pureflux's broker does not talk to systemd).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

SUMMARY = "Restore KVS snapshot from a portable archive format"
PROG = "flux-restore"

INT_MAX = 2**31 - 1
_SIZE_SUFFIXES = {"": 1, "k": 1024, "K": 1024, "M": 1024**2, "G": 1024**3}


def _options() -> list:
    from ._optparse import NO_ARG, REQUIRED, Option

    return [
        Option("v", "verbose", NO_ARG, help="List keys on stderr as they are restored"),
        Option("q", "quiet", NO_ARG, help="Don't show periodic progress updates"),
        Option(None, "checkpoint", NO_ARG, help="Restore to checkpoint"),
        Option(None, "key", REQUIRED, "KEY", help="Restore to KVS key"),
        Option(None, "no-cache", NO_ARG, help="Bypass the broker content cache"),
        Option(None, "size-limit", REQUIRED, "SIZE",
               help="Do not restore blobs greater than SIZE bytes"),
        Option(None, "maxreqs", REQUIRED, "N",
               help="Max concurrent content store requests (default 256)"),
        Option(None, "sd-notify", NO_ARG,
               help="Send status updates to systemd via flux-broker(1)"),
    ]


def parse_size(text: str) -> int:
    """SIZE as flux-core's optparse_get_size_int: a number with k/K/M/G, up to INT_MAX."""
    import math

    number, suffix = text, ""
    if text and text[-1] in _SIZE_SUFFIXES:
        number, suffix = text[:-1], text[-1]
    value = float(number) * _SIZE_SUFFIXES[suffix]  # ValueError for junk
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    if value > INT_MAX:
        raise OverflowError(text)
    return int(value)


class Progress:
    """flux-core's count on stderr (keys and blobs), each key with -v, nothing with -q."""

    def __init__(self, verbose: bool, quiet: bool) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self.show = not verbose and not quiet
        self.keys = self.blobs = 0
        self.last = 0

    def count(self, blobs: int, keys: int) -> None:
        self.blobs += blobs
        self.keys += keys
        if self.last == self.keys or not (self.keys % 100 == 0 or self.keys < 10):
            return
        if self.show:
            sys.stderr.write(f"\rflux-restore: restored {self.keys} keys ({self.blobs} blobs)")
            sys.stderr.flush()
        self.last = self.keys

    def restored(self, path: str, target: Optional[str]) -> None:
        if self.verbose:
            sys.stderr.write(f"{path} -> {target}\n" if target is not None else f"{path}\n")

    def skipped(self, path: str, size: int, limit: int) -> None:
        sys.stderr.write(f"{chr(13) if self.show else ''}{path} size {size} exceeds"
                         f" {limit} limit, skipping\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.show:
            sys.stderr.write(f"\rflux-restore: restored {self.keys} keys ({self.blobs} blobs)\n")
        sys.stderr.flush()


def _storer(h: Any, bypass: bool, hashtype: str) -> Callable[[bytes], str]:
    """``store(bytes) -> blobref`` through the content service (or its backing store)."""
    from flux.constants import FLUX_NODEID_ANY
    from flux.services.content.blobref import hashtostr

    topic, nodeid = ("content-backing.store", 0) if bypass else ("content.store",
                                                                 FLUX_NODEID_ANY)

    def store(data: bytes) -> str:
        msg = h.rpc(topic, data, nodeid).get_message()
        return hashtostr(hashtype, bytes(msg.payload_bytes or b""))

    return store


def _short(blobref: str) -> str:
    """The part of a blobref a human wants: the hash name and 8 digits."""
    dash = blobref.find("-")
    return blobref[:8 + (dash + 1 if dash >= 0 else 0)]


def _kvs_running(h: Any) -> bool:
    """flux-core's test: anything but ENOSYS from kvs.getroot means the KVS is there."""
    from flux.kvs import getroot

    try:
        getroot(h).get()
    except OSError as exc:
        return exc.errno != 38  # ENOSYS
    return True


def main(argv: list[str]) -> int:
    from flux.services.kvs.archive import ArchiveError, open_reader, restore

    from ._optparse import Parser, get_int
    from .util import die, open_handle, oserror_text

    parser = Parser("flux restore", "[OPTIONS] INFILE", _options(),
                    doc="Restore KVS snapshot from a portable archive format")
    opts, args = parser.parse_n(argv, 1)
    infile = args[0]
    limit_text = opts.get("size_limit", "0")
    try:
        size_limit = parse_size(limit_text)
    except ValueError:  # liboptparse's words, under the subcommand's name
        die("flux restore", f"restore: invalid argument for option 'size-limit': {limit_text}:"
                            " Invalid argument")
    except OverflowError:
        die("flux restore", f"restore: size-limit: value {limit_text} too large (must be < 2G)")
    if get_int(PROG, opts, "maxreqs", 256) <= 0:
        die(PROG, "invalid value for maxreqs")
    bypass = bool(opts.no_cache)
    quiet = bool(opts.quiet)
    h = open_handle(PROG)
    try:
        tar = open_reader(infile, sys.stdin.buffer)
    except ArchiveError as exc:
        die(PROG, str(exc))
    to_checkpoint = bool(opts.checkpoint)
    key = opts.get("key")
    if not to_checkpoint and key is None:
        die(PROG, "Please specify a restore target with --checkpoint or --key")
    if to_checkpoint and _kvs_running(h):
        die(PROG, "please unload kvs module before using --checkpoint")
    try:
        hashtype = h.attr_get("content.hash")
    except OSError:
        hashtype = "sha1"
    progress = Progress(bool(opts.verbose), quiet)
    try:
        result = restore(tar, _storer(h, bypass, hashtype), size_limit,
                         progress=progress.count, restored=progress.restored,
                         skipped=lambda path, size: progress.skipped(path, size, size_limit))
    except ArchiveError as exc:
        die(PROG, str(exc))
    except OSError as exc:
        die(PROG, f"error storing blob: {oserror_text(exc)}")
    progress.end()
    if to_checkpoint:
        _write_checkpoint(h, result.rootref, result.timestamp, bypass, quiet)
    else:
        assert key is not None
        _write_key(h, key, result.rootref, quiet)
    if not bypass:
        try:
            h.rpc("content.flush", None, 0).get()
        except OSError as exc:
            print(f"{PROG}: error flushing content cache: {oserror_text(exc)}",
                  file=sys.stderr, flush=True)
    if tar is not None:
        tar.close()
    return 0


def _write_checkpoint(h: Any, rootref: str, timestamp: float, bypass: bool,
                      quiet: bool) -> None:
    """The new root as the checkpoint the KVS starts from (sequence 0: a fresh start)."""
    import time

    from .util import die, oserror_text

    if not quiet:
        print(f"{PROG}: writing snapshot {_short(rootref)} to checkpoint for next KVS start",
              file=sys.stderr, flush=True)
    topic = "content-backing.checkpoint-put" if bypass else "content.checkpoint-put"
    value = {"version": 1, "rootref": rootref, "sequence": 0,
             "timestamp": float(timestamp) if timestamp else time.time()}
    try:
        h.rpc(topic, {"value": value}, 0).get()
    except OSError as exc:
        die(PROG, f"error updating checkpoint: {oserror_text(exc)}")


def _write_key(h: Any, key: str, rootref: str, quiet: bool) -> None:
    """KEY becomes the restored tree: one commit putting a dirref there."""
    from flux.kvs.ops import put_treeobj_op
    from flux.kvs.txn import commit_ops
    from flux.services.kvs import treeobj

    from .util import die, oserror_text

    if not quiet:
        print(f"{PROG}: writing snapshot {_short(rootref)} to KVS key '{key}'",
              file=sys.stderr, flush=True)
    try:
        commit_ops(h, [put_treeobj_op(key, treeobj.create_dirref(rootref))]).get()
    except OSError as exc:
        die(PROG, f"error updating {key}: {oserror_text(exc)}")
