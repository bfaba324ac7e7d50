"""flux relay, flux proxy, flux uri and the ssh:// connector's command line, without ssh.

(tests/cmd/test_ssh.py runs the same through a real sshd.)
"""

from __future__ import annotations

import errno
import glob
import os
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import flux_exe, short_tmpdir, start_instance

T = 30


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def _pump_env(inst, **extra):
    env = dict(inst.env)
    env["PATH"] = str(Path(flux_exe()).parent) + ":" + env.get("PATH", "")
    env.update(extra)
    return env


# -- flux relay ------------------------------------------------------------------------


def test_relay_over_a_socket_pair_is_a_full_connection(inst):
    import flux

    ours, theirs = socket.socketpair()
    relay = subprocess.Popen([flux_exe(), "relay", inst.path], stdin=theirs, stdout=theirs,
                             env=inst.env)
    theirs.close()
    try:
        h = flux.Flux(f"fd://{ours.detach()}")
        assert h.attr_get("rank") == "0"
        # both directions at once: an event this client subscribed to comes back through it
        h.event_subscribe("relaytest")
        h.event_send("relaytest", {"n": 1})
        msg = h.event_recv()
        assert msg.topic == "relaytest" and msg.payload == {"n": 1}
        # a big payload both ways
        big = "x" * (3 << 20)
        from flux.kvs import get, put, commit

        put(h, "relay.big", big)
        commit(h)
        assert get(h, "relay.big") == big
        h.handle.conn.close()  # the client goes away
    finally:
        relay.wait(timeout=T)  # the client went: the relay ends
    assert relay.returncode == 0


