"""Which JSON spelling each payload gets: ``json.dumps`` where flux-core's Python
bindings encode the object, libflux's compact JSON where flux-core does it in C."""

from __future__ import annotations

import json

import pytest

import flux
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_MSGTYPE_REQUEST
from flux.message import Message, compact_json, encode_json
from flux.util import encode_payload

pytestmark = pytest.mark.timeout(20)

OBJ = {"name": "ü", "list": [1, 2.5, None, True], "nested": {"k": "v"}}
DUMPS = json.dumps(OBJ, ensure_ascii=False)


@pytest.fixture
def h():
    with flux.Flux("loop://") as handle:
        yield handle


def test_message_payload_and_event_encode_use_json_dumps():
    msg = Message()
    msg.payload = OBJ
    assert msg.payload_str == DUMPS
    assert Message.from_event_encode("ev.x", OBJ).payload_str == DUMPS
    assert encode_payload(OBJ) == DUMPS.encode()
    assert encode_payload("as is") == b"as is"


def test_rpc_request_and_response_payloads_use_json_dumps(h):
    seen = []

    def service(handle, watcher, msg, arg):
        seen.append(msg.payload_str)
        handle.respond(msg, {"echo": msg.payload})
        watcher.stop()

    h.msg_watcher_create(service, FLUX_MSGTYPE_REQUEST, "svc.echo").start()
    got = []
    h.rpc("svc.echo", OBJ).then(lambda f: got.append(f.get_str()))
    h.reactor_run()
    assert seen == [DUMPS]
    assert got == [json.dumps({"echo": OBJ}, ensure_ascii=False)]
    assert h.request_encode("svc.echo", OBJ).payload_str == DUMPS


def test_event_send_payload_uses_json_dumps(h):
    got = []

    def cb(handle, watcher, msg, arg):
        got.append(msg.payload_str)
        watcher.stop()

    h.msg_watcher_create(cb, FLUX_MSGTYPE_EVENT, "ev.*").start()
    h.event_send("ev.x", OBJ)
    h.reactor_run()
    assert got == [DUMPS]


def test_requests_flux_core_builds_in_c_stay_compact(h, monkeypatch):
    """attr_get/attr_set/event_subscribe/service_register are C in flux-core (jansson);
    attr_remove is Python there (json.dumps)."""
    sent = []

    class Done:
        def get(self):
            return {"value": "v", "flags": 0}

    def fake_rpc(topic, payload=None, nodeid=0, flags=0):
        sent.append((topic, payload))
        return Done()

    monkeypatch.setattr(h, "rpc", fake_rpc)
    h.attr_get("x.y")
    h.attr_set("x.y", "1")
    h.event_subscribe("ev.")
    h.event_unsubscribe("ev.")
    h.service_register("svc")
    h.service_unregister("svc")
    h.attr_remove("x.y")
    assert sent == [
        ("attr.get", '{"name":"x.y"}'),
        ("attr.set", '{"name":"x.y","value":"1"}'),
        ("event.subscribe", '{"topic":"ev."}'),
        ("event.unsubscribe", '{"topic":"ev."}'),
        ("service.add", '{"service":"svc"}'),
        ("service.remove", '{"service":"svc"}'),
        ("attr.rm", {"name": "x.y"}),
    ]


def test_compact_helpers_keep_libflux_spelling():
    assert compact_json(OBJ) == json.dumps(OBJ, separators=(",", ":"), ensure_ascii=False)
    assert encode_json(OBJ) == compact_json(OBJ).encode() + b"\0"
