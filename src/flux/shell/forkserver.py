"""A process that forks job shells with the shell's code already imported.

Starting ``python -m flux.shell`` costs a Python start-up and the shell's imports, about
25 ms of CPU, for every job: more than the rest of a short job's life put together.  The
broker's launcher (``flux.broker.job_shell_launch``) therefore starts this server once and
asks it for each shell; the server forks a child that runs the shell's ``main`` at once.
Each job still gets a shell process of its own, in its own process group, with the
stdout/stderr pipes the broker made for it, so the shell behaves as one the broker
started itself.

The protocol, on a SOCK_SEQPACKET socket (fd 0 of this process), one JSON object a packet:

- launcher -> server: ``{"tag": N, "jobid": ID, "env": {...}, "cwd": DIR}`` with two
  descriptors (the shell's stdout and stderr) passed alongside (SCM_RIGHTS);
- server -> launcher: ``{"tag": N, "pid": PID}`` once forked, or ``{"tag": N, "errno": E,
  "error": TEXT}``; later ``{"pid": PID, "status": WAITSTATUS}`` when the shell ends.

The server exits when the launcher closes its end.  It is single-threaded (fork-safe) and
sleeps in ``poll`` between requests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["serve", "MAX_PACKET"]

#: the largest request: a job's environment travels in it
MAX_PACKET = 1 << 20

#: the server's own descriptors (the signal wake-up pipe, its end of the spare's socket
#: pair), closed in each child
_OWN_FDS: list[int] = []

#: milliseconds with no shell running before a spare shell is forked
_SPARE_IDLE_MS = 2

#: room for the two descriptors passed with a request
_FDSIZE = socket.CMSG_SPACE(2 * 4)


def _warm_up() -> None:
    """Import what every shell needs (what its lazy imports load: measured by comparing
    ``sys.modules`` before and after a shell's run), so that each fork finds it loaded."""
    import fnmatch  # noqa: F401
    import shutil  # noqa: F401
    import subprocess  # noqa: F401

    import flux  # noqa: F401
    import flux.core.handle  # noqa: F401
    import flux.core.watchers  # noqa: F401
    import flux.eventlog  # noqa: F401
    import flux.future  # noqa: F401
    import flux.job.JobID  # noqa: F401
    import flux.kvs.errors  # noqa: F401
    import flux.kvs.ops  # noqa: F401
    import flux.rpc  # noqa: F401
    import flux.services.content.blobref  # noqa: F401
    import flux.services.job_ingest.sign_none  # noqa: F401
    import flux.services.kvs.treeobj  # noqa: F401
    import flux.services.kvs.txn  # noqa: F401
    import flux.services.resource.rv1  # noqa: F401
    import flux.idset  # noqa: F401
    import flux.pmi.mapping  # noqa: F401
    import flux.pmi.server  # noqa: F401
    import flux.pmi.wire  # noqa: F401
    import flux.fsd  # noqa: F401
    import flux.proctitle  # noqa: F401
    import flux.shell.doom  # noqa: F401
    import flux.shell.tasks_complete  # noqa: F401
    import flux.shell.pmi  # noqa: F401
    import flux.shell.shell  # noqa: F401

    flux.Flux  # noqa: B018  (the handle class loads on first use)


def _detach(sock: socket.socket) -> None:
    """In a forked child: drop the server's descriptors, take a session of its own."""
    sock.close()
    for fd in _OWN_FDS:
        os.close(fd)
    # stdin from /dev/null at once: the server's socket was fd 0, which a connection
    # opened now (a spare's) must not take
    devnull = os.open(os.devnull, os.O_RDONLY)
    if devnull != 0:
        os.dup2(devnull, 0)
        os.close(devnull)
    # a session of its own: its tasks (process groups of their own) stay in it, so the
    # broker can find and end them if the shell dies without ending them itself
    os.setsid()
    for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python starts: EPIPE, not death
    signal.set_wakeup_fd(-1)
    import flux.core.connection

    # a shell waits on the broker without spinning: the node's CPUs are its tasks'
    flux.core.connection.SPIN_SECONDS = 0.0


def _run_shell(req: dict, fds: list[int], h: Any = None) -> None:
    """In a detached child: become job ``req["jobid"]``'s shell (over the broker
    connection ``h`` if one is open already); never returns."""
    code = 1
    try:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        _set_environ(req["env"])
        os.chdir(req.get("cwd") or "/")
        jobid = str(req["jobid"])
        sys.argv = ["flux-shell", jobid]
        from flux.proctitle import set_proctitle

        set_proctitle("flux-shell", f"flux-shell {jobid}")  # as flux-core's shell shows
        from flux.shell.shell import main

        attrs = req.get("attrs")
        code = main([jobid], h, attrs if isinstance(attrs, dict) else None)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # the shell must not return into the server's loop
        try:
            os.write(2, f"flux-shell: {exc}\n".encode())
        except OSError:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)


