"""The ssh:// connector and flux proxy through a real OpenSSH server on 127.0.0.1.

The test makes a host key and a user key in a temporary directory and starts
``sshd -f CONFIG -D -e`` on a free loopback port (skipped if sshd or ssh is
not installed; .ci/run installs them).  FLUX_SSH is a two-line script that
runs the real ``ssh`` with this test's client configuration.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import flux_exe, short_tmpdir, start_instance

T = 30
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
SSH = shutil.which("ssh")
KEYGEN = shutil.which("ssh-keygen")

pytestmark = pytest.mark.skipif(not (SSHD and SSH and KEYGEN),
                                reason="OpenSSH server/client not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.port = _free_port()
        user = os.environ.get("USER") or __import__("pwd").getpwuid(os.getuid()).pw_name
        self.user = user
        for name in ("host_key", "user_key"):
            subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/{name}"],
                           check=True, timeout=T)
        shutil.copy(f"{tmp}/user_key.pub", f"{tmp}/authorized_keys")
        with open(f"{tmp}/sshd_config", "w") as f:
            f.write(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {tmp}/host_key\n"
                    f"PidFile {tmp}/sshd.pid\nAuthorizedKeysFile {tmp}/authorized_keys\n"
                    "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    "PermitRootLogin prohibit-password\nPrintMotd no\nLogLevel ERROR\n")
        with open(f"{tmp}/ssh_config", "w") as f:
            f.write(f"Host *\n  IdentityFile {tmp}/user_key\n  IdentitiesOnly yes\n"
                    f"  UserKnownHostsFile {tmp}/known_hosts\n  StrictHostKeyChecking no\n"
                    "  BatchMode yes\n  LogLevel ERROR\n  ConnectTimeout 10\n")
        self.ssh = f"{tmp}/ssh"
        with open(self.ssh, "w") as f:
            f.write(f'#!/bin/sh\nexec {SSH} -F {tmp}/ssh_config "$@"\n')
        os.chmod(self.ssh, 0o755)
        if os.getuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        self.log = open(f"{tmp}/sshd.log", "w")
        self.proc = subprocess.Popen([SSHD, "-f", f"{tmp}/sshd_config", "-D", "-e"],
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + T
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {Path(tmp, 'sshd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def sshd():
    tmp = short_tmpdir()
    server = Sshd(tmp)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def inst():
    with start_instance() as instance:
        yield instance


def _env(inst, sshd, **extra):
    env = dict(inst.env)
    env["PATH"] = str(Path(flux_exe()).parent) + ":" + env.get("PATH", "")
    env["FLUX_SSH"] = sshd.ssh
    env.update(extra)
    return env


def _relays(path: str) -> list[str]:
    """Processes (other than the broker) whose command line names the instance's socket."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"relay" in argv and any(path.encode() in a for a in argv):
            out.append(pid)
    return out


def _wait_no_relays(path: str) -> None:
    deadline = time.monotonic() + T
    while _relays(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _relays(path) == []


def test_ssh_uri_from_the_api(inst, sshd):
    import flux

    uri = f"ssh://{sshd.user}@127.0.0.1:{sshd.port}{inst.path}"
    old = os.environ.get("FLUX_SSH")
    os.environ["FLUX_SSH"] = sshd.ssh
    os.environ["FLUX_SSH_RCMD"] = flux_exe()
    try:
        h = flux.Flux(uri)
        assert h.attr_get("size") == "1"
        resp = h.rpc("broker.ping", {"seq": 1}).get()
        assert resp["userid"] == os.getuid()  # the far relay's credentials
        h.event_subscribe("sshtest")
        h.event_send("sshtest", {"x": "y" * 100000})
        assert h.event_recv().payload == {"x": "y" * 100000}
        h.handle.conn.close()
    finally:
        os.environ.pop("FLUX_SSH_RCMD", None)
        if old is None:
            os.environ.pop("FLUX_SSH", None)
        else:
            os.environ["FLUX_SSH"] = old
    _wait_no_relays(inst.path)


def test_commands_over_ssh_default_remote_path(inst, sshd):
    """No FLUX_SSH_RCMD: the remote PATH has the directory of the local flux."""
    env = _env(inst, sshd, FLUX_URI=f"ssh://127.0.0.1:{sshd.port}{inst.path}")
    env.pop("FLUX_SSH_RCMD", None)
    r = inst.run("kvs", "put", "overssh=42", env=env, timeout=T)
    assert r.returncode == 0, r.stderr
    r = inst.run("kvs", "get", "overssh", env=env, timeout=T)
    assert r.stdout == "42\n", r.stderr
    assert inst.run("getattr", "rank", env=env, timeout=T).stdout == "0\n"
    _wait_no_relays(inst.path)


def test_proxy_over_ssh(inst, sshd):
    uri = f"ssh://127.0.0.1:{sshd.port}{inst.path}"
    env = _env(inst, sshd, FLUX_SSH_RCMD=flux_exe())
    script = ('echo "$FLUX_PROXY_REMOTE"; flux getattr size; flux kvs put viaproxy=1;'
              ' flux kvs get viaproxy; exit 4')
    r = inst.run("proxy", uri, script, env=env, timeout=T)
    assert r.returncode == 4, r.stderr
    assert r.stdout.splitlines() == ["127.0.0.1", "1", "1"]
    _wait_no_relays(inst.path)


def test_uri_remote_round_trip(inst, sshd):
    env = _env(inst, sshd)
    r = inst.run("uri", "--local", f"ssh://127.0.0.1:{sshd.port}{inst.path}", env=env, timeout=T)
    assert r.stdout == f"{inst.uri}\n"


def test_missing_instance_over_ssh_fails_cleanly(inst, sshd):
    env = _env(inst, sshd, FLUX_SSH_RCMD=flux_exe(),
               FLUX_URI=f"ssh://127.0.0.1:{sshd.port}/nonexistent/local")
    start = time.monotonic()
    r = inst.run("getattr", "size", env=env, timeout=T)
    assert r.returncode == 1
    # the far relay's error, through ssh's stderr, as the connection's error
    assert r.stderr.strip() == (f"flux-getattr: Unable to connect to Flux: {socket.gethostname()}:"
                                " local:///nonexistent/local: No such file or directory")
    assert time.monotonic() - start < T


def test_proxy_over_ssh_when_the_instance_goes_away(sshd):
    with start_instance() as inner:
        uri = f"ssh://127.0.0.1:{sshd.port}{inner.path}"
        env = _env(inner, sshd, FLUX_SSH_RCMD=flux_exe())
        marker = os.path.join(inner.tmpdir, "up")
        proxy = subprocess.Popen([inner.flux, "proxy", uri,
                                  f"touch {marker}; while :; do sleep 0.1; done"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + T
            while not os.path.exists(marker) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _relays(inner.path)  # the proxy's connection, through ssh
            inner.run("shutdown", timeout=T)
            inner.proc.wait(timeout=T)
            _, err = proxy.communicate(timeout=T)
            assert "flux-proxy: Lost connection to Flux" in err
            assert proxy.returncode == 128 + signal.SIGHUP
        finally:
            try:
                os.killpg(proxy.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proxy.wait()
            proxy.stdout.close()
            proxy.stderr.close()
        _wait_no_relays(inner.path)
