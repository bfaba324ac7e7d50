"""The ``rexec`` subprocess service (RFC 42), on every rank: what ``flux exec``
talks to.

- ``rexec.exec`` (streaming, owner): ``{"cmd": {"cwd","cmdline","env","opts",
  "channels"}, "flags": i}`` starts the command in a session of its own with
  pipes (one killed by a signal takes what is left of its session along: a job
  shell's tasks); the responses are ``started`` ``{"type","pid"}``, ``output``
  ``{"type","pid","io":{"stream","rank","data"?,"eof"?}}`` (stdout with flag 1,
  stderr with flag 2; data as UTF-8 text, else base64 with ``"encoding"``),
  ``finished`` ``{"type","status"}`` (the wait status), then ENODATA.  A
  command that cannot start is an error response (its errno).
- ``rexec.write`` ``{"pid","io":{"stream":"stdin","data"?,"eof"?}}``: to its stdin.
- ``rexec.kill`` ``{"pid","signum"}``: signals its process group.
- ``rexec.disconnect``: the requester went away: its processes are killed.

Background mode (a non-streaming exec), ``attach``, ``wait``, credits and
auxiliary channels are not implemented (EPROTO / ENOSYS).
"""

from __future__ import annotations

import errno
import os
import signal
from typing import TYPE_CHECKING, Any, Optional

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.ioencode import iodecode_data, ioencode
from flux.message import Message

from .router import RequestError, from_sender

if TYPE_CHECKING:  # pragma: no cover
    import subprocess

    from .loop import ChildWatch, Loop
    from .router import Router

__all__ = ["Rexec"]

_STDOUT, _STDERR = 1, 2


class _Proc:
    __slots__ = ("req", "popen", "pipes", "status", "watch")

    def __init__(self, req: Message, popen: subprocess.Popen) -> None:
        self.req = req
        self.popen = popen
        self.pipes: dict[int, tuple[str, Any]] = {}  # fd -> (stream, file)
        self.status: Optional[int] = None
        self.watch: Optional[ChildWatch] = None


