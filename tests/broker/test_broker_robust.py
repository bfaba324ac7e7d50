"""Bad input, slow readers and guests: the broker and its other clients carry on."""

from __future__ import annotations

import errno
import os
import socket
import struct
import time

import pytest

from conftest import flux_exe, start_instance
from proctree import run_tree
from flux.codec import encode_stream
from rawclient import RawClient, request

pytestmark = pytest.mark.timeout(40)


def _alive(inst) -> None:
    with inst.client() as c:
        assert c.rpc("attr.get", {"name": "rank"}, matchtag=99).payload["value"] == "0"


def _expect_eof(c: RawClient) -> None:
    with pytest.raises((EOFError, ConnectionResetError)):
        for _ in range(100):
            c.recv(timeout=3)


def test_garbage_bytes_disconnect_only_that_client(shared_instance):
    with shared_instance.client() as good, shared_instance.client() as bad:
        assert good.rpc("event.subscribe", {"topic": ""}).errnum == 0
        bad.send(b"this is not flux at all, no magic here")
        _expect_eof(bad)
        assert good.rpc("attr.get", {"name": "size"}, matchtag=2).errnum == 0
    _alive(shared_instance)


def test_oversized_and_short_frames(shared_instance):
    with shared_instance.client() as c:
        c.send(struct.pack("=I", 0xFFEE0012) + struct.pack(">I", 0xFFFFFFF0))
        _expect_eof(c)
    with shared_instance.client() as c:
        c.send(struct.pack("=I", 0xFFEE0012) + struct.pack(">I", 3) + b"abc")
        _expect_eof(c)
    # a message cut short by the client closing: just a disconnect
    with shared_instance.client() as c:
        raw = encode_stream(request("attr.get", {"name": "rank"}))
        c.send(raw[:-5])
    # a corrupt PROTO frame inside valid framing
    with shared_instance.client() as c:
        raw = bytearray(encode_stream(request("attr.get", {"name": "rank"})))
        raw[-20] = 0x77  # PROTO magic
        c.send(bytes(raw))
        _expect_eof(c)
    _alive(shared_instance)


@pytest.mark.parametrize("payload", [b"{not json\0", b'{"name":"rank"}', b"[1,2]\0", b"\xff\xfe\0"])
def test_invalid_json_gets_eproto(shared_instance, payload):
    with shared_instance.client() as c:
        for tag, topic in enumerate(("attr.get", "broker.ping", "event.publish", "event.subscribe",
                                     "service.add", "log.cancel"), start=1):
            m = c.rpc(topic, payload, matchtag=tag)
            assert m.errnum == errno.EPROTO, topic
        m = c.stream("log.dmesg", payload, matchtag=50)
        assert m[-1].errnum == errno.EPROTO
        assert c.rpc("attr.get", {"name": "rank"}, matchtag=51).errnum == 0


def test_request_without_topic(shared_instance):
    with shared_instance.client() as c:
        msg = request("x", {}, matchtag=3)
        msg.topic = None
        c.send(msg)
        m = c.recv()
        assert m.matchtag == 3 and m.errnum == errno.EPROTO


def test_slow_reader_is_cut_off_not_the_broker():
    # a small output limit keeps the test fast; the default is 64 MiB
    with start_instance() as inst:
        with inst.client() as slow, inst.client() as other:
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            pad = "x" * 60000
            batch = b"".join(encode_stream(request("broker.ping", {"seq": i, "pad": pad}, matchtag=i + 1))
                             for i in range(64))
            sent = 0
            deadline = time.monotonic() + 20
            slow.sock.settimeout(0.5)
            gone = False
            while time.monotonic() < deadline:
                try:
                    slow.sock.sendall(batch)
                    sent += 64
                except (BrokenPipeError, ConnectionResetError):
                    gone = True
                    break
                except socket.timeout:
                    pass
                # the broker still answers others quickly meanwhile
                t0 = time.monotonic()
                assert other.rpc("attr.get", {"name": "rank"}, matchtag=sent + 1, timeout=5).errnum == 0
                assert time.monotonic() - t0 < 2
            assert gone, f"slow client was never disconnected ({sent} requests sent)"
            _alive(inst)


def test_disconnect_with_requests_in_flight(shared_instance):
    for _ in range(5):
        c = shared_instance.client()
        c.send(b"".join(encode_stream(request("broker.ping", {"seq": i, "pad": "z" * 1000},
                                              matchtag=i + 1)) for i in range(200)))
        c.close()
    _alive(shared_instance)


