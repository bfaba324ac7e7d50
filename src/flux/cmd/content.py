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

USAGE = """Usage: flux-content COMMAND [OPTIONS]
  load [-b] [BLOBREF ...]            Concatenate blobs stored under BLOBREF(s) to stdout
  store [-b] [--chunksize=N]         Store blob from stdin, print BLOBREF(s) on stdout
  dropcache                          Drop non-essential entries from local content cache
  flush                              Flush dirty entries from local content cache"""


def _usage_exit() -> "Any":
    print(USAGE, file=sys.stderr, flush=True)
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
    opts, args = Parser(f"{PROG} load", "[OPTIONS] BLOBREF ...", table).parse(argv)
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
    parser = Parser(f"{PROG} store", "[OPTIONS]", table)
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

    parser = Parser(f"{PROG} {name}", "", [])
    _, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    h = open_handle(PROG)
    try:
        h.rpc(f"content.{name}").get()
    except OSError as exc:
        die(PROG, f"content.{name}: {os.strerror(exc.errno or 22)}")
    return 0


def main(argv: "list[str]") -> int:
    if not argv or argv[0] in ("-h", "--help"):
        if argv:
            print(USAGE, flush=True)
            return 0
        _usage_exit()
    sub, rest = argv[0], argv[1:]
    if sub == "load":
        return _load(rest)
    if sub == "store":
        return _store(rest)
    if sub in ("flush", "dropcache"):
        return _simple(sub, rest)
    print(f"{PROG}: unknown subcommand {sub!r}", file=sys.stderr)
    return _usage_exit()
