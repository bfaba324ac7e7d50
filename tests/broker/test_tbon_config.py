"""Config-file bootstrap of an instance of several brokers over TCP on 127.0.0.1
(``[bootstrap]`` hosts with a shared certificate from ``flux keygen``), a
peer with a wrong CURVE key refused, and the certificate format."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from conftest import base_env, flux_exe, short_tmpdir

pytest.importorskip("zmq")

from flux.broker.overlay.boot_config import (  # noqa: E402
    BootConfigError, format_uri, parse_bootstrap,
)
from flux.broker.overlay.cert import CertError, load_cert, parse_cert  # noqa: E402
from proctree import kill_tree, run_tree


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _write_conf(d: str, certs: list[str]) -> str:
    ports = _ports(2)
    path = os.path.join(d, "conf.toml")
    with open(path, "w") as f:
        f.write(f'''[bootstrap]
curve_cert = "{certs[0]}"
default_bind = "tcp://127.0.0.1:%p"
default_port = {ports[0]}
hosts = [
  {{ host = "fake0", connect = "tcp://127.0.0.1:{ports[0]}" }},
  {{ host = "fake1", bind = "tcp://127.0.0.1:{ports[1]}", connect = "tcp://127.0.0.1:{ports[1]}" }},
  {{ host = "fake2", parent = "fake1" }},
]
''')
    return path


def _keygen(path: str) -> None:
    r = run_tree([flux_exe(), "keygen", "--name=testcert", path], env=base_env(),
                 capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def _broker(conf: str, host: str, rundir: str, *cmd: str, cert: str | None = None,
            **kw) -> subprocess.Popen:
    args = [flux_exe(), "broker", "-c", conf, f"-Shostname={host}", f"-Srundir={rundir}"]
    while cmd and cmd[0].startswith("-S"):
        args.append(cmd[0])
        cmd = cmd[1:]
    env = base_env()
    if cert is not None:  # a broker with its own (wrong) config: same hosts, other cert
        text = open(conf).read().replace(f'curve_cert = "{_first_cert(conf)}"',
                                         f'curve_cert = "{cert}"')
        other = conf + f".{host}"
        with open(other, "w") as f:
            f.write(text)
        args[3] = other
    return subprocess.Popen(args + list(cmd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _first_cert(conf: str) -> str:
    for line in open(conf):
        if line.startswith("curve_cert"):
            return line.split('"')[1]
    raise AssertionError("no curve_cert")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        kill_tree(p.pid)  # the broker and its initial program
        p.communicate(timeout=10)


def test_config_bootstrap_three_brokers_over_tcp():
    d = short_tmpdir()
    procs: list[subprocess.Popen] = []
    try:
        _keygen(f"{d}/curve.cert")
        for attempt in range(3):
            conf = _write_conf(d, [f"{d}/curve.cert"])
            procs = [_broker(conf, f"fake{r}", f"{d}/r{r}") for r in (2, 1)]
            leader = _broker(conf, "fake0", f"{d}/r0", "sh", "-c",
                             "flux getattr broker.boot-method; flux getattr hostlist;"
                             " flux getattr tbon.topo; flux overlay status;"
                             " flux ping -c1 2 >/dev/null && echo ping2-ok;"
                             " flux kvs put x=1 &&"
                             " FLUX_URI=local://$(flux getattr rundir)/../r2/local-2"
                             " flux kvs get x")
            procs.append(leader)
            # the free ports _write_conf found may be taken by another process before
            # the brokers bind them (other test suites share the machine): new ports
            taken = ""
            deadline = time.monotonic() + 60
            while leader.poll() is None and not taken:
                assert time.monotonic() < deadline, "the instance did not finish"
                for p in procs[:2]:
                    if p.poll() is not None and p.returncode != 0:
                        taken = p.communicate()[1]
                time.sleep(0.05)
            out, err = ("", taken) if taken else leader.communicate(timeout=10)
            if (leader.returncode == 0 and not taken) or "Address already in use" not in err \
                    or attempt == 2:
                break
            _stop(procs)
            subprocess.run(["rm", "-rf", f"{d}/r0", f"{d}/r1", f"{d}/r2"])
        assert leader.returncode == 0, err
        assert out.splitlines() == ["config", "fake[0-2]", "custom", "0 fake0: full",
                                    "└─ 1 fake1: full", "   └─ 2 fake2: full", "ping2-ok", "1"]
        for p in procs[:2]:  # the others follow rank 0 down
            p.wait(timeout=20)
            assert p.returncode == 0
    finally:
        _stop(procs)
        subprocess.run(["rm", "-rf", d])


def test_peer_with_wrong_curve_key_is_refused():
    import zmq

    d = short_tmpdir()
    procs: list[subprocess.Popen] = []
    ctx = zmq.Context()
    try:
        _keygen(f"{d}/curve.cert")
        _keygen(f"{d}/other.cert")
        conf = _write_conf(d, [f"{d}/curve.cert"])
        leader = _broker(conf, "fake0", f"{d}/r0", "sleep", "30")
        procs.append(leader)
        # a broker with another certificate: never answered, it gives up in bounded time
        intruder = _broker(conf, "fake1", f"{d}/r1", "-Stbon.connect_timeout=2s",
                           cert=f"{d}/other.cert")
        procs.append(intruder)
        # a peer that knows the parent's public key but has a key of its own: ZAP says no
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, b"00000000-0000-0000-0000-000000000001")
        sock.setsockopt(zmq.CURVE_SERVERKEY, load_cert(f"{d}/curve.cert").public.encode())
        pub, sec = zmq.curve_keypair()
        sock.setsockopt(zmq.CURVE_PUBLICKEY, pub)
        sock.setsockopt(zmq.CURVE_SECRETKEY, sec)
        sock.setsockopt(zmq.LINGER, 0)
        mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        port = open(conf).read().split("default_port = ")[1].split()[0]
        sock.connect(f"tcp://127.0.0.1:{port}")
        assert mon.poll(15000), "the parent did not refuse the key"
        _, err = intruder.communicate(timeout=30)
        assert intruder.returncode != 0
        env = base_env()
        env["FLUX_URI"] = f"local://{d}/r0/local-0"
        r = run_tree([flux_exe(), "dmesg"], env=env, capture_output=True, text=True,
                     timeout=20)
        assert "overlay auth CURVE: denied" in r.stdout
        mon.close(0)
        sock.close(0)
        r = run_tree([flux_exe(), "overlay", "status", "--no-pretty"], env=env,
                     capture_output=True, text=True, timeout=20)
        assert "1 fake1: offline" in r.stdout
    finally:
        _stop(procs)
        ctx.term()
        subprocess.run(["rm", "-rf", d])


def test_bootstrap_table_rules(tmp_path):
    conf = {"bootstrap": {"curve_cert": "/c", "default_port": 8050,
                          "default_bind": "tcp://eth0:%p", "default_connect": "tcp://%h:%p",
                          "hosts": [{"host": "n0"}, {"host": "n[1-3]", "parent": "n0"},
                                    {"host": "n3", "parent": "n2"}]}}
    bc = parse_bootstrap(conf, "n2")
    assert bc is not None and (bc.rank, bc.size) == (2, 4)
    assert bc.names == ["n0", "n1", "n2", "n3"]
    assert bc.hosts[3] == {"host": "n3", "parent": "n2", "bind": "tcp://eth0:8050",
                           "connect": "tcp://n3:8050"}
    assert bc.parents() == [-1, 0, 0, 2]
    assert parse_bootstrap({}, "x") is None
    assert format_uri("ipc://%%/%h-%p", "h", 5) == "ipc://%/h-5"
    bad = [
        ({"hosts": [{"host": "a"}, {"host": "b"}]}, "curve_cert must be defined"),
        ({"hosts": [{"host": "b"}]}, "a not found in hosts"),
        ({"hosts": [{"host": "a", "bind": "tcp://x:*"}]}, "0MQ port wildcard"),
        ({"hosts": [{"host": "a", "bind": "udp://x"}]}, "must be tcp or ipc"),
        ({"hosts": [{"host": "a", "frob": "1"}]}, "invalid hosts[0]"),
        ({"frob": 1}, "unknown key 'frob'"),
        ({"default_port": 70000}, "0-65535"),
    ]
    for table, text in bad:
        with pytest.raises(BootConfigError, match=text.replace("[", r"\[").replace("*", r"\*")):
            parse_bootstrap({"bootstrap": table}, "a")
    cyc = parse_bootstrap({"bootstrap": {"curve_cert": "/c", "hosts": [
        {"host": "a"}, {"host": "b", "parent": "c"}, {"host": "c", "parent": "b"}]}}, "a")
    with pytest.raises(BootConfigError, match="cycles"):
        cyc.parents()


def test_cert_format(tmp_path):
    path = str(tmp_path / "c.cert")
    r = run_tree([flux_exe(), "keygen", "--name=n1", "--meta=site=x", path],
                 env=base_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    cert = load_cert(path)
    assert cert.name == "n1" and cert.metadata["site"] == "x"
    assert len(cert.public) == 40 and len(cert.secret or "") == 40
    text = open(path).read()
    assert text.startswith("#  ZeroMQ CURVE **Secret** Certificate\n#  DO NOT DISTRIBUTE\n\n"
                           "metadata\n")
    os.chmod(path, 0o644)
    with pytest.raises(CertError, match="readable by group/other"):
        load_cert(path)
    with pytest.raises(CertError):
        parse_cert("curve\n    public-key = \"short\"\n")
    r = run_tree([flux_exe(), "keygen"], env=base_env(), capture_output=True,
                 text=True, timeout=30)
    assert r.returncode == 0 and "WARNING: add PATH argument" in r.stderr