GUEST_UID = 65534


def _guest_child(path: str, go_r: int, out_w: int) -> None:
    """Runs in a forked child after setuid: talks to the broker as a guest."""
    import json

    def emit(obj: dict) -> None:
        os.write(out_w, (json.dumps(obj) + "\n").encode())

    c = RawClient(path)
    out: dict = {"handshake": c.handshake[0] if c.handshake else None}
    if c.handshake != b"\x00":
        emit(out)
        return
    p = c.rpc("broker.ping", {"seq": 0, "pad": ""}).payload
    out["ping"] = [p["userid"], p["rolemask"]]
    out["attr"] = c.rpc("attr.get", {"name": "rank"}, matchtag=2).errnum
    out["set"] = c.rpc("attr.set", {"name": "log-stderr-level", "value": "7"}, matchtag=3).errnum
    out["svc_bad"] = c.rpc("service.add", {"service": "mine"}, matchtag=4).errnum
    out["svc_ok"] = c.rpc("service.add", {"service": f"{os.getuid()}-mine"}, matchtag=5).errnum
    out["sub"] = c.rpc("event.subscribe", {"topic": "gt."}, matchtag=6).errnum
    emit(out)
    os.read(go_r, 1)  # the owner publishes now
    emit({"events": [c.recv(timeout=5).topic for _ in range(2)]})


def _fork_guest(path: str):
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.setgroups([])
            os.setgid(GUEST_UID)
            os.setuid(GUEST_UID)
            _guest_child(path, go_r, out_w)
            code = 0
        except BaseException as exc:  # report, never return into pytest
            os.write(out_w, (f'{{"error": "{type(exc).__name__}: {exc}"}}\n').encode())
        finally:
            os._exit(code)
    os.close(go_r)
    os.close(out_w)
    return pid, go_w, os.fdopen(out_r)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another uid")
def test_guest_access():
    import base64
    import json

    with start_instance() as inst:
        pid, go_w, out = _fork_guest(inst.path)
        assert json.loads(out.readline()) == {"handshake": errno.EPERM}
        os.waitpid(pid, 0)
        os.close(go_w)
        out.close()
    with start_instance("access.allow-guest-user=true") as inst:
        pid, go_w, out = _fork_guest(inst.path)
        try:
            first = json.loads(out.readline())
            assert first.get("ping") == [GUEST_UID, 2 | 4], first
            assert first["attr"] == 0
            assert first["set"] == errno.EPERM
            assert first["svc_bad"] == errno.EPERM and first["svc_ok"] == 0
            assert first["sub"] == 0
            with inst.client() as owner:
                def pub(topic: str, flags: int, tag: int) -> int:
                    return owner.rpc("event.publish", {
                        "topic": topic, "flags": flags,
                        "payload": base64.b64encode(b"{}\0").decode()}, matchtag=tag).errnum
                os.write(go_w, b"x")
                assert pub("gt.private", 32, 1) == 0  # not the guest's: hidden from it
                assert pub("gt.public", 0, 2) == 0
                assert pub("gt.public2", 0, 3) == 0
            assert json.loads(out.readline()) == {"events": ["gt.public", "gt.public2"]}
        finally:
            os.close(go_w)
            out.close()
            _, status = os.waitpid(pid, 0)
        assert status == 0


