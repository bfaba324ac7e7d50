"""``flux proxy [-f] [-n] TARGET [COMMAND...]``: run COMMAND with an instance reached elsewhere.

As flux-core's: TARGET (a jobid, ``pid:``, ``local://`` or ``ssh://`` URI) is
resolved as ``flux uri`` does, the broker's version is checked (major.minor,
``--force`` to go on), a socket ``$TMPDIR/flux-proxy-XXXXXX/local`` is opened
and COMMAND (``$SHELL -c 'COMMAND...'``, or an interactive ``$SHELL``) runs
with ``FLUX_URI`` naming it (and ``FLUX_PROXY_REMOTE`` the ssh host).  The
proxy exits with COMMAND's status (128+N for signal N).  When the instance
goes away it says so, sends the command SIGHUP (not with ``--nohup``) and
exits when the command does.

Each client of the socket is relayed over its own connection to TARGET
(flux-core multiplexes them over one); the broker sees the proxy's
credentials either way.  Clients of another user are refused (EPERM).
"""

from __future__ import annotations

SUMMARY = "Route messages to/from Flux instance"

PROG = "flux-proxy"

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import socket as _socket
    import subprocess as _subprocess
    from typing import Any, Optional

    from flux.core.connection import Connection

    from ._relay_pump import Pump, Session


def _resolve(target: str) -> str:
    """TARGET -> URI, as flux-core's ``uri_resolve`` (``flux uri``, errors on stderr)."""
    from .util import resolve_target

    return resolve_target(PROG, target, f"Unable to resolve {target} to a URI")


def _remote_authority(uri: str) -> Optional[str]:
    """``[user@]host`` of an ssh:// URI (``FLUX_PROXY_REMOTE``), else None."""
    if not uri.startswith("ssh://"):
        return None
    from flux.core.ssh import parse_ssh_uri

    try:
        user, host, _port, _path = parse_ssh_uri(uri)
    except OSError:
        return None
    return f"{user}@{host}" if user else host


def _version_check(h: Any, force: bool) -> None:
    import flux

    from .util import die

    ours = str(flux.FLUX_CORE_COMPAT_VERSION)
    theirs = str(h.attr_get("version"))
    mine = ours.split(".")[:2]
    parts = theirs.split("-")[0].split(".")
    if len(parts) < 3 or not all(p.isdigit() for p in parts[:3]) or parts[:2] != mine:
        if not force:
            die(PROG, f"fatal: proxy version {ours} may not interoperate with broker"
                      f" version {theirs} (--force to connect anyway)")
        print(f"{PROG}: warning: proxy version {ours} may not interoperate"
              f" with broker version {theirs}", file=__import__("sys").stderr, flush=True)


def _socket_dir() -> str:
    import os
    import sys
    import tempfile

    tmpdir = os.environ.get("TMPDIR")
    if tmpdir and not os.path.isdir(tmpdir):
        print(f"{PROG}: TMPDIR ({tmpdir}) is not a directory. Using /tmp instead",
              file=sys.stderr, flush=True)
        tmpdir = "/tmp"
    return tempfile.mkdtemp(prefix="flux-proxy-", dir=tmpdir or "/tmp")


class Proxy:
    """The listening socket, one relayed session per client, the command, the control link."""

    def __init__(self, uri: str, control: Connection, sockpath: str) -> None:
        import os
        import socket

        from ._relay_pump import Pump

        self.uri = uri
        self.control = control
        self.sockpath = sockpath
        self.uid = os.getuid()
        self.pump: Pump = Pump()
        self.upstreams: dict[int, tuple[_socket.socket, Connection]] = {}
        self.lost = False
        self.child: Optional[_subprocess.Popen] = None
        self.listener: Optional[_socket.socket] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(sockpath)
        os.chmod(sockpath, 0o777)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.pump.add_reader(self.listener.fileno(), self._accept)
        self.pump.add_reader(control.fileno(), self._control_readable)

    # -- clients ----------------------------------------------------------------------------

    def _accept(self) -> None:
        import errno
        import socket
        import struct

        from flux.core.connection import connect

        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        sock.setblocking(True)
        try:
            _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        except OSError:
            sock.close()
            return
        if uid != self.uid:
            self._reject(sock, errno.EPERM)
            return
        try:
            upstream = connect(self.uri)
        except OSError as exc:
            self._reject(sock, exc.errno or errno.ECONNREFUSED)
            return
        try:
            sock.sendall(b"\x00")
        except OSError:
            sock.close()
            upstream.close()
            return
        fd = sock.fileno()
        self.upstreams[fd] = (sock, upstream)
        self.pump.add_session(fd, fd, upstream.fileno(), upstream.fileno(), self._session_end)

    @staticmethod
    def _reject(sock: _socket.socket, errnum: int) -> None:
        try:
            sock.send(bytes((errnum & 0xFF,)))
        except OSError:
            pass
        sock.close()

    def _session_end(self, session: Session, _why: str) -> None:
        client_fd = session.dirs[0].src
        pair = self.upstreams.pop(client_fd, None)
        if pair is not None:
            pair[0].close()
            pair[1].close()

    # -- the instance --------------------------------------------------------------------------

    def _control_readable(self) -> None:
        from flux.core.connection import ConnectionLost
        from flux.codec import ProtocolError

        try:
            self.control.read_nowait()  # nothing is expected but the end
        except (ConnectionLost, ProtocolError, OSError):
            self.pump.remove_reader(self.control.fileno())
            self.lost = True

    def close_server(self) -> None:
        """Stop accepting and end every session (the socket file goes with its directory)."""
        if self.listener is not None:
            self.pump.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
        for session in list(self.pump.sessions):
            self.pump.end(session, "shutdown")


