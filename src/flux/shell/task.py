"""One task of the job: its process (own process group, as flux-core's shell sets
unless ``nosetpgrp``), its stdout/stderr pipes, its stdin (a pipe fed from the job's
input, or a file) and its end."""

from __future__ import annotations

import errno
import os
import subprocess

from flux._fdread import read_ready
from flux.constants import FLUX_POLLIN, FLUX_POLLOUT

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["Task", "exit_code"]


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


class Task:
    """``start()`` raises OSError if the command cannot be run (not found: ENOENT)."""

    def __init__(self, h: Any, rank: int, localid: int,
                 on_output: Callable[[Task, str, Optional[bytes]], None],
                 on_exit: Callable[[Task], None]) -> None:
        self.h = h
        self.rank = rank
        self.localid = localid
        self.on_output = on_output
        self.on_exit = on_exit
        self.proc: Optional[subprocess.Popen] = None
        self.pid = 0
        self.status: Optional[int] = None
        self.open_streams: dict[int, tuple[str, Any]] = {}
        self.stdin_fd: Optional[int] = None
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.stdin_watch: Any = None
        self.exit_watch: Any = None
        self.pidfd: Optional[int] = None

    @property
    def done(self) -> bool:
        return self.status is not None and not self.open_streams

    def start(self, argv: list[str], env: dict[str, str], cwd: str,
              stdin_file: Optional[str], setpgrp: bool = True,
              pass_fds: tuple[int, ...] = ()) -> None:
        kwargs: dict[str, Any] = {}
        if setpgrp:
            kwargs["process_group"] = 0
        stdin: Any = subprocess.PIPE
        if stdin_file is not None:
            stdin = os.open(stdin_file, os.O_RDONLY)
        try:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         close_fds=True, pass_fds=pass_fds, **kwargs)
        finally:
            if stdin_file is not None:
                os.close(stdin)
        self.pid = self.proc.pid
        if self.proc.stdin is not None:
            self.stdin_fd = os.dup(self.proc.stdin.fileno())
            self.proc.stdin.close()
            os.set_blocking(self.stdin_fd, False)
            self._stdin_flush()
        for stream, name in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            assert stream is not None
            fd = os.dup(stream.fileno())
            stream.close()
            os.set_blocking(fd, False)
            watch = self.h.fd_watcher_create(fd, self._readable, FLUX_POLLIN)
            watch.start()
            self.open_streams[fd] = (name, watch)
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self.exit_watch = self.h.timer_watcher_create(0.05, self._check, repeat=0.05)
        else:
            self.exit_watch = self.h.fd_watcher_create(self.pidfd, self._check, FLUX_POLLIN)
        self.exit_watch.start()

    # -- output ---------------------------------------------------------------------------

    def _readable(self, h: Any, watcher: Any, fd: int, revents: int, args: Any) -> None:
        name, watch = self.open_streams[fd]
        data = read_ready(fd)
        if data is None:
            return
        if data:
            self.on_output(self, name, data)
            return
        watch.stop()
        os.close(fd)
        del self.open_streams[fd]
        self.on_output(self, name, None)
        self._maybe_done()

    # -- the end ----------------------------------------------------------------------------

    def _check(self, *args: Any) -> None:
        if self.status is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            return
        self.status = status
        if self.proc is not None:
            self.proc.returncode = status
        self.exit_watch.stop()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        self.close_stdin()
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self.done:
            self.on_exit(self)

    def kill(self, signum: int) -> None:
        if self.pid and self.status is None:
            try:
                os.killpg(self.pid, signum)
            except OSError:
                try:
                    os.kill(self.pid, signum)
                except OSError:
                    pass

    # -- stdin ----------------------------------------------------------------------------

    def write_stdin(self, data: bytes, eof: bool) -> None:
        """Queue input for the task (kept until it has started)."""
        if self.stdin_eof:
            return
        self.stdin_buf += data
        self.stdin_eof = eof
        if self.stdin_fd is not None:
            self._stdin_flush()

    def _stdin_flush(self, *args: Any) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        while self.stdin_buf:
            try:
                n = os.write(fd, self.stdin_buf)
            except BlockingIOError:
                if self.stdin_watch is None:
                    self.stdin_watch = self.h.fd_watcher_create(fd, self._stdin_flush,
                                                                FLUX_POLLOUT)
                    self.stdin_watch.start()
                return
            except OSError as exc:
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    self.stdin_buf.clear()
                    self.stdin_eof = True
                    break
                raise
            del self.stdin_buf[:n]
        if self.stdin_watch is not None:
            self.stdin_watch.stop()
            self.stdin_watch = None
        if self.stdin_eof:
            self.close_stdin()

    def close_stdin(self) -> None:
        if self.stdin_watch is not None:
            self.stdin_watch.stop()
            self.stdin_watch = None
        if self.stdin_fd is not None:
            os.close(self.stdin_fd)
            self.stdin_fd = None
        self.stdin_buf.clear()
        self.stdin_eof = True