def _spoofing_guest_child(path: str, out_w: int) -> None:
    """As a guest: requests that claim to come from the owner (userid 0, rolemask OWNER)."""
    import json

    from flux.constants import FLUX_ROLE_OWNER

    c = RawClient(path)
    res: dict = {"handshake": c.handshake[0] if c.handshake else None}
    calls = [("broker.ping", {"seq": 0, "pad": ""}), ("log.clear", {}),
             ("attr.set", {"name": "log-stderr-level", "value": "6"}), ("shutdown.start", {})]
    for tag, (topic, payload) in enumerate(calls, 1):
        msg = request(topic, payload, matchtag=tag)
        msg.userid = 0
        msg.rolemask = FLUX_ROLE_OWNER
        c.send(msg)
        resp = c.recv(timeout=5)
        res[topic] = [resp.errnum, resp.payload if not resp.errnum and resp.payload_bytes else None]
    os.write(out_w, (json.dumps(res) + "\n").encode())


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another uid")
def test_guest_spoofed_owner_credentials_are_overwritten():
    """A guest's userid/rolemask on the wire are ignored: the broker stamps the
    connection's credentials, so owner-only services refuse it."""
    import json

    with start_instance("access.allow-guest-user=true") as inst:
        assert inst.run("logger", "spoof-marker").returncode == 0
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.close(out_r)
                os.setgroups([])
                os.setgid(GUEST_UID)
                os.setuid(GUEST_UID)
                _spoofing_guest_child(inst.path, out_w)
                code = 0
            except BaseException as exc:  # report, never return into pytest
                os.write(out_w, (json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
            finally:
                os._exit(code)
        os.close(out_w)
        with os.fdopen(out_r) as out:
            line = out.readline()
        _, status = os.waitpid(pid, 0)
        res = json.loads(line)
        assert status == 0, res
        assert res["handshake"] == 0
        err, ping = res["broker.ping"]
        assert err == 0 and ping["userid"] == GUEST_UID and ping["rolemask"] == 2 | 4, ping
        assert res["log.clear"][0] == errno.EPERM, res
        assert res["attr.set"][0] == errno.EPERM, res
        assert res["shutdown.start"][0] == errno.EPERM, res
        # nothing happened: the instance runs, log-stderr-level is unchanged
        assert inst.proc.poll() is None
        assert inst.run("getattr", "log-stderr-level").stdout.strip() == "3"
        assert "spoof-marker" in inst.run("dmesg").stdout  # the ring was not cleared


def test_requests_at_a_departed_client_service_fail_at_once(instance):
    """A client that registered a service and leaves with requests unanswered:
    each requester gets ENOSYS right away instead of waiting forever (flux-core's
    clients, such as its flux job attach, take ENOSYS as "the provider is gone")."""
    import errno as _errno

    import flux

    provider = flux.Flux(instance.uri)
    provider.service_register("gone").get()
    requester = flux.Flux(instance.uri)
    pending = requester.rpc("gone.hello", {"x": 1})
    streaming = requester.rpc("gone.stream", {}, flags=flux.constants.FLUX_RPC_STREAMING)
    answered = requester.rpc("gone.answered", {})
    for _ in range(3):
        req = provider.recv(topic_glob="gone.*")
        if req.topic == "gone.answered":
            provider.respond(req, {"ok": True})
    assert answered.get() == {"ok": True}
    provider._close()
    for fut in (pending, streaming):
        with pytest.raises(OSError) as exc:
            fut.wait_for(5).get()
        assert exc.value.errno == _errno.ENOSYS
        assert "gone service provider disconnected" in exc.value.strerror
    # the service is gone too
    with pytest.raises(OSError) as exc:
        requester.rpc("gone.hello", {}).get()
    assert exc.value.errno == _errno.ENOSYS


def test_deep_route_stack_costs_linear_time(shared_instance):
    """A request that claims 100,000 hops: answered (the routes are the sender's own
    business), in bounded time, and the broker carries on."""
    msg = request("attr.get", {"name": "rank"}, matchtag=5)
    msg.routes = [f"hop{i}" for i in range(100_000)]
    with shared_instance.client() as c:
        t0 = time.monotonic()
        c.send(msg)
        reply = c.recv(timeout=20)
        assert reply.errnum == 0 and len(reply.routes) == 100_000
        assert time.monotonic() - t0 < 10
    _alive(shared_instance)


def test_message_max_attribute_refuses_a_large_message_from_its_header():
    """``-S broker.message-max``: a client that announces a longer message is dropped
    when its 8-byte header arrives (nothing of the body is buffered); others carry on."""
    with start_instance("broker.message-max=64k") as inst:
        assert inst.run("getattr", "broker.message-max").stdout == "65536\n"
        with inst.client() as c:
            # a header announcing 100 kB, and no body: refused at once
            c.send(struct.pack("=I", 0xFFEE0012) + struct.pack(">I", 100_000))
            _expect_eof(c)
        with inst.client() as c:
            assert c.rpc("kvs.getroot", {"namespace": "primary", "flags": 0}).errnum == 0
        big = "x" * 70_000
        r = inst.run("kvs", "put", f"big={big}")
        assert r.returncode != 0
        assert inst.run("kvs", "put", "small=1").returncode == 0
        dmesg = inst.run("dmesg").stdout
        assert "exceeds the limit of 65536" in dmesg
    for bad in ("bogus", "12", "2G"):
        r = run_tree([flux_exe(), "start", f"-Sbroker.message-max={bad}", "true"],
                     capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and r.stderr.startswith(
            f"flux-broker: broker.message-max: invalid value '{bad}'"), r.stderr