def _child_env(sockpath: str, remote: Optional[str]) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["FLUX_URI"] = f"local://{sockpath}"
    if remote:
        env["FLUX_PROXY_REMOTE"] = remote
    return env


def main(argv: list[str]) -> int:
    import os
    import shutil
    import signal
    import subprocess
    import sys

    from ._optparse import NO_ARG, Option, Parser
    from .util import die, oserror_text

    table = [
        Option("f", "force", NO_ARG, help="Skip checks when connecting to Flux broker"),
        Option("n", "nohup", NO_ARG,
               help="Do not send SIGHUP to child processes when connection to Flux is lost"),
    ]
    parser = Parser("flux proxy", "[OPTIONS] JOBID|URI [COMMAND...]", table,
                    stop_at_nonoption=True, doc="Route messages to/from Flux instance")
    opts, args = parser.parse(argv)
    if not args:
        parser.fatal_usage("URI argument is required")
    target, command = args[0], args[1:]
    uri = _resolve(target)

    import flux

    try:
        h = flux.Flux(uri)
    except OSError as exc:
        die(PROG, f"{uri}: {oserror_text(exc)}")
    try:
        _version_check(h, bool(opts.force))
    except OSError as exc:
        die(PROG, f"flux_attr_get version: {oserror_text(exc)}")
    control = h.handle.conn

    sockdir = _socket_dir()
    sockpath = os.path.join(sockdir, "local")
    try:
        proxy = Proxy(uri, control, sockpath)
    except OSError as exc:
        shutil.rmtree(sockdir, ignore_errors=True)
        die(PROG, f"{sockpath}: cannot set up socket listener: {oserror_text(exc)}")

    shell = os.environ.get("SHELL") or "/bin/sh"
    cmd = [shell] + (["-c", " ".join(command)] if command else [])

    def ignore(_signum: int, _frame: Any) -> None:  # reset to default in the command by exec
        pass

    def forward(signum: int, _frame: Any) -> None:
        if proxy.child is not None and proxy.child.poll() is None:
            proxy.child.send_signal(signum)

    signal.signal(signal.SIGINT, ignore)  # the terminal's ^C is the command's to act on
    signal.signal(signal.SIGQUIT, ignore)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    saved_term = _save_terminal()
    status = 1
    try:
        try:
            proxy.child = subprocess.Popen(cmd, env=_child_env(sockpath, _remote_authority(uri)))
        except OSError as exc:
            die(PROG, f"child_create: {oserror_text(exc)}")
        status = _run(proxy, bool(opts.nohup), saved_term)
    finally:
        proxy.close_server()
        shutil.rmtree(sockdir, ignore_errors=True)
        control.close()
    sys.stdout.flush()
    return status


def _run(proxy: Proxy, nohup: bool, saved_term: Any) -> int:
    """Relay until the command ends (its status) or the instance goes (then wait for it)."""
    import os
    import signal
    import sys

    child = proxy.child
    assert child is not None
    try:
        pidfd: Optional[int] = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        proxy.pump.add_reader(pidfd, lambda: None)
    try:
        while child.poll() is None and not proxy.lost:
            proxy.pump.run_once(None if pidfd is not None else 0.1)
        if proxy.lost and child.poll() is None:
            print(f"{PROG}: Lost connection to Flux", file=sys.stderr, flush=True)
            if not nohup:
                print(f"{PROG}: Sending SIGHUP to child processes", file=sys.stderr, flush=True)
                for signum in (signal.SIGHUP, signal.SIGCONT):
                    try:
                        child.send_signal(signum)
                    except OSError:
                        pass
            proxy.close_server()
            child.wait()
            _restore_terminal(saved_term)
    finally:
        if pidfd is not None:
            proxy.pump.remove_reader(pidfd)
            os.close(pidfd)
    code = child.returncode
    return 128 - code if code < 0 else code


def _save_terminal() -> Any:
    import sys

    try:
        import termios

        if sys.stdin.isatty():
            return termios.tcgetattr(sys.stdin.fileno())
    except (ImportError, OSError, ValueError):
        pass
    return None


def _restore_terminal(saved: Any) -> None:
    """As flux-core's proxy after a lost connection: the terminal's modes back, cursor shown."""
    import signal
    import sys

    if saved is None:
        return
    try:
        import termios

        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        sys.stdout.write("\033[?25h\r\n")
        sys.stdout.flush()
    except (ImportError, OSError, ValueError):
        pass