def test_relay_over_pipes_relays_framed_messages(inst):
    """ssh gives the relay pipes, not a socket: raw frames in, raw frames out."""
    from flux.codec import StreamDecoder, encode_stream
    from rawclient import request

    relay = subprocess.Popen([flux_exe(), "relay", f"local://{inst.path}"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=inst.env)
    try:
        assert relay.stdout.read(1) == b"\x00"
        req = request("attr.get", {"name": "size"}, matchtag=7)
        relay.stdin.write(encode_stream(req))
        relay.stdin.flush()
        dec = StreamDecoder()
        msgs = []
        deadline = time.monotonic() + T
        while not msgs and time.monotonic() < deadline:
            ready, _, _ = select.select([relay.stdout], [], [], 1.0)
            if ready:
                msgs = dec.feed(os.read(relay.stdout.fileno(), 65536))
        assert msgs and msgs[0].matchtag == 7
        assert msgs[0].payload["value"] == "1"
        relay.stdin.close()
        assert relay.wait(timeout=T) == 0
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
        relay.stdout.close()


def test_relay_errors():
    r = subprocess.run([flux_exe(), "relay"], capture_output=True, text=True, timeout=T)
    assert r.returncode == 1
    assert "flux relay: path argument is required" in r.stderr
    r = subprocess.run([flux_exe(), "relay", "/nonexistent/local"], capture_output=True,
                       text=True, timeout=T, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"{socket.gethostname()}: local:///nonexistent/local: "
                                "No such file or directory")
    assert r.stdout == ""  # no handshake byte: the ssh connector reports the failure


# -- the ssh:// connector's command line ------------------------------------------------------


def test_ssh_command_line_as_flux_core_builds_it():
    from flux.core.ssh import ssh_command

    env = {"FLUX_SSH": "/usr/bin/rsh"}
    argv = ssh_command("ssh://alice@host:2222/tmp/run/local-0", env)
    assert argv[:4] == ["/usr/bin/rsh", "-p", "2222", "alice@host"]
    assert argv[4] == "env"
    assert argv[5].startswith("PATH=/tmp/run/bin:") and argv[5].endswith(":/bin:/usr/bin")
    assert argv[6:] == ["flux", "relay", "/tmp/run/local-0"]
    env = {"FLUX_SSH_RCMD": "/opt/flux/bin/flux"}
    assert ssh_command("ssh://host/run/local", env) == [
        "ssh", "host", "/opt/flux/bin/flux", "relay", "/run/local"]
    env["LD_LIBRARY_PATH"] = "/opt/lib"
    assert ssh_command("ssh://host//run/local", env) == [
        "ssh", "host", "env", "LD_LIBRARY_PATH=/opt/lib", "/opt/flux/bin/flux", "relay",
        "/run/local"]


@pytest.mark.parametrize("uri", ["ssh://host", "ssh://host/", "ssh:///path", "ssh://host/p?x=1",
                                 "ssh://host:99999/p", "ssh://host:x/p", "ssh://@host/p"])
def test_bad_ssh_uris_are_einval(uri):
    import flux

    with pytest.raises(OSError) as info:
        flux.Flux(uri)
    assert info.value.errno == errno.EINVAL


def test_missing_ssh_program_is_enoent(inst):
    r = inst.run("getattr", "size", env={"FLUX_URI": f"ssh://localhost{inst.path}",
                                         "FLUX_SSH": "/nonexistent/ssh"}, timeout=T)
    assert r.returncode == 1
    assert "/nonexistent/ssh" in r.stderr and "Traceback" not in r.stderr


def test_ssh_connector_through_a_remote_shell_stand_in(inst):
    """FLUX_SSH may be any rsh-like program (here: one that runs the command locally)."""
    tmp = short_tmpdir()
    try:
        rsh = os.path.join(tmp, "rsh")
        with open(rsh, "w") as f:
            f.write('#!/bin/sh\nwhile [ "$1" = -p ]; do shift 2; done\nshift\nexec "$@"\n')
        os.chmod(rsh, 0o755)
        env = _pump_env(inst, FLUX_SSH=rsh, FLUX_URI=f"ssh://somehost:2200{inst.path}")
        r = inst.run("kvs", "put", "viarsh=1", env=env, timeout=T)
        assert r.returncode == 0, r.stderr
        assert inst.run("kvs", "get", "viarsh", env=env, timeout=T).stdout == "1\n"
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


# -- flux proxy ---------------------------------------------------------------------------


def _proxy_dirs():
    return set(glob.glob("/tmp/flux-proxy-*"))


def test_proxy_runs_command_with_its_own_socket(inst):
    before = _proxy_dirs()
    script = ('echo "$FLUX_URI"; flux getattr size; flux kvs put p.a=1; flux kvs get p.a;'
              ' flux event sub --count=1 proxytest & sleep 1; flux event pub proxytest;'
              ' wait; exit 7')
    r = inst.run("proxy", inst.uri, script, env=_pump_env(inst, TMPDIR="/tmp"), timeout=T)
    assert r.returncode == 7, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("local:///tmp/flux-proxy-") and lines[0].endswith("/local")
    assert lines[1:4] == ["1", "1", "proxytest\t"]
    assert not os.path.exists(lines[0][len("local://"):])
    assert _proxy_dirs() == before  # its directory is removed


def test_proxy_exit_status_of_a_signaled_command(inst):
    r = inst.run("proxy", inst.uri, "kill -TERM $$", env=_pump_env(inst), timeout=T)
    assert r.returncode == 128 + 15


def test_proxy_default_runs_shell(inst):
    r = inst.run("proxy", inst.uri, env=_pump_env(inst, SHELL="/bin/sh"),
                 input="flux getattr rank\nexit 3\n", timeout=T)
    assert r.returncode == 3 and r.stdout == "0\n", r.stderr


def test_proxy_jobid_target_and_usage(inst):
    r = inst.run("proxy", timeout=T)
    assert r.returncode == 1 and "flux proxy: URI argument is required" in r.stderr
    r = inst.run("proxy", "f1234zz", "true", timeout=T)
    assert r.returncode == 1
    assert "flux-proxy: Unable to resolve f1234zz to a URI" in r.stderr
    r = inst.run("proxy", "local:///nonexistent/local", "true", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("flux-proxy: local:///nonexistent/local: ")


@pytest.mark.parametrize("nohup", [False, True])
def test_proxy_when_the_instance_goes_away(nohup):
    with start_instance() as inner:
        marker = os.path.join(inner.tmpdir, "marker")
        script = (f"trap 'echo hup > {marker}; exit 5' HUP; touch {marker}.up;"
                  " while :; do sleep 0.1; done")
        args = ["proxy"] + (["--nohup"] if nohup else []) + [inner.uri, script]
        proxy = subprocess.Popen([inner.flux, *args], env=_pump_env(inner),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        try:
            deadline = time.monotonic() + T
            while not os.path.exists(marker + ".up") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert os.path.exists(marker + ".up")
            assert inner.run("shutdown", timeout=T).returncode == 0
            inner.proc.wait(timeout=T)
            if nohup:
                time.sleep(1)
                assert proxy.poll() is None  # the command carries on
                os.killpg(proxy.pid, 15)
            _, err = proxy.communicate(timeout=T)
            assert "flux-proxy: Lost connection to Flux" in err
            if nohup:
                assert "Sending SIGHUP" not in err
            else:
                assert "flux-proxy: Sending SIGHUP to child processes" in err
                assert proxy.returncode == 5
                with open(marker) as f:
                    assert f.read() == "hup\n"
        finally:
            try:
                os.killpg(proxy.pid, 9)
            except ProcessLookupError:
                pass
            proxy.wait()
            proxy.stdout.close()
            proxy.stderr.close()


# -- flux uri -----------------------------------------------------------------------------------


def test_uri_local_and_ssh_forms(inst):
    host = socket.gethostname()
    r = inst.run("uri", "local:///tmp/x/local", timeout=T)
    assert r.stdout == "local:///tmp/x/local\n"
    assert inst.run("uri", "--remote", "local:///tmp/x/local").stdout == f"ssh://{host}/tmp/x/local\n"
    assert inst.run("uri", "--local", "ssh://h:22//tmp/x/local").stdout == "local:///tmp/x/local\n"
    assert inst.run("uri", "ssh://h/tmp/x").stdout == "ssh://h/tmp/x\n"
    r = inst.run("uri", "bogus:1", timeout=T)
    assert r.returncode == 1 and r.stderr == "flux-uri: ERROR: No plugin for URI scheme bogus\n"
    r = inst.run("uri", "--help", timeout=T)
    assert "jobid\t\tGet URI for a given Flux JOBID" in r.stdout
    assert "pid\t\tGet FLUX_URI for a given local PID" in r.stdout


def test_uri_pid(inst):
    proc = subprocess.Popen(["sleep", "30"], env={**inst.env, "FLUX_URI": "local:///from/pid"})
    try:
        assert inst.run("uri", f"pid:{proc.pid}", timeout=T).stdout == "local:///from/pid\n"
    finally:
        proc.kill()
        proc.wait()
    # a broker's own environment names no instance of its own: its first child's does
    with start_instance(args=("sleep", "30")) as other:
        r = inst.run("uri", f"pid:{other.proc.pid}", timeout=T)
        assert r.stdout == f"{other.uri}\n", r.stderr


def test_uri_jobid_root_and_parent(inst):
    """``/`` is the root instance, ``..`` the parent: a top-level instance is its own."""
    assert inst.run("uri", "jobid:/", timeout=T).stdout == f"{inst.uri}\n"
    assert inst.run("uri", "..", timeout=T).stdout == f"{inst.uri}\n"
    host = socket.gethostname()
    assert inst.run("uri", "/?remote", timeout=T).stdout == f"ssh://{host}{inst.path}\n"


def test_uri_jobid_of_jobs_that_are_no_instance(inst):
    # (a job whose user.uri memo names an instance needs job-manager.memo, not in this broker)
    r = inst.run("submit", "sleep", "60", timeout=T)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    try:
        assert inst.run("job", "wait-event", "-t", "20", jobid, "start").returncode == 0
        r = inst.run("uri", jobid, timeout=T)
        assert r.returncode == 1 and f"URI not found for job {jobid}" in r.stderr
    finally:
        inst.run("cancel", jobid, timeout=T)
        inst.run("job", "wait-event", "-t", "20", jobid, "clean", timeout=T)
    r = inst.run("uri", jobid, timeout=T)
    assert r.returncode == 1 and f"jobid {jobid} is not running" in r.stderr
    r = inst.run("uri", "notajob", timeout=T)
    assert r.returncode == 1 and "notajob is not a valid jobid" in r.stderr