def _child(req: dict, fds: list[int], sock: socket.socket) -> None:
    """In a child forked for a request: become its shell; never returns."""
    try:
        _detach(sock)
    except BaseException:
        os._exit(1)
    _run_shell(req, fds)


def _spare_child(conn: socket.socket, sock: socket.socket, uri: Optional[str]) -> None:
    """In a spare: detach and connect to the broker ahead of the job, wait for the
    request the server passes on, then become its shell; never returns."""
    h: Any = None
    try:
        _detach(sock)
        if uri:
            import flux

            # one attempt (no retries while the broker is not there): the request's own
            # environment replaces this one before the shell runs
            os.environ["FLUX_LOCAL_CONNECTOR_RETRY_COUNT"] = "0"
            try:
                h = flux.Flux(uri)
            except OSError:
                h = None
        data, anc, _flags, _addr = conn.recvmsg(MAX_PACKET, _FDSIZE)
        fds = _passed_fds(anc)
        conn.close()
        if not data:  # the server is gone (or ends): so is this job-less spare
            os._exit(0)
        req = json.loads(data)
        if h is not None and req["env"].get("FLUX_URI") != uri:
            h = None  # another broker's: the shell connects itself (this one is dropped)
    except BaseException:
        os._exit(1)
    _run_shell(req, fds, h)


class _Spare:
    """A child forked ahead of the next request (its end of their socket pair)."""

    __slots__ = ("pid", "conn")

    def __init__(self, pid: int, conn: socket.socket) -> None:
        self.pid = pid
        self.conn = conn

    def close(self, kill: bool = False) -> None:
        fd = self.conn.fileno()
        if fd in _OWN_FDS:
            _OWN_FDS.remove(fd)
        self.conn.close()
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass


def _fork_spare(sock: socket.socket, uri: Optional[str]) -> Optional[_Spare]:
    """Fork the shell of the next request now, while nothing waits for it: the request
    then costs a message to it rather than a fork, a child's set-up and a connection."""
    try:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        ours.close()
        theirs.close()
        return None
    if pid == 0:
        ours.close()
        _spare_child(theirs, sock, uri)
    theirs.close()
    _OWN_FDS.append(ours.fileno())  # not for shells forked later
    return _Spare(pid, ours)


def _passed_fds(anc: list) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            n = len(payload) // 4
            fds.extend(int.from_bytes(payload[i * 4:i * 4 + 4], sys.byteorder)
                       for i in range(n))
    return fds


def _set_environ(env: dict[str, str]) -> None:
    """Make ``os.environ`` exactly ``env``, changing only what differs: the server has
    the broker's environment already, and each shell's differs in a name or two
    (clearing and refilling it cost half a millisecond per shell)."""
    environ = os.environ
    for name in [n for n in environ if n not in env]:
        del environ[name]
    for name, value in env.items():
        if environ.get(name) != value:
            environ[name] = value


def _send(sock: socket.socket, obj: dict) -> None:
    try:
        sock.send(json.dumps(obj).encode())
    except OSError:
        pass


