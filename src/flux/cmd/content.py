"""``flux content``: load and store blobs in the content store (RFC 10), as flux-core's.

``load [-b] [BLOBREF...]`` writes the blobs, concatenated, to stdout (blobrefs
from the arguments, else one per line on stdin); ``store [-b] [--chunksize=N]``
stores stdin (split into N-byte blobs if asked) and prints one blobref a line;
``flush`` and ``dropcache`` pass the request on.  ``-b`` sends to rank 0's
``content-backing`` service, as flux-core's ``--bypass-cache``.
"""

import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

SUMMARY = "Access content store"
PROG = "flux-content"

USAGE = """Usage: flux content load [OPTIONS] BLOBREF ...
   or: flux content store [OPTIONS]
   or: flux content dropcache [OPTIONS]
   or: flux content flush [OPTIONS]
   or: flux content checkpoint [OPTIONS]
Access content store
  -h, --help             Display this message."""

_DOCS = {
    "dropcache": "Drop non-essential entries from local content cache",
    "flush": "Flush dirty entries from local content cache",
}

CHECKPOINT_USAGE = """Usage: flux content checkpoint list [OPTIONS]
   or: flux content checkpoint update [OPTIONS] blobref
Perform checkpoint operations
  -h, --help             Display this message."""


def _usage_exit(usage: "str" = USAGE, missing: "str" = "") -> "Any":
    if missing:
        print(f"{missing}: missing subcommand", file=sys.stderr)
    print(usage, file=sys.stderr, flush=True)
    raise SystemExit(1)


def _rpc_raw(h: "Any", topic: "str", data: "bytes", bypass: "bool") -> "bytes":
    """One raw request; the response's exact payload bytes (b"" for none)."""
    from flux.constants import FLUX_NODEID_ANY

    if bypass:
        topic = topic.replace("content.", "content-backing.", 1)
    msg = h.rpc(topic, data, 0 if bypass else FLUX_NODEID_ANY).get_message()
    return msg.payload_bytes or b""


def _load(argv: "list[str]") -> int:
    from ._optparse import Option, Parser
    from .util import die, open_handle, oserror_text

    table = [Option("b", "bypass-cache", help="Load directly from rank 0 content service")]
    opts, args = Parser("flux content load", "[OPTIONS] BLOBREF ...", table,
                        doc="Concatenate blobs stored under BLOBREF(s) to stdout").parse(argv)
    from flux.services.content.blobref import strtohash

    h = open_handle(PROG)
    if not args:
        args = [line.rstrip("\n") for line in sys.stdin]
        if not args:
            die(PROG, "no blobrefs were specified")
    out = sys.stdout.buffer
    for ref in args:
        try:
            blob = _rpc_raw(h, "content.load", strtohash(ref), bool(opts.bypass_cache))
        except ValueError:
            die(PROG, "error loading blob: Invalid argument")
        except OSError as exc:
            die(PROG, f"error loading blob: {oserror_text(exc)}")
        out.write(blob)
    out.flush()
    return 0


def _store(argv: "list[str]") -> int:
    from ._optparse import REQUIRED, Option, Parser, get_int
    from .util import die, open_handle, oserror_text

    table = [Option("b", "bypass-cache", help="Store directly to rank 0 content service"),
             Option(None, "chunksize", REQUIRED, "N",
                    "Limit blob size to N bytes with 0=unlimited (default 0)")]
    parser = Parser("flux content store", "[OPTIONS]", table,
                    doc="Store blob from stdin, print BLOBREF(s) on stdout")
    opts, args = parser.parse(argv)
    chunksize = get_int(PROG, opts, "chunksize", 0)
    if args or chunksize < 0:
        parser.fatal_usage()
    from flux.services.content.blobref import hashtostr

    h = open_handle(PROG)
    try:
        hashtype = h.attr_get("content.hash")
    except OSError as exc:
        die(PROG, f"getattr content.hash: {oserror_text(exc)}")
    data = sys.stdin.buffer.read()
    size = chunksize or len(data) or 1
    chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]  # b"": one empty blob
    for chunk in chunks:
        try:
            digest = _rpc_raw(h, "content.store", chunk, bool(opts.bypass_cache))
            ref = hashtostr(hashtype, digest)
        except ValueError:
            die(PROG, "error storing blob: Invalid argument")
        except OSError as exc:
            die(PROG, f"error storing blob: {oserror_text(exc)}")
        print(ref, flush=True)
    return 0