class Rexec:
    """The subprocess server of one broker."""

    def __init__(self, router: "Router", loop: "Loop", rank: int, local_uri: str) -> None:
        self.router = router
        self.loop = loop
        self.rank = str(rank)
        self.local_uri = local_uri
        self.procs: dict[int, _Proc] = {}
        svc = router.builtin("rexec")
        svc.method("exec", self._exec)
        svc.method("write", self._write)
        svc.method("kill", self._kill)
        svc.method("disconnect", self._disconnect)

    # -- exec ---------------------------------------------------------------------------

    def _exec(self, msg: Message) -> None:
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            raise RequestError(errno.EPROTO, "background mode is not supported")
        obj = msg.payload_json()
        cmd = obj.get("cmd")
        flags = obj.get("flags", 0)
        if not isinstance(cmd, dict) or not isinstance(flags, int):
            raise RequestError(errno.EPROTO)
        argv = cmd.get("cmdline")
        env = cmd.get("env") or {}
        cwd = cmd.get("cwd") or None
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv) \
                or not isinstance(env, dict) or (cwd is not None and not isinstance(cwd, str)):
            raise RequestError(errno.EPROTO)
        if cmd.get("channels"):
            raise RequestError(errno.ENOSYS, "auxiliary channels are not supported")
        from flux.environment import flux_environment

        env = {str(k): str(v) for k, v in env.items()}
        env.update(flux_environment(env))  # our flux first on PATH, as the initial program's
        env["FLUX_URI"] = self.local_uri  # the command is a client of this rank's broker
        import subprocess  # here: ~5 ms of every broker's start-up at the top

        try:
            popen = subprocess.Popen(argv, cwd=cwd, env=env,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE if flags & _STDOUT else None,
                                     stderr=subprocess.PIPE if flags & _STDERR else None,
                                     start_new_session=True)
        except OSError as exc:
            # flux-core's subprocess server text; the client names the command
            raise RequestError(exc.errno or errno.EINVAL,
                               f"error launching process: {exc.strerror}") from None
        proc = _Proc(msg, popen)
        self.procs[popen.pid] = proc
        self.router.respond(msg, {"type": "started", "pid": popen.pid})
        for stream, f in (("stdout", popen.stdout), ("stderr", popen.stderr)):
            if f is not None:
                os.set_blocking(f.fileno(), False)
                proc.pipes[f.fileno()] = (stream, f)
                self.loop.add_reader(f.fileno(), self._reader(proc, f.fileno()))
        proc.watch = self.loop.watch_child(popen.pid, lambda: self._reap(proc))

    def _reader(self, proc: _Proc, fd: int) -> Any:
        return lambda events: self._read(proc, fd)

    def _output(self, proc: _Proc, stream: str, data: Optional[bytes], eof: bool) -> None:
        io = ioencode(stream, self.rank, data, eof)
        self.router.respond(proc.req, {"type": "output", "pid": proc.popen.pid, "io": io})

    def _read(self, proc: _Proc, fd: int) -> None:
        stream, f = proc.pipes[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._output(proc, stream, data, False)
            return
        self.loop.remove(fd)
        f.close()
        del proc.pipes[fd]
        self._output(proc, stream, None, True)
        self._maybe_done(proc)

    def _reap(self, proc: _Proc) -> None:
        if proc.status is not None:
            return
        try:
            pid, status = os.waitpid(proc.popen.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = proc.popen.pid, 0
        if pid == 0:
            return
        proc.status = status
        proc.popen.returncode = 0  # reaped here: keep Popen from waiting again
        if os.WIFSIGNALED(status):
            # killed before it could end its children (a job shell's tasks): what is
            # left of the session it led goes with it
            from .job_shell_launch import kill_session

            kill_session(proc.popen.pid)
        if proc.watch is not None:
            proc.watch.close()
            proc.watch = None
        self._maybe_done(proc)

    def _maybe_done(self, proc: _Proc) -> None:
        if proc.status is None or proc.pipes:
            return
        self.procs.pop(proc.popen.pid, None)
        if proc.popen.stdin is not None and not proc.popen.stdin.closed:
            try:
                proc.popen.stdin.close()
            except OSError:
                pass
        self.router.respond(proc.req, {"type": "finished", "status": proc.status})
        self.router.respond_error(proc.req, errno.ENODATA)

    # -- write, kill, disconnect -------------------------------------------------------------

    def _lookup(self, msg: Message) -> tuple[_Proc, dict]:
        obj = msg.payload_json()
        pid = obj.get("pid")
        proc = self.procs.get(pid) if isinstance(pid, int) else None
        if proc is None:
            raise RequestError(errno.ESRCH)
        if not from_sender(proc.req, msg):
            raise RequestError(errno.EPERM)
        return proc, obj

    def _write(self, msg: Message) -> None:
        proc, obj = self._lookup(msg)
        io = obj.get("io")
        if not isinstance(io, dict) or io.get("stream") != "stdin":
            raise RequestError(errno.EPROTO)
        stdin = proc.popen.stdin
        try:
            data = io.get("data")
            if isinstance(data, str) and stdin is not None and not stdin.closed:
                raw = iodecode_data(io)
                stdin.write(raw)
                stdin.flush()
            if io.get("eof") and stdin is not None and not stdin.closed:
                stdin.close()
        except (OSError, ValueError):
            pass  # the command stopped reading: what it missed is lost, as with a pipe
        self.router.respond(msg)

    def _kill(self, msg: Message) -> None:
        proc, obj = self._lookup(msg)
        signum = obj.get("signum")
        if not isinstance(signum, int):
            raise RequestError(errno.EPROTO)
        try:
            os.killpg(proc.popen.pid, signum)
        except ProcessLookupError:
            pass
        except OSError as exc:
            raise RequestError(exc.errno or errno.EINVAL) from None
        self.router.respond(msg)

    def _disconnect(self, msg: Message) -> None:
        for proc in list(self.procs.values()):
            if from_sender(proc.req, msg):
                try:
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                except OSError:
                    pass

    def close(self) -> None:
        """Kill what still runs (the broker is going)."""
        for proc in list(self.procs.values()):
            import subprocess

            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.popen.wait(timeout=5)
            except (subprocess.TimeoutExpired, ChildProcessError):
                pass
            for fd, (_, f) in list(proc.pipes.items()):
                self.loop.remove(fd)
                f.close()
            if proc.watch is not None:
                proc.watch.close()
        self.procs.clear()
