"""``flux shutdown [OPTIONS] [TARGET]``: shut down an instance, as flux-core's command.

TARGET (a URI, a jobid or a jobid path such as ``/``) is resolved as
``flux uri`` does.  ``shutdown.start`` goes to the broker with
``{"loglevel": N}`` (LOG_WARNING with ``--quiet``, LOG_INFO by default,
LOG_DEBUG with ``-v``) as a streaming request: the broker's log records are
printed on stderr as they come until the stream ends (ENODATA) when the
instance says goodbye.  ``--background`` sends it without the streaming flag
and returns as soon as the shutdown has begun.

``--skip-gc`` removes the ``content.dump`` attribute, ``--dump=PATH`` sets it to
PATH and ``--gc`` (or a "yes" to the garbage collection question) to ``auto``, as
flux-core's: rank 0's broker then runs ``flux dump`` at the end of rc3
(``broker/content_dump.py``), and a start with ``-S content.restore=auto``
restores that dump into a fresh content store.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

    from ._optparse import Options

SUMMARY = "Shut down the Flux instance"

PROG = "flux-shutdown"

LOG_WARNING, LOG_INFO, LOG_DEBUG = 4, 6, 7
ENODATA = 61

def _options() -> list:
    from ._optparse import NO_ARG, OPTIONAL, REQUIRED, Option

    return [
        Option(None, "skip-gc", NO_ARG,
               help="Skip KVS garbage collection this time, if already enabled"),
        Option(None, "gc", NO_ARG, help="Garbage collect KVS (short for --dump=auto)"),
        Option(None, "dump", REQUIRED, "PATH",
               help="Dump KVS content to specified archive file using flux-dump(1)."),
        Option(None, "background", NO_ARG,
               help="Exit the command immediately after initiating shutdown"),
        Option(None, "quiet", NO_ARG, help="Show only log messages <= LOG_WARNING level"),
        Option("v", "verbose", OPTIONAL, "[LEVEL]",
               help="Increase log verbosity: 0=show log messages <= LOG_INFO level"
                    " (default), 1=show all log messages"),
        Option("y", "yes", NO_ARG, help="Answer yes to any yes/no questions"),
        Option("n", "no", NO_ARG, help="Answer no to any yes/no questions"),
    ]


def _verbosity(opts: Options) -> int:
    """``-v`` alone is 1 (liboptparse's optional-argument default), ``-vN`` is N."""
    from ._optparse import get_int

    if not opts.has("verbose"):
        return 0
    if opts.get("verbose") is None:
        return 1
    return get_int(PROG, opts, "verbose", 1)


def _open(target: Any) -> Any:
    import os

    import flux

    from .util import die, oserror_text

    uri = None
    if target is not None:
        from .util import resolve_target

        uri = resolve_target(PROG, target, f"failed to resolve target {target} to a Flux URI")
    try:
        return flux.Flux(uri)
    except OSError as exc:
        # flux-core prints strerror only (not the handle's text naming the socket)
        text = os.strerror(exc.errno) if exc.errno else oserror_text(exc)
        die(PROG, f"error connecting to Flux: {text}")


def _gc_wanted(h: Any, opts: Options) -> bool:
    """flux-core's question: the KVS version is past ``kvs.gc-threshold``; garbage
    collect this time?  (-y/-n/--skip-gc answer it, else the terminal must.)"""
    import os
    import sys

    from .util import die, oserror_text

    from flux.kvs import get_version

    try:
        version = get_version(h)
    except OSError as exc:
        if exc.errno != 38:  # ENOSYS: no KVS here
            die(PROG, f"Error fetching KVS version: {oserror_text(exc)}")
        version = 0
    try:
        conf = h.rpc("config.get").get()
    except OSError as exc:
        die(PROG, f"Error fetching flux config: {oserror_text(exc)}")
    kvs = conf.get("kvs") if isinstance(conf, dict) else None
    threshold = kvs.get("gc-threshold", 0) if isinstance(kvs, dict) else 0
    if not isinstance(threshold, int) or threshold <= 0 or version <= threshold:
        return False
    if opts.has("yes") or opts.has("no") or opts.has("skip_gc"):
        return opts.has("yes")
    if not os.isatty(0):
        die(PROG, "gc threshold exceeded, specify -y or -n\n")
    while True:
        print("gc threshold exceeded, do you want to perform garbage collection [Y/n]? ",
              end="", flush=True)
        answer = sys.stdin.readline()
        if not answer:
            die(PROG, "error retrieving user input")
        if answer[0] == "\n":
            return True
        if answer[0] in "yYnN":
            return answer[0] in "yY"
        print("Please answer y or n")


def _configure_dump(h: Any, opts: Options) -> None:
    """``content.dump`` as flux-core's command sets it (removed with --skip-gc, PATH
    with --dump, ``auto`` with --gc or a yes to the gc question), then says where
    the dump will go."""
    from .util import die, oserror_text

    if opts.has("gc") and (opts.has("skip_gc") or opts.has("dump")):
        die(PROG, "--gc is incompatible with --skip-gc or --dump")
    content_dump = _attr(h, "content.dump")
    wanted = None
    if opts.has("skip_gc"):
        if content_dump is not None:
            try:
                h.attr_remove("content.dump")
            except OSError as exc:
                die(PROG, f"rmattr content.dump: {oserror_text(exc)}")
            content_dump = None
    elif opts.has("dump"):
        wanted = opts.get("dump")
    elif opts.has("gc") or _gc_wanted(h, opts):
        wanted = "auto"
    if wanted is not None and content_dump != wanted:
        try:
            h.attr_set("content.dump", wanted)
        except OSError as exc:
            die(PROG, f"setattr content.dump: {oserror_text(exc)}")
        content_dump = wanted
    if content_dump is None:
        return
    if content_dump == "auto":
        # where the broker puts it (content_dump.auto_dump_dir; flux-core prints "dump/")
        statedir = _attr(h, "statedir")
        keep = statedir and _attr(h, "statedir-cleanup") != "1"
        content_dump = f"{statedir if keep else '.'}/dump/"
    import sys

    print(f"{PROG}: shutdown will dump KVS to {content_dump} (this may take some time)",
          file=sys.stderr, flush=True)


def _attr(h: Any, name: str) -> Optional[str]:
    try:
        value: str = h.attr_get(name)
    except OSError:
        return None
    return value


def _follow(f: Any) -> None:
    """Print each ``{"log": TEXT}`` response on stderr until ENODATA."""
    import sys

    from .util import die, oserror_text

    while True:
        try:
            resp = f.get()
        except OSError as exc:
            if exc.errno == ENODATA:
                return
            die(PROG, oserror_text(exc))
        text = resp.get("log") if isinstance(resp, dict) else None
        if not isinstance(text, str):
            die(PROG, "Protocol error")
        sys.stderr.write(text)
        sys.stderr.flush()
        f.reset()


def main(argv: list[str]) -> int:
    from flux.constants import FLUX_NODEID_ANY, FLUX_RPC_STREAMING
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from ._optparse import Parser
    from .util import die, oserror_text

    parser = Parser("flux shutdown", "[OPTIONS] [TARGET]", _options(),
                    doc="Shut down the Flux instance")
    opts, args = parser.parse_n(argv, 0, 1)
    loglevel = (LOG_WARNING if opts.has("quiet")
                else LOG_INFO if _verbosity(opts) == 0 else LOG_DEBUG)
    h = _open(args[0] if args else None)
    _configure_dump(h, opts)
    background = opts.has("background")
    # nodeid ANY: a broker other than rank 0 refuses at once
    f = h.rpc("shutdown.start", compact_json({"loglevel": loglevel}), nodeid=FLUX_NODEID_ANY,
              flags=0 if background else FLUX_RPC_STREAMING)
    if background:
        try:
            f.get()
        except OSError as exc:
            die(PROG, oserror_text(exc))
    else:
        _follow(f)
    return 0