def _simple(name: "str", argv: "list[str]") -> int:
    """flush, dropcache: no arguments, one empty request."""
    import os

    from ._optparse import Parser
    from .util import die, open_handle

    parser = Parser(f"flux content {name}", "[OPTIONS]...", [], doc=_DOCS.get(name))
    _, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    h = open_handle(PROG)
    try:
        h.rpc(f"content.{name}").get()
    except OSError as exc:
        die(PROG, f"content.{name}: {os.strerror(exc.errno or 22)}")
    return 0


def _checkpoint_list(argv: "list[str]") -> int:
    """The KVS checkpoints the content service keeps, newest first, as flux-core lists them."""
    import time

    from flux.message import compact_json

    from ._optparse import Option, Parser
    from .util import die, open_handle, oserror_text

    table = [Option("n", "no-header", help="Do not output column headers"),
             Option("j", "json", help="Output raw json checkpoint data")]
    parser = Parser("flux content checkpoint list", "[OPTIONS]", table, doc="List checkpoint(s)")
    opts, args = parser.parse_n(argv, 0)
    h = open_handle(PROG)
    if not opts.no_header and not opts.json:
        print(f"{'Index':<10} {'Sequence':<10} {'Time':<20} Rootref")
    try:
        value = h.rpc("content.checkpoint-get").get().get("value")
    except OSError as exc:
        die(PROG, f"kvs_checkpoint_lookup: {oserror_text(exc)}")
    for index, checkpt in enumerate(value if isinstance(value, list) else [value]):
        if opts.json:
            print(compact_json(checkpt))
            continue
        try:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(checkpt.get("timestamp", 0)))
            line = f"{index:<10} {checkpt.get('sequence', 0):<10} {stamp:<20} {checkpt['rootref']}"
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
            die(PROG, "error parsing checkpoint: Invalid argument")
        print(line)
    return 0


def _checkpoint_update(argv: "list[str]") -> int:
    """Point the checkpoint at another root: only with the KVS stopped, as flux-core."""
    from ._optparse import Parser
    from .util import die, open_handle

    parser = Parser("flux content checkpoint update", "[OPTIONS] blobref", [],
                    doc="Update checkpoint to specified blobref")
    _, args = parser.parse_n(argv, 1)
    h = open_handle(PROG)
    try:
        h.rpc("kvs.getroot", {"namespace": "primary", "flags": 0}).get()
        running = True
    except OSError as exc:
        running = exc.errno != 38  # ENOSYS: no KVS
    if running:
        die(PROG, "please unload kvs module before updating checkpoint")
    import time

    from flux.services.content.blobref import strtohash

    try:
        strtohash(args[0])
    except ValueError:
        die(PROG, "invalid blobref specified: Invalid argument")
    try:
        h.rpc("content-backing.checkpoint-put",
              {"value": {"version": 1, "rootref": args[0], "sequence": 0,
                         "timestamp": time.time()}}, 0).get()
    except OSError as exc:
        import os

        die(PROG, f"checkpoint update failed: {os.strerror(exc.errno or 22)}")
    return 0


def _checkpoint(argv: "list[str]") -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(CHECKPOINT_USAGE, file=sys.stderr, flush=True)
        return 0
    if not argv:
        _usage_exit(CHECKPOINT_USAGE, missing="flux content checkpoint")
    if argv[0] == "list":
        return _checkpoint_list(argv[1:])
    if argv[0] == "update":
        return _checkpoint_update(argv[1:])
    print(f"flux content checkpoint: Unknown subcommand: {argv[0]}", file=sys.stderr)
    return _usage_exit(CHECKPOINT_USAGE)


def main(argv: "list[str]") -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr, flush=True)  # liboptparse: usage on stderr, exit 0
        return 0
    if not argv:
        _usage_exit(missing="flux content")
    sub, rest = argv[0], argv[1:]
    if sub == "load":
        return _load(rest)
    if sub == "store":
        return _store(rest)
    if sub in ("flush", "dropcache"):
        return _simple(sub, rest)
    if sub == "checkpoint":
        return _checkpoint(rest)
    print(f"flux content: Unknown subcommand: {sub}", file=sys.stderr)
    return _usage_exit()
