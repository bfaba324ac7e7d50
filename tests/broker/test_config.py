"""The instance configuration: -c/--config-path, config.get/load/reload, [access]."""

from __future__ import annotations

import errno
import os
import socket
import time

import pytest

import flux
from conftest import base_env, flux_exe, start_instance
from proctree import run_tree

GUEST_UID = 65534


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture
def confdir(tmp_path):
    d = tmp_path / "conf.d"
    d.mkdir()
    write(d / "a.toml", '[mymod]\nkey = "v"\nn = 3\n')
    write(d / "b.toml", "[access]\nallow-guest-user = true\n")
    write(d / "ignored.txt", "not toml [")
    os.chmod(tmp_path, 0o755)
    return d


def test_config_directory_is_merged_and_served(confdir):
    with start_instance(f"config.path={confdir}") as inst:
        h = flux.Flux(inst.uri)
        assert h.conf_get() == {"mymod": {"key": "v", "n": 3}, "access": {"allow-guest-user": True}}
        assert h.conf_get("mymod.n") == 3
        assert h.conf_get("nosuch.key", default="d") == "d"
        assert h.attr_get("config.path") == str(confdir)
        assert h.rpc("connector-local.stats-get").get()["allow_guest_user"] is True
        r = inst.run("config", "get", "mymod.key")
        assert (r.returncode, r.stdout) == (0, "v\n")


def test_without_config_it_is_empty(instance):
    assert flux.Flux(instance.uri).conf_get() == {}
    assert flux.Flux(instance.uri).rpc("connector-local.stats-get").get()["allow_guest_user"] is False


def test_command_line_option_and_errors(tmp_path, confdir):
    env = base_env()
    run = lambda *a: run_tree([flux_exe(), "start", *a], env=env, capture_output=True,  # noqa: E731
                              text=True, timeout=30)
    r = run("-c", str(confdir), "flux", "config", "get", "access.allow-guest-user")
    assert (r.returncode, r.stdout) == (0, "true\n"), r.stderr
    r = run(f"--config-path={confdir / 'a.toml'}", "flux", "config", "get", "mymod.n")
    assert (r.returncode, r.stdout) == (0, "3\n"), r.stderr
    bad = write(tmp_path / "bad.toml", "x = [\n")
    r = run("-c", bad, "true")
    assert r.returncode == 1 and r.stderr.startswith(f"flux-broker: {bad}: ") and r.stderr.count("\n") == 1
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b"name = '\xe9t\xe9'\n")  # found by fuzzing: was a traceback
    r = run("-c", str(latin1), "true")
    assert (r.returncode, r.stderr) == (1, f"flux-broker: {latin1}: invalid UTF-8 at byte 8\n")
    r = run("-c", str(tmp_path / "nope"), "true")
    assert (r.returncode, r.stderr) == (1, f"flux-broker: {tmp_path / 'nope'}: No such file or directory\n")
    write(confdir / "c.toml", "[mymod]\nother = 1\n")
    r = run("-c", str(confdir), "true")
    assert r.returncode == 1 and "'mymod' is defined in more than one file" in r.stderr
    r = run("-c", write(tmp_path / "typo.toml", "[access]\nallow-guest-user = 'yes'\n"), "true")
    assert r.returncode == 1 and "access.allow-guest-user must be a boolean" in r.stderr


def test_load_and_reload_reach_modules(tmp_path, confdir):
    mod = write(tmp_path / "confmod.py", (
        "from flux.brokermod import BrokerModule, request_handler\n"
        "class ConfMod(BrokerModule):\n"
        "    @request_handler('conf')\n"
        "    def conf(self, msg):\n"
        "        self.handle.respond(msg, {'conf': self.handle.conf_get()})\n"))
    with start_instance(f"config.path={confdir}") as inst:
        h = flux.Flux(inst.uri)
        assert inst.run("module", "load", mod).returncode == 0
        assert h.rpc("confmod.conf").get()["conf"]["mymod"]["key"] == "v"
        # config.load replaces the config everywhere, modules included
        h.rpc("config.load", {"mymod": {"key": "loaded"}}).get()
        assert h.conf_get(update=True) == {"mymod": {"key": "loaded"}}
        deadline = time.monotonic() + 5
        while h.rpc("confmod.conf").get()["conf"] != {"mymod": {"key": "loaded"}}:
            assert time.monotonic() < deadline, "module never saw the new config"
            time.sleep(0.02)
        # config.reload re-reads the files
        write(confdir / "a.toml", '[mymod]\nkey = "edited"\n')
        r = inst.run("config", "reload")
        assert r.returncode == 0, r.stderr
        assert h.conf_get("mymod.key", update=True) == "edited"
        # an invalid document is refused and the config stays as it was
        with pytest.raises(OSError) as exc:
            h.rpc("config.load", {"access": {"allow-guest-user": "yes"}}).get()
        assert exc.value.errno == errno.EINVAL
        assert h.conf_get("mymod.key", update=True) == "edited"
        assert inst.run("module", "remove", "confmod").returncode == 0


def _guest_handshake(path: str) -> int:
    """Connect as uid 65534 in a forked child; return the handshake byte."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.setgroups([])
            os.setgid(GUEST_UID)
            os.setuid(GUEST_UID)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            code = s.recv(1)[0]
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.close(w)
    try:
        return os.read(r, 1)[0]
    finally:
        os.close(r)
        os.waitpid(pid, 0)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another uid")
def test_guest_access_enabled_by_config(tmp_path, confdir):
    with start_instance(f"config.path={confdir}") as inst:
        assert _guest_handshake(inst.path) == 0
        # the -S attribute wins over the config
    with start_instance(f"config.path={confdir}", "access.allow-guest-user=false") as inst:
        assert _guest_handshake(inst.path) == errno.EPERM
    with start_instance() as inst:
        assert _guest_handshake(inst.path) == errno.EPERM
        # config.load can open the door at run time
        flux.Flux(inst.uri).rpc("config.load", {"access": {"allow-guest-user": True}}).get()
        assert _guest_handshake(inst.path) == 0