def _reap(sock: socket.socket) -> list[int]:
    """Report the children that have ended; their pids."""
    gone: list[int] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return gone
        if pid == 0:
            return gone
        gone.append(pid)
        _send(sock, {"pid": pid, "status": status})


def _handle(sock: socket.socket, data: bytes, fds: list[int],
            spare: Optional[_Spare]) -> tuple[Optional[int], bool, Optional[str]]:
    """One launch request: to ``spare`` if there is one, else to a child forked now.
    The shell's pid (None if there is none), whether the spare is used up (closed
    then), and the broker URI the request names (for the next spare) or None."""
    try:
        req: Any = json.loads(data)
        tag = req["tag"]
        if len(fds) != 2 or not isinstance(req.get("env"), dict):
            raise ValueError("bad request")
    except (ValueError, KeyError, TypeError):
        for fd in fds:
            os.close(fd)
        return None, False, None
    uri = req["env"].get("FLUX_URI")
    if not isinstance(uri, str):
        uri = None
    if spare is not None:
        import array

        try:
            spare.conn.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                         array.array("i", fds))])
        except OSError:  # gone, or a request too large for the pair: fork instead
            spare.close(kill=True)
        else:
            spare.close()
            for fd in fds:
                os.close(fd)
            _send(sock, {"tag": tag, "pid": spare.pid})
            return spare.pid, True, uri
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        _send(sock, {"tag": tag, "errno": exc.errno, "error": exc.strerror or "fork failed"})
        return None, spare is not None, uri
    if pid == 0:
        _child(req, fds, sock)
    for fd in fds:
        os.close(fd)
    _send(sock, {"tag": tag, "pid": pid})
    return pid, spare is not None, uri


def serve(sock: socket.socket, spares: bool = True) -> None:
    """Answer launch requests on ``sock`` until it is closed (with a spare shell forked
    ahead of each request unless ``spares`` is false)."""
    import select

    rfd, wfd = os.pipe()
    _OWN_FDS[:] = [rfd, wfd]
    os.set_blocking(rfd, False)
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # Ctrl-C and a SIGTERM sent to the broker's process group belong to the broker: it
    # ends the jobs, then closes this server's socket, which is what ends this server
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(rfd, select.POLLIN)
    spare: Optional[_Spare] = None
    uri: Optional[str] = None
    live: set[int] = set()  # the shells running

    def reaped() -> None:
        nonlocal spare
        for pid in _reap(sock):
            live.discard(pid)
            if spare is not None and pid == spare.pid:  # it died unused
                spare.close()
                spare = None

    while True:
        # a spare is forked once no shell has run for a moment: not while one starts
        # (on a small node it would take the CPU the job needs), and not at all while
        # shells come one after another (nothing would be gained)
        idle = spares and spare is None and not live
        try:
            ready = poller.poll(_SPARE_IDLE_MS if idle else -1)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        if not ready and idle:
            # the next request's shell, connected to the broker the last one named
            spare = _fork_spare(sock, uri)
            continue
        for fd, _ in ready:
            if fd == rfd:
                try:
                    while os.read(rfd, 512):
                        pass
                except BlockingIOError:
                    pass
                reaped()
                continue
            data, anc, _flags, _addr = sock.recvmsg(MAX_PACKET, _FDSIZE)
            fds = _passed_fds(anc)
            if not data:
                for extra in fds:
                    os.close(extra)
                if spare is not None:
                    spare.close(kill=True)
                    try:
                        os.waitpid(spare.pid, 0)  # gone before the server is
                    except ChildProcessError:
                        pass
                _reap(sock)
                return
            pid, used, named = _handle(sock, data, fds, spare)
            uri = named or uri
            if used:
                spare = None
            if pid is not None:
                live.add(pid)
        reaped()


def main() -> int:
    import gc

    sock = socket.socket(fileno=0)
    _warm_up()
    # what is loaded now is shared with every shell: keep the collector from touching it
    # (a write to a shared page copies it in the child)
    gc.collect()
    gc.freeze()
    sock.send(b'{"ready": true}')
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
