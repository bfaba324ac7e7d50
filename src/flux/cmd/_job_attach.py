"""``flux job attach ID`` (and what ``flux run`` does after submitting): follow a job's
eventlogs, print its output as the shell writes it, send it standard input, exit with
its exit code, as flux-core 0.88's attach does.

Three watches: the main eventlog (exceptions printed, ``finish`` gives the exit code,
``-E`` prints every event), ``guest.exec.eventlog`` from ``submit`` on (``shell.init``
names the shell service that takes stdin and starts the output watch; ``-X`` prints
it) and ``guest.output`` (``data`` to stdout/stderr, ``-l`` labels it ``RANK: ``;
``log`` entries as ``T.TTTs: flux-shell[R]: LEVEL: text``).  Ctrl-C once prints a
hint, twice within 2 s cancels the job; Ctrl-C then Ctrl-Z detaches; SIGTERM, SIGHUP,
SIGALRM, SIGUSR1/2 are sent on to the job.  Not here: --tail, --debug, pty, the status
line.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time

from flux.ioencode import iodecode_data
from flux.job.waitstatus import waitstatus_to_exitcode

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["Attach", "waitstatus_to_exitcode"]

PROG = "flux-job"
_LEVELS = ("FATAL", "FATAL", "FATAL", "ERROR", " WARN", None, "DEBUG", "TRACE")
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR2)


def _discard_from_now_on(stream: Any) -> None:
    """The reader of ``stream`` is gone (``flux run ... | head``): what follows is thrown
    away and attach goes on to the job's end and exit code, as flux-core's (whose writes
    fail quietly).  The descriptor now names /dev/null, so no later flush fails."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, stream.fileno())
    finally:
        os.close(null)
    try:
        stream.flush()  # what the failed write left in the buffer goes there too
    except OSError:
        pass


def _log(text: str) -> None:
    sys.stdout.flush()
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


