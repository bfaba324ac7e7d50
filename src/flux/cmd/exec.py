"""``flux exec [-r IDSET] [-n] [-d DIR] [-l] COMMAND [ARGS...]``: run a command on
broker ranks through their ``rexec`` service (RFC 42), output streamed back
as it comes, stdin forwarded to every rank (unless ``-n``); exits with the
highest exit code of the ranks (128+N for a signal)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

SUMMARY = "Execute processes across flux ranks"

PROG = "flux-exec"

#: exit codes for a command that could not start, as flux-core's (bash's 126/127,
#: sysexits' EX_NOHOST for a rank out of reach): ENOENT, EPERM, EACCES, EHOSTUNREACH
_FAIL_CODES = {2: 127, 1: 126, 13: 126, 113: 68}


def _options() -> list:
    from ._optparse import REQUIRED, Option

    return [
        Option("r", "rank", REQUIRED, "IDSET", "Specify specific target ranks (default: all)"),
        Option("x", "exclude", REQUIRED, "IDSET", "Exclude ranks from target list"),
        Option("d", "dir", REQUIRED, "PATH", "Set the working directory to PATH"),
        Option("l", "label-io", help="Label lines of output with the source RANK"),
        Option("n", "noinput", help="Redirect stdin from /dev/null"),
        Option("v", "verbose", help="Run with more verbosity"),
        Option("q", "quiet", help="Suppress extraneous output"),
    ]


def _ranks(text: str, size: int) -> list[int]:
    from ._resource_sets import idset_decode

    if text == "all":
        return list(range(size))
    return sorted(idset_decode(text))


def main(argv: list[str]) -> int:
    import errno

    from flux.constants import FLUX_RPC_STREAMING
    from flux.ioencode import iodecode_data, ioencode

    from ._optparse import Parser
    from .util import die, open_handle

    parser = Parser(PROG, "[OPTIONS] COMMAND...", _options(), stop_at_nonoption=True)
    opts, args = parser.parse(argv)
    if not args:
        parser.fatal_usage()
    h = open_handle(PROG)
    size = int(h.attr_get("size"))
    try:
        ranks = _ranks(opts.rank or "all", size)
        if opts.exclude:
            excluded = set(_ranks(opts.exclude, size))
            ranks = [r for r in ranks if r not in excluded]
    except ValueError:
        die(PROG, "invalid rank argument")
    if any(r >= size for r in ranks):
        die(PROG, "Invalid rank argument")
    if not ranks:
        die(PROG, "No ranks to execute on")
    cwd = opts.dir or os.getcwd()
    cmd = {"cwd": cwd, "cmdline": args, "env": dict(os.environ), "opts": {}, "channels": []}
    state: dict[str, Any] = {"rc": 0, "left": len(ranks), "pids": {}, "exitsets": {}}
    label = bool(opts.label_io)

    partial: dict[tuple[int, str], bytes] = {}  # -l: a rank's unfinished line

    def write(stream: Any, rank: int, data: bytes, eof: bool = False) -> None:
        if label:
            key = (rank, stream.name)
            data = partial.pop(key, b"") + data
            lines = data.splitlines(keepends=True)
            if lines and not lines[-1].endswith(b"\n") and not eof:
                partial[key] = lines.pop()
            for line in lines:
                stream.write(f"{rank}: {line.decode(errors='replace')}")
        else:
            stream.buffer.write(data)
        stream.flush()

    def on_response(f: Any, rank: int) -> None:
        try:
            resp = f.get()
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                # as flux-core's: "rank N: CMD: TEXT" (a lost rank: strerror, not the
                # overlay's "overlay disconnect"); 127 not found, 126 denied, 68
                # (EX_NOHOST) unreachable
                text = exc.strerror or os.strerror(exc.errno or errno.EIO)
                if exc.errno == errno.EHOSTUNREACH:
                    text = os.strerror(errno.EHOSTUNREACH)
                print(f"{PROG}: Error: rank {rank}: {args[0]}: {text}", file=sys.stderr)
                state["rc"] = max(state["rc"], _FAIL_CODES.get(exc.errno or 0, 1))
            state["left"] -= 1
            if state["left"] == 0:
                h.reactor_stop()
            return
        kind = resp.get("type")
        if kind == "started":
            state["pids"][rank] = resp["pid"]
            # stdin (read whole before the loop: flux exec gets small inputs) to each
            # rank as its command starts, then EOF
            io = ioencode("stdin", str(rank), stdin_data, eof=True)
            h.rpc("rexec.write", {"pid": resp["pid"], "io": io}, nodeid=rank)
        elif kind == "output":
            io = resp.get("io", {})
            raw = iodecode_data(io)
            if raw or io.get("eof"):
                write(sys.stdout if io.get("stream") == "stdout" else sys.stderr, rank, raw,
                      bool(io.get("eof")))
        elif kind == "finished":
            status = resp.get("status", 0)
            code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else \
                os.WEXITSTATUS(status)
            if code and opts.verbose:
                print(f"{PROG}: rank {rank}: exit {code}", file=sys.stderr)
            if code:  # summed up at the end as flux-core's: "1,3: Exit 1", "2: Killed"
                key = (f"Exit {code}" if not os.WIFSIGNALED(status)
                       else signal.strsignal(os.WTERMSIG(status)) or f"Signal {code - 128}")
                state["exitsets"].setdefault(key, []).append(rank)
            state["rc"] = max(state["rc"], code)
        f.reset()

    stdin_data = b""
    if not opts.noinput and not sys.stdin.isatty():
        stdin_data = sys.stdin.buffer.read()
    for rank in ranks:
        f = h.rpc("rexec.exec", {"cmd": cmd, "flags": 3}, nodeid=rank, flags=FLUX_RPC_STREAMING)
        f.then(on_response, rank)
    h.reactor_run()
    if not opts.quiet:
        from flux.idset import IDSET_FLAG_BRACKETS, IDSET_FLAG_RANGE, IDset

        for key, failed in state["exitsets"].items():
            ranks_text = IDset(",".join(map(str, sorted(failed)))).encode(
                IDSET_FLAG_BRACKETS | IDSET_FLAG_RANGE)
            print(f"{ranks_text}: {key}", file=sys.stderr)
    return int(state["rc"])

