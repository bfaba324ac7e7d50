"""The ``ssh://[user@]host[:port]/path`` connector: a broker on another host, through ssh.

As flux-core's ssh connector: runs ``ssh [-p PORT] [USER@]HOST [env ...] flux
relay /path`` (``$FLUX_SSH`` instead of ``ssh``; ``$FLUX_SSH_RCMD`` instead of
the remote ``flux``, else the remote ``PATH`` is set to the instance's
``rundir/bin``, the directory of the local ``flux`` and ``/bin:/usr/bin``;
``LD_LIBRARY_PATH`` is forwarded when set) with one end of a socket pair as
its stdin and stdout.  The far ``flux relay`` answers the handshake byte, so
past that the pair carries the same stream framing as ``local://``.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

from flux.core.connection import Connection, handshake

DEFAULT_SSH = "ssh"


def parse_ssh_uri(uri: str) -> tuple[Optional[str], str, Optional[int], str]:
    """``ssh://[user@]host[:port]/path`` -> (user, host, port, /path); EINVAL if malformed.

    Like flux-core's connector, a query or fragment is refused.
    """
    if not uri.startswith("ssh://"):
        raise OSError(errno.EINVAL, f"not an ssh:// URI: {uri}")
    rest = uri[len("ssh://"):]
    slash = rest.find("/")
    if slash <= 0 or "?" in rest or "#" in rest:
        raise OSError(errno.EINVAL, f"invalid ssh:// URI: {uri}")
    authority, path = rest[:slash], rest[slash:]
    while path.startswith("//"):
        path = path[1:]
    if path == "/":
        raise OSError(errno.EINVAL, f"invalid ssh:// URI: {uri}")
    user: Optional[str] = None
    if "@" in authority:
        user, authority = authority.rsplit("@", 1)
        if not user:
            raise OSError(errno.EINVAL, f"invalid ssh:// URI: {uri}")
    port: Optional[int] = None
    host = authority
    if authority.startswith("["):  # [v6addr]:port
        end = authority.find("]")
        if end < 0:
            raise OSError(errno.EINVAL, f"invalid ssh:// URI: {uri}")
        host, tail = authority[1:end], authority[end + 1:]
        if tail:
            if not tail.startswith(":"):
                raise OSError(errno.EINVAL, f"invalid ssh:// URI: {uri}")
            port = _port(tail[1:], uri)
    elif ":" in authority:
        host, text = authority.rsplit(":", 1)
        port = _port(text, uri)
    if not host:
        raise OSError(errno.EINVAL, f"invalid ssh:// URI: {uri}")
    return user, host, port, path


def _port(text: str, uri: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise OSError(errno.EINVAL, f"invalid port in ssh:// URI: {uri}")
    return int(text)


def _remote_path(sockpath: str) -> str:
    """``PATH=`` for the far side: the instance's rundir/bin, where ``flux`` is here, system bins."""
    rundir = os.path.dirname(sockpath) or "/"
    parts = [os.path.join(rundir, "bin")]
    local_flux = shutil.which("flux")
    if local_flux:
        parts.append(os.path.dirname(os.path.abspath(local_flux)))
    parts.append("/bin:/usr/bin")
    return "PATH=" + ":".join(parts)


def ssh_command(uri: str, environ: Optional[dict[str, str]] = None) -> list[str]:
    """The argv that reaches ``uri``'s broker (flux-core's ``build_ssh_command``)."""
    env = os.environ if environ is None else environ
    user, host, port, path = parse_ssh_uri(uri)
    ssh = env.get("FLUX_SSH") or DEFAULT_SSH
    rcmd = env.get("FLUX_SSH_RCMD")
    ld_path = env.get("LD_LIBRARY_PATH")
    argv = [ssh]
    if port is not None:
        argv += ["-p", str(port)]
    argv.append(f"{user}@{host}" if user else host)
    if ld_path or not rcmd:
        argv.append("env")
    if not rcmd:
        argv.append(_remote_path(path))
        rcmd = "flux"
    if ld_path:
        argv.append(f"LD_LIBRARY_PATH={ld_path}")
    argv += [rcmd, "relay", path]
    return argv


class SshConnection(Connection):
    """A stream connection over ssh's stdin/stdout; closing it ends ssh."""

    def __init__(self, sock: socket.socket, uri: str, proc: "subprocess.Popen[bytes]") -> None:
        super().__init__(sock, uri)
        self.proc = proc

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # the relay sees EOF on its stdin and exits, then ssh does
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def connect_ssh(uri: str) -> SshConnection:
    """Start ssh and the far relay; EINVAL for a bad URI, ENOENT for a missing ssh."""
    argv = ssh_command(uri)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        proc = subprocess.Popen(argv, stdin=theirs.fileno(), stdout=theirs.fileno(),
                                stderr=subprocess.PIPE, close_fds=True)
    except OSError as exc:
        ours.close()
        theirs.close()
        raise OSError(exc.errno or errno.ENOENT,
                      f"ssh-connector: {argv[0]}: {exc.strerror}"
                      " (hint: set FLUX_SSH in environment to override)") from None
    theirs.close()
    try:
        handshake(ours)
    except OSError:
        ours.close()
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        text = err.decode("utf-8", "replace").strip() if err else ""
        if not text:
            text = ("Unable to establish clean ssh connection (check that shell init"
                    " files do not write to stdout when non-interactive)")
        raise OSError(errno.ECONNRESET, text) from None
    return SshConnection(ours, uri, proc)