class Attach:
    def __init__(self, h: Any, jobid: int, *, label_io: bool = False,
                 show_events: bool = False, show_exec: bool = False,
                 wait_event: str = "clean", read_only: bool = False, quiet: bool = False,
                 verbose: bool = False, stdin_ranks: str = "all") -> None:
        from flux.job.JobID import id_encode

        self.h = h
        self.id = jobid
        self.f58 = id_encode(jobid, "f58")
        self.label_io = label_io
        self.show_events = show_events
        self.show_exec = show_exec
        self.wait_event = wait_event
        self.read_only = read_only
        self.quiet = quiet
        self.verbose = verbose
        self.stdin_ranks = stdin_ranks
        self.t0 = 0.0
        self.held: Any = None  # sys.stdout or sys.stderr: job output read, not written yet
        self.held_data: list[bytes] = []
        self.flusher: Any = None
        self.exit_code = 1
        self.fatal_exception = False
        self.finished = False
        self.watches: dict[str, Any] = {}
        self.service: Optional[str] = None
        self.header_seen = False
        self.stdin_w: Any = None
        self.stdin_pending = 0
        self.stdin_sent = False
        self.stdin_done = False
        self.stdin_refused = False  # the shell was gone when input came (see _stdin_sent)
        self.t_sigint = -10.0
        self.sigtstp_w: Any = None
        self.signal_ws: list[Any] = []
        self.error: Optional[str] = None
        self.exit_text: Optional[str] = None

    # -- watches --------------------------------------------------------------------------

    def _watch(self, name: str, path: str, callback: Any) -> None:
        from flux.job.event import event_watch_async

        fut = event_watch_async(self.h, self.id, path)
        fut.then(callback)
        self.watches[name] = fut

    def _watch_done(self, name: str) -> None:
        self.watches.pop(name, None)
        if not self.watches:
            self._stop_stdin()
            self.h.reactor_stop()

    def _next(self, name: str, fut: Any) -> Any:
        """The next event of a watch, or None at its end (then forgotten)."""
        try:
            event = fut.get_event()
        except OSError as exc:
            if name == "main" and exc.errno == errno.ENOENT:
                self._fail(f"Failed to attach to {self.f58}: No such job")
            elif name == "main" and exc.errno == errno.EPERM:
                self._fail(f"Failed to attach to {self.f58}: that is not your job")
            elif name == "output" and exc.errno == errno.ENOENT:
                # a job that ran no shell (flux-core's test execution) has no output log
                print("flux-job: No job output found", file=sys.stderr, flush=True)
            elif exc.errno != errno.ENODATA:
                self._fail(f"flux_job_event_watch_get: {exc.strerror}")
            event = None
        if event is None:
            self._watch_done(name)
        return event

    def _fail(self, text: str) -> None:
        self.error = text
        self.exit_code = 1
        self.h.reactor_stop()

    def _print_entry(self, prefix: str, event: Any) -> None:
        ctx = event.context
        text = f" {json.dumps(ctx, separators=(',', ':'))}" if ctx else ""
        sys.stdout.flush()
        sys.stderr.write(f"{event.timestamp - self.t0:.3f}s: {prefix}.{event.name}{text}\n")
        sys.stderr.flush()

    def _main_event(self, fut: Any) -> None:
        event = self._next("main", fut)
        if event is None:
            return
        if not self.t0:
            self.t0 = event.timestamp
        name, ctx = event.name, event.context
        if name == "exception":
            sys.stdout.flush()
            sys.stderr.write(f"{event.timestamp - self.t0:.3f}s: job.exception {self.f58} "
                             f"type={ctx.get('type')} severity={ctx.get('severity')} "
                             f"{ctx.get('note', '')}\n")
            sys.stderr.flush()
            if ctx.get("severity") == 0:
                self.fatal_exception = True
                self._stop_stdin()
        elif name == "submit":
            self._watch("exec", "guest.exec.eventlog", self._exec_event)
        elif name == "finish":
            status = ctx.get("status", 0)
            self.exit_code, text = waitstatus_to_exitcode(int(status))
            if self.exit_code != 0:
                # printed once every watch has ended: the output watch starts late (after
                # shell.init), so the shell's last words may arrive after this event
                self.exit_text = text
            self.finished = True
        if self.show_events and name != "exception":
            self._print_entry("job", event)
        if name == self.wait_event:
            fut.cancel()

    def _exec_event(self, fut: Any) -> None:
        event = self._next("exec", fut)
        if event is None:
            return
        name, ctx = event.name, event.context
        if name == "shell.init":
            self.service = ctx.get("service")
            self._start_output()
            if not self.read_only and not self.finished:
                self._setup_stdin()
        elif name == "log":
            if not self.quiet:
                self._flush_held()
                sys.stderr.write(f"{event.timestamp - self.t0:.3f}s: {ctx.get('component')}"
                                 f"[{ctx.get('rank')}]: {ctx.get('stream')}: ")
                sys.stderr.write(str(ctx.get("data", "")))
                sys.stderr.flush()
        elif name == "complete":
            self._start_output()
        if self.show_exec and name != "log":
            self._print_entry("exec", event)

    def _flush_held(self, *args: Any) -> None:
        """Prepare watcher: before the reactor waits again, the output read in this pass
        is written out -- one write per batch of lines, not one per line (a job printing
        a million short lines spent a third of attach's time in write(2) calls)."""
        held, self.held = self.held, None
        if held is not None:
            data, self.held_data = self.held_data, []
            try:
                held.buffer.write(b"".join(data))  # one write, however Python buffers (-u)
                held.buffer.flush()
            except BrokenPipeError:
                _discard_from_now_on(held)

    def _start_output(self) -> None:
        if "output" not in self.watches and not getattr(self, "_output_started", False):
            self._output_started = True
            self._watch("output", "guest.output", self._output_event)

    def _output_event(self, fut: Any) -> None:
        event = self._next("output", fut)
        if event is None:
            return
        name, ctx = event.name, event.context
        if name == "header":
            self.header_seen = True
        elif name == "data":
            if not self.header_seen:
                self._fail("stream data read before header")
                return
            data = ctx.get("data")
            if not data:
                return
            raw = iodecode_data(ctx, "surrogateescape")
            out = sys.stdout if ctx.get("stream") == "stdout" else sys.stderr
            if self.label_io:
                raw = f"{ctx.get('rank')}: ".encode() + raw
            if self.held is not out:  # the other stream's bytes go first (their order kept)
                self._flush_held()
                out.flush()
                self.held = out
                if self.flusher is None:
                    self.flusher = self.h.prepare_watcher_create(self._flush_held)
                    self.flusher.start()
            self.held_data.append(raw)
        elif name == "redirect":
            if not self.quiet:
                self._flush_held()
                path = ctx.get("path")
                sys.stderr.write(f"{ctx.get('rank')}: {ctx.get('stream')} redirected"
                                 f"{' to ' + path if path else ''}\n")
        elif name == "log":
            if not self.quiet:
                self._output_log(event.timestamp, ctx)

    def _output_log(self, ts: float, ctx: dict) -> None:
        level = ctx.get("level", -1)
        label = _LEVELS[level] if isinstance(level, int) and 0 <= level < len(_LEVELS) else None
        text = f"{ts - self.t0:.3f}s: flux-shell"
        rank = ctx.get("rank", -1)
        if isinstance(rank, int) and rank >= 0:
            text += f"[{rank}]"
        if label:
            text += f": {label}"
        if ctx.get("component"):
            text += f": {ctx['component']}"
        if self.verbose and ctx.get("file"):
            text += f": {ctx['file']}"
            if isinstance(ctx.get("line"), int) and ctx["line"] > 0:
                text += f":{ctx['line']}"
        sys.stdout.flush()
        sys.stderr.write(f"{text}: {ctx.get('message')}\n")
        sys.stderr.flush()

    # -- stdin ----------------------------------------------------------------------------

    def _setup_stdin(self) -> None:
        if self.stdin_w is not None or self.stdin_done:
            return
        try:
            fd = sys.stdin.fileno()
            os.fstat(fd)
        except (OSError, ValueError, AttributeError):
            return
        import stat

        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)):
            # a file or /dev/null: epoll cannot watch it; it never blocks, read it now
            while True:
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                self._send_stdin(data, False)
                self.stdin_sent = True
            self._send_stdin(None, True)
            self.stdin_done = True
            return
        from flux.constants import FLUX_POLLIN

        self.stdin_w = self.h.fd_watcher_create(fd, self._stdin_readable, FLUX_POLLIN)
        self.stdin_w.start()

    def _stdin_readable(self, h: Any, w: Any, fd: int, revents: int, args: Any) -> None:
        from flux._fdread import read_ready

        data = read_ready(fd)
        if data is None:
            return
        if data:
            self._send_stdin(data, False)
            self.stdin_sent = True
        else:
            self._send_stdin(None, True)
            self._stop_stdin()

    def _send_stdin(self, data: Optional[bytes], eof: bool) -> None:
        from flux.ioencode import ioencode

        if self.service is None:
            return
        context = ioencode("stdin", self.stdin_ranks, data, eof)
        fut = self.h.rpc(f"{self.service}.stdin", context)
        self.stdin_pending += 1
        fut.then(self._stdin_sent)

    def _stdin_sent(self, fut: Any) -> None:
        """The shell's answer to some input.  ENOSYS: the leader shell is gone, so the
        job is ending; its tasks may well have exited before their input came (``echo x
        | flux run true``): judged at the end, an error only if the job never finished.
        Any other error (EPIPE: input already closed) ends attach, as flux-core's."""
        self.stdin_pending -= 1
        try:
            fut.get()
        except OSError as exc:
            if not self.stdin_sent or self.fatal_exception or self.finished:
                return
            if exc.errno == errno.ENOSYS:
                self.stdin_refused = True
            else:
                self._fail(f"attach_send_shell: {exc.strerror or os.strerror(exc.errno or 0)}")

    def _stop_stdin(self) -> None:
        self.stdin_done = True
        if self.stdin_w is not None:
            self.stdin_w.stop()
            self.stdin_w = None

    # -- signals --------------------------------------------------------------------------

    def _setup_signals(self) -> None:
        w = self.h.signal_watcher_create(signal.SIGINT, self._sigint)
        w.start()
        self.signal_ws.append(w)
        self.sigtstp_w = self.h.signal_watcher_create(signal.SIGTSTP, self._sigtstp)
        self.signal_ws.append(self.sigtstp_w)
        for signum in _FORWARDED:
            w = self.h.signal_watcher_create(signum, self._forward)
            w.start()
            self.signal_ws.append(w)

    def _sigint(self, h: Any, w: Any, signum: int, args: Any) -> None:
        from flux.job.kill import cancel_async

        now = time.monotonic()
        if now - self.t_sigint > 2.0:
            self.t_sigint = now
            self.sigtstp_w.start()
            _log("one more ctrl-C within 2s to cancel or ctrl-Z to detach")
            return
        fut = cancel_async(self.h, self.id, "interrupted by ctrl-C")
        fut.then(self._ignore_result)

    def _sigtstp(self, h: Any, w: Any, signum: int, args: Any) -> None:
        if time.monotonic() - self.t_sigint <= 2.0:
            for fut in list(self.watches.values()):
                fut.cancel()
            _log("detaching...")
        else:
            self.sigtstp_w.stop()
            _log("one more ctrl-Z to suspend")

    def _forward(self, h: Any, w: Any, signum: int, args: Any) -> None:
        from flux.job.kill import kill_async

        kill_async(self.h, self.id, signum).then(self._ignore_result)

    def _ignore_result(self, fut: Any) -> None:
        try:
            fut.get()
        except OSError as exc:
            _log(f"kill: {exc.strerror}")

    # -- run ------------------------------------------------------------------------------

    def run(self) -> int:
        self._watch("main", "eventlog", self._main_event)
        if not self.read_only:
            self._setup_signals()
        try:
            self.h.reactor_run()
        finally:
            self._flush_held()
            if self.flusher is not None:
                self.flusher.stop()
            self._stop_stdin()
            for w in self.signal_ws:
                w.stop()
        if self.exit_text is not None:
            _log(self.exit_text)
        if self.error is None and self.stdin_refused and not self.finished:
            self.error = "stdin not accepted by job"
        if self.error is not None:
            _log(self.error)
            return 1
        if self.fatal_exception and self.exit_code == 0:
            self.exit_code = 1
        return self.exit_code
