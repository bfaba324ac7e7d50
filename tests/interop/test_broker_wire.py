"""Raw-wire tests of the broker's services, checked against flux-core captures."""

from __future__ import annotations

import base64
import errno
import os
import socket
import struct
from pathlib import Path

import pytest

from conftest import interop, start_instance
from flux.codec import decode, encode_stream
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_RESPONSE,
)
from rawclient import request
from proctree import run_tree

pytestmark = pytest.mark.timeout(30)

UID = os.getuid()


def with_uid(raw: bytes, uid: int = UID) -> bytes:
    """A captured broker->client message with the owner uid of this run."""
    return raw[:-16] + struct.pack(">I", uid) + raw[-12:]


def retag(raw: bytes, tag: int) -> bytes:
    return raw[:-4] + struct.pack(">I", tag)


def test_handshake_byte(shared_instance):
    with shared_instance.client() as c:
        assert c.handshake == b"\x00"


def test_ping_reply_keys_and_route(shared_instance):
    with shared_instance.client() as c:
        c.send(interop("ping-request"))
        m = c.recv()
        assert m.type == FLUX_MSGTYPE_RESPONSE and m.errnum == 0 and m.matchtag == 1
        assert m.flags & FLUX_MSGFLAG_ROUTE and m.routes == []
        assert (m.userid, m.rolemask) == (UID, 5)
        v = m.payload
        assert list(v) == ["seq", "time.tv_sec", "time.tv_nsec", "pad", "route", "userid",
                           "rolemask", "rank"]
        assert v["pad"] == "" and v["userid"] == UID and v["rolemask"] == 5 and v["rank"] == 0
        hops = v["route"].split("!")
        assert len(hops) == 3 and all(len(h) == 8 for h in hops)
        uuid = c.rpc("attr.get", {"name": "broker.uuid"}, matchtag=2).payload["value"]
        assert hops[2] == uuid[:8]
        # the padding comes back unchanged
        pad = "p" * 5000
        m = c.rpc("broker.ping", {"seq": 1, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": pad},
                  matchtag=3)
        assert m.payload["pad"] == pad


def test_enosys_bytes(shared_instance):
    with shared_instance.client() as c:
        c.send(request("nosuch.ping", {"seq": 0, "pad": ""}, matchtag=1))
        assert c.recv_raw() == with_uid(interop("enosys-response"))


def test_unknown_method_and_role(shared_instance):
    with shared_instance.client() as c:
        m = c.rpc("broker.nosuch", {})
        assert m.errnum == errno.ENOSYS
        assert m.payload_str == "Unknown service method 'broker.nosuch'"
        # a guest role is not allowed to clear the log
        req = request("log.clear", matchtag=2)
        req.rolemask = 2 | 4
        req.userid = UID  # owner may set its own creds (flux-core test hook)
        c.send(req)
        m = c.recv()
        assert m.errnum == errno.EPERM and m.payload_str == "Request requires owner credentials"


def test_nodeid_routing(shared_instance):
    with shared_instance.client() as c:
        assert c.rpc("attr.get", {"name": "rank"}, nodeid=0).errnum == 0
        assert c.rpc("attr.get", {"name": "rank"}, nodeid=1, matchtag=2).errnum == errno.EHOSTUNREACH
        m = c.rpc("attr.get", {"name": "rank"}, nodeid=0, flags=FLUX_MSGFLAG_UPSTREAM, matchtag=3)
        assert m.errnum == errno.EHOSTUNREACH
        m = c.rpc("attr.get", {"name": "rank"}, nodeid=5, flags=FLUX_MSGFLAG_UPSTREAM, matchtag=4)
        assert m.errnum == 0


def test_noresponse_never_answered(shared_instance):
    with shared_instance.client() as c:
        c.send(request("nosuch.x", {}, matchtag=9, flags=FLUX_MSGFLAG_NORESPONSE))
        c.send(request("attr.get", {"name": "rank"}, matchtag=10, flags=FLUX_MSGFLAG_NORESPONSE))
        m = c.rpc("attr.get", {"name": "size"}, matchtag=11)
        assert m.payload == {"value": "1", "flags": 1}
        with pytest.raises(socket.timeout):
            c.recv(timeout=0.1)


def test_attr_get_bytes(shared_instance):
    with shared_instance.client() as c:
        c.send(interop("attr-get-request"))
        assert c.recv_raw() == with_uid(interop("attr-get-response"))
        c.send(request("attr.get", {"name": "no-such"}, matchtag=1))
        assert c.recv_raw() == with_uid(interop("attr-get-enoent-response"))


def test_attrs(shared_instance):
    inst = shared_instance
    with inst.client() as c:
        get = lambda name, tag=1: c.rpc("attr.get", {"name": name}, matchtag=tag)  # noqa: E731
        assert get("version").payload["value"] == "0.88.0"
        # flags from flux-core's attribute table: rundir and version are not immutable
        assert get("rundir").payload == {"value": inst.rundir, "flags": 0}
        assert get("version").payload["flags"] == 0
        assert get("local-uri").payload["value"] == inst.uri
        assert get("instance-level").payload["value"] == "0"
        assert get("security.owner").payload["value"] == str(UID)
        assert get("broker.pid").payload["value"] == str(inst.proc.pid)
        assert get("log-ring-size").payload == {"value": "1024", "flags": 1}
        assert get("parent-uri").errnum == errno.ENOENT
        names = c.rpc("attr.list").payload["names"]
        for n in ("rank", "size", "version", "rundir", "local-uri", "instance-level",
                  "hostname", "hostlist", "broker.pid", "broker.uuid", "security.owner",
                  "log-ring-size", "log-stderr-level", "log-level", "heartbeat.period"):
            assert n in names
        m = c.rpc("attr.set", {"name": "rank", "value": "3"})
        # flux-core's broker/attr.c: an update without "force" of an attribute that is
        # not runtime-updatable is EINVAL; removing an absent attribute succeeds
        assert m.errnum == errno.EINVAL and m.payload_str == "attribute may not be updated"
        assert c.rpc("attr.set", {"name": "nosuch", "value": "3"}).errnum == errno.ENOENT
        assert c.rpc("attr.set", {"name": "log-stderr-level", "value": "x"}).errnum == errno.EINVAL
        assert c.rpc("attr.set", {"name": "log-ring-size", "value": "2000"}).errnum == errno.EINVAL
        m = c.rpc("attr.set", {"name": "log-ring-size", "value": "2000", "force": True})
        assert m.errnum == errno.EPERM and not m.payload_str
        assert get("log-ring-size").payload["value"] == "1024"
        assert c.rpc("attr.rm", {"name": "size"}).errnum == errno.EPERM
        assert c.rpc("attr.rm", {"name": "nosuch"}).errnum == 0
        assert c.rpc("attr.get", {"nom": "rank"}).errnum == errno.EPROTO


def test_stats_and_rusage(shared_instance):
    with shared_instance.client() as c:
        v = c.rpc("broker.stats-get").payload
        assert set(v) == {"tx", "rx"} and v["rx"]["request"] >= 0
        assert set(v["tx"]) == {"request", "response", "event", "control"}
        v = c.rpc("broker.rusage", matchtag=2).payload
        assert v["utime"] >= 0 and "maxrss" in v
        assert c.rpc("broker.rusage", {"who": "bad"}, matchtag=3).errnum == errno.EINVAL
        assert c.rpc("broker.stats-clear", matchtag=4).errnum == 0
        clients = c.rpc("connector-local.stats-get", matchtag=5).payload["server"]["clients"]
        assert any(cl["pid"] == os.getpid() for cl in clients)


def test_log_append_and_dmesg_bytes(instance):
    with instance.client() as c:
        c.send(interop("log-append-request"))  # matchtag 0: no answer
        c.send(interop("dmesg-streaming-request"))
        raws = []
        while True:
            raw = c.recv_raw()
            raws.append(raw)
            if decode(raw[8:]).errnum:
                break
        assert raws[-1] == with_uid(interop("dmesg-enodata-end"))
        assert with_uid(interop("dmesg-streaming-response")) in raws
        # log.append with a matchtag is answered
        m = c.rpc("log.append", b"<48>1 2026-01-01T00:00:00.000000Z 0 t 1 - - x", matchtag=5)
        assert m.errnum == 0 and m.payload_bytes is None
        # log.clear, then only new records remain
        assert c.rpc("log.clear", matchtag=6).errnum == 0
        assert [m.errnum for m in c.stream("log.dmesg", {"follow": False}, matchtag=7)] == [61]


def test_dmesg_requires_streaming(shared_instance):
    with shared_instance.client() as c:
        assert c.rpc("log.dmesg", {"follow": False}).errnum == errno.EPROTO


def test_dmesg_follow_cancel_and_ring():
    # log-ring-size is immutable (flux-core's table): set on the command line
    with start_instance("log-ring-size=3") as instance:
        with instance.client() as c, instance.client() as w:
            for i in range(5):
                w.send(request("log.append", f"<40>1 2026-01-01T00:00:00.000000Z 0 t 1 - - r{i}".encode(),
                               matchtag=0))
            # one connection's requests are handled in order: once this is
            # answered, the five records are in the ring
            assert w.rpc("attr.get", {"name": "rank"}).errnum == 0
            c.send(request("log.dmesg", {"follow": True}, matchtag=2, flags=FLUX_MSGFLAG_STREAMING))
            got = [c.recv().payload_str.rsplit(" ", 1)[1] for _ in range(3)]
            assert got == ["r2", "r3", "r4"]
            w.send(request("log.append", b"<40>1 2026-01-01T00:00:00.000000Z 0 t 1 - - live", matchtag=0))
            m = c.recv()
            assert m.payload_str.endswith(" live") and m.flags & FLUX_MSGFLAG_STREAMING
            c.send(request("log.cancel", {"matchtag": 2}, matchtag=0, flags=FLUX_MSGFLAG_NORESPONSE))
            m = c.recv()
            assert m.matchtag == 2 and m.errnum == errno.ENODATA
            # nobacklog: only new records
            c.send(request("log.dmesg", {"follow": True, "nobacklog": True}, matchtag=3,
                           flags=FLUX_MSGFLAG_STREAMING))
            w.send(request("log.append", b"<40>1 2026-01-01T00:00:00.000000Z 0 t 1 - - new", matchtag=0))
            assert c.recv().payload_str.endswith(" new")
        # the follower disconnected: the broker carries on
        with instance.client() as c2:
            assert c2.rpc("attr.get", {"name": "rank"}).errnum == 0


def test_log_stderr_format(instance):
    with instance.client() as c:
        c.rpc("log.append", b"<24>1 2026-11-23T14:30:49.235180Z 0 logger 99 - - hello world")
    instance.stop()
    err = instance.proc.stderr.read()
    assert "Nov 23 14:30:49.235180 UTC 2026 logger.err[0]: hello world" in err


def test_log_stderr_level_filters_and_runtime_change():
    """Records with severity <= log-stderr-level reach the broker's stderr, the
    others only the ring; ``flux setattr log-stderr-level 7`` lets debug through."""
    from conftest import start_instance

    names = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
    with start_instance("log-stderr-level=4") as inst:
        for sev in names:
            r = inst.run("logger", "--severity", sev, f"lvl4-{sev}-marker")
            assert r.returncode == 0, r.stderr
        r = inst.run("setattr", "log-stderr-level", "7")
        assert r.returncode == 0, r.stderr
        assert inst.run("getattr", "log-stderr-level").stdout.strip() == "7"
        for sev in ("debug", "info"):
            assert inst.run("logger", "--severity", sev, f"lvl7-{sev}-marker").returncode == 0
        dmesg = inst.run("dmesg").stdout
        inst.stop()
        err = inst.proc.stderr.read()
    for n, sev in enumerate(names):
        assert f"lvl4-{sev}-marker" in dmesg  # the ring has everything
        line = f"logger.{sev}[0]: lvl4-{sev}-marker"
        if n <= 4:
            assert line in err, (sev, err)
        else:
            assert f"lvl4-{sev}-marker" not in err, (sev, err)
    assert "logger.debug[0]: lvl7-debug-marker" in err
    assert "logger.info[0]: lvl7-info-marker" in err


def test_event_subscribe_bytes_and_raw_event(shared_instance):
    with shared_instance.client() as sub, shared_instance.client() as pub:
        sub.send(interop("event-subscribe-request"))
        assert sub.recv_raw() == interop("event-subscribe-response")
        pub.send(interop("event-from-client"))
        m = sub.recv()
        ref = decode(interop("event-to-client")[8:])
        assert m.type == FLUX_MSGTYPE_EVENT and m.topic == "golden.test"
        assert m.flags == ref.flags and m.payload_bytes == ref.payload_bytes
        assert (m.userid, m.rolemask) == (UID, 5) and m.seq >= 1
        assert len(m.routes) == 2
        uuid = sub.rpc("attr.get", {"name": "broker.uuid"}, matchtag=5).payload["value"]
        assert m.routes[-1] == uuid  # wire frame 0: the broker
        # unsubscribe: reference counted; unknown -> ENOENT
        assert sub.rpc("event.unsubscribe", {"topic": "golden."}, matchtag=6).errnum == 0
        assert sub.rpc("event.unsubscribe", {"topic": "golden."}, matchtag=7).errnum == errno.ENOENT
        assert sub.rpc("event.subscribe", {"nottopic": 1}, matchtag=8).errnum == errno.EPROTO


def test_event_publish_rpc_and_private(shared_instance):
    with shared_instance.client() as sub, shared_instance.client() as pub:
        assert sub.rpc("event.subscribe", {"topic": "gpriv."}).errnum == 0
        pub.send(interop("event-publish-request"))
        m = pub.recv()
        assert m.errnum == 0
        seq = m.payload["seq"]
        ev = sub.recv()
        ref = decode(interop("private-event-to-client")[8:])
        assert ev.flags == ref.flags == 43
        assert ev.topic == "gpriv.t" and ev.payload_bytes == b"{}\0" and ev.seq == seq
        assert len(ev.routes) == 1 and (ev.userid, ev.rolemask) == (UID, 5)
        # sequence numbers increase by one
        p = {"topic": "gpriv.u", "flags": 0, "payload": base64.b64encode(b"x").decode()}
        assert pub.rpc("event.publish", p, matchtag=2).payload["seq"] == seq + 1
        assert sub.recv().payload_bytes == b"x"
        bad = {"topic": "gpriv.u", "flags": 4}
        assert pub.rpc("event.publish", bad, matchtag=3).errnum == errno.EPROTO
        bad = {"topic": "gpriv.u", "flags": 0, "payload": "!!"}
        assert pub.rpc("event.publish", bad, matchtag=4).errnum == errno.EPROTO


def test_heartbeat(tmp_path):
    from conftest import start_instance

    with start_instance("heartbeat.period=100ms") as inst, inst.client() as c:
        assert c.rpc("event.subscribe", {"topic": "heartbeat.pulse"}).errnum == 0
        seqs = [c.recv(timeout=2).seq for _ in range(3)]
        assert seqs == sorted(seqs)
        assert c.rpc("attr.set", {"name": "heartbeat.period", "value": "bogus"},
                     matchtag=2).errnum == errno.EINVAL


def test_client_service_and_disconnect(shared_instance):
    with shared_instance.client() as svc, shared_instance.client() as req:
        svc.send(interop("service-add-request"))
        assert svc.recv_raw() == interop("service-add-response-from-connector")
        assert req.rpc("service.add", {"service": "gsvc"}).errnum == errno.EEXIST
        assert req.rpc("service.add", {"service": 1}, matchtag=2).errnum == errno.EPROTO
        assert req.rpc("service.add", matchtag=3).errnum == errno.EPROTO
        assert req.rpc("service.remove", {"service": "gsvc"}, matchtag=4).errnum == errno.ENOENT
        assert req.rpc("service.add", {"service": "attr"}, matchtag=5).errnum == errno.EEXIST

        req.send(request("gsvc.hello", {"x": 1}, matchtag=1))
        got = svc.recv()
        ref = decode(interop("request-delivered-to-client-service")[8:])
        assert got.topic == "gsvc.hello" and got.flags == ref.flags and got.matchtag == 1
        assert len(got.routes) == 3 and (got.userid, got.rolemask) == (UID, 5)
        resp = got.copy(payload=False)
        resp.type = FLUX_MSGTYPE_RESPONSE
        resp.aux1 = 0
        resp.userid, resp.rolemask = 0xFFFFFFFF, 0
        resp.payload = {"y": 2}
        svc.send(resp)
        m = req.recv()
        assert m.payload == {"y": 2} and m.routes == [] and m.flags & FLUX_MSGFLAG_ROUTE
        assert (m.userid, m.rolemask) == (UID, 5)
        # a second requester that goes away with requests in flight
        other = shared_instance.client()
        other.send(request("gsvc.a", {}, matchtag=7))
        other.send(request("gsvc.b", {}, matchtag=8))  # same prefix: one notice
        other.send(request("gsvc.c", {}, matchtag=9, flags=FLUX_MSGFLAG_NORESPONSE))
        first = [svc.recv() for _ in range(3)]
        other.close()
        notice = svc.recv()
        dref = decode(interop("disconnect-notice-to-client-service")[8:])
        assert notice.topic == "gsvc.disconnect" and notice.flags == dref.flags
        assert notice.routes == first[0].routes and notice.matchtag == 7
        assert notice.payload_bytes is None
        with pytest.raises(socket.timeout):
            svc.recv(timeout=0.2)
        assert svc.rpc("service.remove", {"service": "gsvc"}, matchtag=20).errnum == 0
    with shared_instance.client() as c:
        assert c.rpc("gsvc.hello", {}).errnum == errno.ENOSYS


def test_services_removed_on_disconnect(shared_instance):
    with shared_instance.client() as svc:
        assert svc.rpc("service.add", {"service": "tmpsvc"}).errnum == 0
    with shared_instance.client() as c:
        for _ in range(50):
            m = c.rpc("tmpsvc.x", {})
            if m.errnum == errno.ENOSYS:
                break
        assert m.errnum == errno.ENOSYS
        assert c.rpc("service.add", {"service": "tmpsvc"}, matchtag=2).errnum == 0


def test_many_in_flight_and_matchtags(shared_instance):
    with shared_instance.client() as c:
        data = b"".join(encode_stream(request("broker.ping", {"seq": i, "pad": ""}, matchtag=i + 1))
                        for i in range(500))
        c.send(data)
        tags = [c.recv().matchtag for _ in range(500)]
        assert tags == list(range(1, 501))


def client_check_tool() -> Path:
    """The shared folder's flux-core-client-check.py when it is beside the checkout,
    else the copy bundled in tests/data/tools (its vectors: tests/data/interop)."""
    from conftest import SHARED

    shared = SHARED / "tools" / "flux-core-client-check.py"
    if shared.exists():
        return shared
    return Path(__file__).resolve().parents[1] / "data" / "tools" / "flux-core-client-check.py"


def test_bundled_client_check_tool_is_complete():
    """The bundled copy is the shared tool, and its ../interop holds every vector it reads."""
    import re

    from conftest import INTEROP, SHARED

    bundled = Path(__file__).resolve().parents[1] / "data" / "tools" / "flux-core-client-check.py"
    text = bundled.read_text()
    shared = SHARED / "tools" / "flux-core-client-check.py"
    if shared.exists():
        assert text == shared.read_text(), "tests/data/tools copy is stale: refresh it"
    assert (bundled.parent / ".." / "interop").resolve() == INTEROP.resolve()
    names = set(re.findall(r'vector\("([^"]+)"\)', text))
    assert len(names) >= 4
    for name in names:
        assert (INTEROP / f"{name}.bin").exists(), name


def test_flux_core_client_check(instance):
    import sys

    tool = client_check_tool()
    r = run_tree([sys.executable, str(tool), instance.uri], capture_output=True,
                 text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all checks passed" in r.stdout
