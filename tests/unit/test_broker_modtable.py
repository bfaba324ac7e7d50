"""The module table and module links in-process: no fork, no broker process.

A fake spawner hands the table one end of a socketpair and keeps the other
as the "module"; a fake process exits when the test says so (or when it is
killed), closing its end as a dying process would.
"""

from __future__ import annotations

import errno
import socket

import pytest
from brokerfakes import (
    BROKER_UUID,
    CLIENT_UUID,
    OWNER,
    OWNER_LOCAL,
    Parts,
    PeerEnd,
    client_request,
    run_until,
)
from rawclient import request

import flux.broker.modules.link as linkmod
from flux.broker.loop import Loop
from flux.broker.modules import ModuleTable
from flux.broker.modules.link import (
    CLOSED,
    EXITED,
    FINALIZING,
    GONE,
    INIT,
    RUNNING,
    TRANSITIONS,
)
from flux.constants import FLUX_MSGFLAG_NORESPONSE
from flux.message import Message
from flux.response import derive_response
from flux.severity import LOG_CRIT, LOG_ERR


class FakeProcess:
    """Stands in for spawn.ModuleProcess (pid 0: the link watches no real child)."""

    def __init__(self) -> None:
        self.pid = 0
        self.reaped = False
        self.status = None
        self.code = None  # set when the "process" has exited
        self.killed = False
        self.sock = None  # the module's end, closed when the process dies

    def exit(self, code: int) -> None:
        self.code = code
        if self.sock is not None:
            self.sock.close()

    def kill(self) -> None:
        if not self.reaped:
            self.killed = True
            self.exit(-9)

    def poll(self) -> bool:
        if self.code is not None and not self.reaped:
            self.reaped, self.status = True, self.code
        return self.reaped

    def wait(self, timeout: float) -> None:
        self.kill()
        self.poll()


class FakeModule(PeerEnd):
    """The module's side of the socketpair."""

    def __init__(self, world: World, sock: socket.socket, proc: FakeProcess) -> None:
        super().__init__(world.loop, sock)
        self.proc = proc

    def status(self, status: int, rpc: bool = False, **extra) -> None:
        flags = 0 if rpc else FLUX_MSGFLAG_NORESPONSE
        self.send(request("module.status", {"status": status, **extra}, flags=flags))

    def respond(self, req: Message, payload: bytes | None = None, errnum: int = 0) -> None:
        self.send(derive_response(req, errnum, payload))


class FakeSpawner:
    def __init__(self, world: World) -> None:
        self.world = world
        self.fail: OSError | None = None

    def start(self, name: str, path: str, use_exec: bool):
        if self.fail is not None:
            raise self.fail
        near, far = socket.socketpair()
        proc = FakeProcess()
        proc.sock = far
        self.world.started.append(FakeModule(self.world, far, proc))
        self.world.exec_flags.append(use_exec)
        return near, proc


class World:
    def __init__(self, tmp_path) -> None:
        self.parts = Parts()
        self.router = self.parts.router
        self.loop = Loop(spin_us=0)
        self.logged: list[tuple[int, str]] = []
        self.conf = {"tbl": {"k": 1}}
        self.started: list[FakeModule] = []
        self.exec_flags: list[bool] = []
        self.spawner = FakeSpawner(self)
        self.table = ModuleTable(self.loop, self.router, self.parts.events, self.parts.attrs,
                                 OWNER, {"FLUX_MODULE_PATH": str(tmp_path)}, lambda: self.conf,
                                 log=lambda level, text: self.logged.append((level, text)),
                                 spawner=self.spawner)
        self.path = tmp_path / "mod.py"
        self.path.write_text("# a module file\n")

    def rpc(self, topic: str, payload=None, **kw) -> None:
        """A client request (its responses land in replies())."""
        self.router.request(client_request(topic, payload, **kw))

    def replies(self, count: int = 1) -> list[Message]:
        conn = self.parts.connector
        run_until(self.loop, lambda: len(conn.sent) >= count)
        return conn.take()

    def load(self, name: str = "mod", args=()) -> FakeModule:
        """module.load, welcome received, RUNNING reported, load answered."""
        self.rpc("module.load", {"path": str(self.path), "args": list(args), "name": name},
                 matchtag=77)
        mod = self.started[-1]
        (welcome,) = mod.recv()
        assert welcome.topic == "welcome"
        mod.welcome = welcome
        mod.status(RUNNING)
        (resp,) = self.replies()
        assert resp.matchtag == 77 and resp.errnum == 0
        return mod

    def list(self) -> dict:
        self.rpc("module.list")
        (resp,) = self.replies()
        return {m["name"]: m for m in resp.payload["mods"]}

    def link(self, name: str = "mod"):
        return self.table.modules[name]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.table.close(0.1)
    w.loop.close()


# -- the state table -------------------------------------------------------------------------


def test_state_table():
    states = {INIT, RUNNING, FINALIZING, EXITED, CLOSED, GONE}
    assert set(TRANSITIONS) == states
    reachable, todo = {INIT}, [INIT]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                todo.append(nxt)
    assert reachable == states
    assert TRANSITIONS[GONE] == frozenset()
    # the socket may close from every live state, and only GONE follows CLOSED
    assert all(CLOSED in TRANSITIONS[s] for s in (INIT, RUNNING, FINALIZING, EXITED))
    assert TRANSITIONS[CLOSED] == {GONE}
    # states only move forward
    assert all(nxt > s for s, nexts in TRANSITIONS.items() for nxt in nexts)


def test_advance_refuses_what_the_table_does_not_allow(world):
    world.load()
    link = world.link()
    assert link.state == RUNNING
    assert link.advance(INIT) is False and link.advance(GONE) is False
    assert link.state == RUNNING


# -- load, welcome, list ----------------------------------------------------------------------


def test_load_welcome_and_list(world):
    world.parts.attrs.add("size", "1")
    mod = world.load(args=["a", "b"])
    assert mod.handshake == b"\x00"
    w = mod.welcome
    assert w.routes == [BROKER_UUID] and not w.flags & FLUX_MSGFLAG_NORESPONSE
    assert (w.userid, w.rolemask) == (OWNER, OWNER_LOCAL)
    body = w.payload
    link = world.link()
    assert body == {"args": ["a", "b"], "attrs": world.parts.attrs.immutable(),
                    "conf": {"tbl": {"k": 1}}, "name": "mod", "uuid": link.uuid}
    assert {"rank": "0", "size": "1"}.items() <= body["attrs"].items()
    entry = world.list()["mod"]
    assert entry["status"] == RUNNING and entry["path"] == str(world.path)
    assert entry["services"] == [] and entry["pid"] == 0 and entry["sendqueue"] == 0
    assert world.exec_flags == [False]


def test_load_answer_waits_for_running(world):
    world.rpc("module.load", {"path": str(world.path)}, matchtag=5)
    mod = world.started[0]
    mod.recv()
    run_until(world.loop, lambda: True)
    assert world.parts.connector.sent == []  # INIT: not answered yet
    assert world.list()["mod"]["status"] == INIT
    mod.status(RUNNING)
    (resp,) = world.replies()
    assert resp.matchtag == 5 and resp.errnum == 0


def test_load_errors(world, tmp_path):
    def err(payload):
        world.rpc("module.load", payload)
        (resp,) = world.replies()
        return resp.errnum, resp.payload_str
    assert err({"path": str(tmp_path / "nope.py")})[0] == errno.ENOENT
    assert err({"path": "nope"}) == (errno.ENOENT, "nope: module not found in FLUX_MODULE_PATH")
    (tmp_path / "mod.txt").write_text("")
    assert err({"path": str(tmp_path / "mod.txt")})[0] == errno.EINVAL
    assert err({"path": str(world.path), "name": "a.b"})[0] == errno.EINVAL
    assert err({"path": str(world.path), "args": [1]})[0] == errno.EPROTO
    assert err({"path": str(world.path), "name": "attr"})[0] == errno.EEXIST  # a service name
    world.spawner.fail = OSError(errno.EAGAIN, "Resource temporarily unavailable")
    assert err({"path": "mod"}) == (errno.EAGAIN, "mod: Resource temporarily unavailable")
    assert world.table.modules == {} and "mod" not in world.router.services
    world.spawner.fail = None
    world.load()
    assert err({"path": str(world.path)})[0] == errno.EEXIST


def test_exec_attribute_and_flag(world):
    world.parts.attrs.update("module.exec", "1")
    world.load("m1")
    world.parts.attrs.update("module.exec", "0")
    world.rpc("module.load", {"path": str(world.path), "name": "m2", "exec": True})
    world.started[-1].recv()
    assert world.exec_flags == [True, True]


def test_status_is_only_for_modules(world):
    world.rpc("module.status", {"status": RUNNING})
    (resp,) = world.replies()
    assert (resp.errnum, resp.payload_str) == (errno.EPROTO, "this request is only for modules")


# -- the relay -----------------------------------------------------------------------------------


def test_requests_and_responses_through_the_link(world):
    mod = world.load()
    world.rpc("mod.hello", {"x": 1}, matchtag=3)
    (req,) = mod.recv()
    assert req.routes == [CLIENT_UUID, world.parts.connector.uuid, BROKER_UUID]
    assert world.link().inflight
    mod.respond(req, b'{"y":2}\0')
    (resp,) = world.replies()
    assert resp.payload == {"y": 2} and resp.routes == [CLIENT_UUID]
    assert not world.link().inflight
    # the module's own request: [M] pushed, owner creds, answered back to it
    mod.send(request("attr.get", {"name": "rank"}, matchtag=8))
    (resp,) = mod.recv()
    assert resp.matchtag == 8 and resp.payload == {"value": "0", "flags": 1} and resp.routes == []


def test_module_subscribes_and_registers_like_a_client(world):
    mod = world.load()
    mod.send(request("event.subscribe", {"topic": "hb."}, matchtag=2))
    (resp,) = mod.recv()
    assert resp.errnum == 0 and resp.payload_bytes is None
    assert (resp.userid, resp.rolemask) == (OWNER, OWNER_LOCAL)  # a module's answers: owner's
    world.parts.events.publish("hb.pulse")
    (ev,) = mod.recv()
    assert ev.topic == "hb.pulse"
    mod.send(request("service.add", {"service": "extra"}, matchtag=3))
    assert mod.recv()[0].errnum == 0
    assert world.list()["mod"]["services"] == ["extra"]
    world.rpc("extra.x", {})
    assert mod.recv()[0].topic == "extra.x"


def test_config_reload_reaches_running_modules(world):
    mod = world.load()
    world.table.config_changed({"new": True})
    (m,) = mod.recv()
    assert m.topic == "mod.config-reload" and m.payload == {"new": True}
    assert m.flags & FLUX_MSGFLAG_NORESPONSE


# -- unloading --------------------------------------------------------------------------------


def test_remove_follows_the_protocol(world):
    mod = world.load()
    world.rpc("module.remove", {"name": "mod"}, matchtag=11)
    (shutdown,) = mod.recv()
    assert shutdown.topic == "mod.shutdown" and shutdown.flags & FLUX_MSGFLAG_NORESPONSE
    mod.status(FINALIZING, rpc=True)
    (ack,) = mod.recv()
    assert ack.errnum == 0
    assert world.link().state == FINALIZING
    world.rpc("mod.late", {}, matchtag=12)
    (refused,) = world.replies()
    assert (refused.errnum, refused.payload_str) == (errno.ENOSYS, "mod module is unloading")
    mod.status(EXITED, errnum=0)
    run_until(world.loop, lambda: world.link().state == EXITED)
    assert world.parts.connector.sent == []  # remove waits for the process
    mod.proc.exit(0)
    (resp,) = world.replies()
    assert resp.matchtag == 11 and resp.errnum == 0
    assert world.table.modules == {} and "mod" not in world.router.services
    assert world.logged == []


def test_remove_unknown_is_enoent(world):
    world.rpc("module.remove", {"name": "nosuch"})
    assert world.replies()[0].errnum == errno.ENOENT


def test_remove_cancel_kills(world):
    mod = world.load()
    world.rpc("mod.block", {}, matchtag=4)
    mod.recv()
    world.rpc("module.remove", {"name": str(world.path), "cancel": True}, matchtag=5)  # by path
    replies = world.replies(2)
    assert mod.proc.killed
    by_tag = {r.matchtag: r for r in replies}
    assert by_tag[4].errnum == errno.ECONNRESET
    assert by_tag[4].payload_str == "mod module terminated unexpectedly"
    assert by_tag[5].errnum == 0
    assert [lv for lv, _ in world.logged if lv <= LOG_CRIT] == []  # asked for: no failure


def test_crash_fails_requests_and_is_a_runtime_failure(world):
    mod = world.load()
    world.rpc("mod.hold", {}, matchtag=6)
    mod.recv()
    mod.proc.exit(3)
    (resp,) = world.replies()
    assert resp.matchtag == 6 and resp.errnum == errno.ECONNRESET
    assert world.table.modules == {}
    assert (LOG_ERR, "mod: module process exited with status 3") in world.logged
    assert (LOG_CRIT, "mod module runtime failure") in world.logged
    world.rpc("mod.hold", {})
    assert world.replies()[0].errnum == errno.ENOSYS


def test_failed_initialization_answers_the_load(world):
    world.rpc("module.load", {"path": str(world.path)}, matchtag=9)
    mod = world.started[0]
    mod.recv()
    mod.status(FINALIZING, rpc=True)
    mod.recv()
    mod.status(EXITED, errnum=errno.EINVAL, errstr="bad argument")
    run_until(world.loop, lambda: world.link().state == EXITED)
    mod.proc.exit(1)
    (resp,) = world.replies()
    assert (resp.matchtag, resp.errnum, resp.payload_str) == (9, errno.EINVAL, "bad argument")
    assert world.logged == []  # the load's requester was told


def test_process_reaped_before_its_socket_closes(world):
    mod = world.load()
    mod.proc.code = 0  # exited, but a leaked fd keeps the socket open
    world.link().reap()
    assert world.table.modules == {}
    assert (LOG_CRIT, "mod module runtime failure") in world.logged
    mod.sock.close()


def test_lingering_process_is_killed(world, monkeypatch):
    monkeypatch.setattr(linkmod, "REAP_GRACE", 0.01)
    mod = world.load()
    link = world.link()
    sock, mod.proc.sock = mod.proc.sock, None
    sock.close()  # the socket closes, the process stays
    run_until(world.loop, lambda: link.state == CLOSED)
    run_until(world.loop, lambda: mod.proc.killed)
    assert (LOG_ERR, "mod: module process did not exit; killing it") in world.logged
    link.reap()
    assert link.state == GONE


def test_bad_status_reports(world):
    mod = world.load()
    mod.send(request("module.status", {"status": 9}, matchtag=2))
    (resp,) = mod.recv()
    assert (resp.errnum, resp.payload_str) == (errno.EINVAL, "invalid module status 9")
    mod.send(request("module.status", {"status": "x"}, matchtag=3))
    assert mod.recv()[0].errnum == errno.EPROTO
    mod.status(RUNNING)  # again: ignored
    mod.send(request("attr.get", {"name": "rank"}, matchtag=4))
    assert mod.recv()[0].matchtag == 4
    assert world.link().state == RUNNING


# -- broker exit -------------------------------------------------------------------------------


def test_shutdown_unloads_on_the_loop(world):
    good, stuck = world.load("good"), world.load("stuck")
    done = []
    world.table.shutdown(lambda: done.append(True), grace=0.05)
    assert world.table.closing
    for mod in (good, stuck):
        assert mod.recv()[0].topic.endswith(".shutdown")
    good.status(FINALIZING, rpc=True)
    good.recv()
    good.status(EXITED, errnum=0)
    run_until(world.loop, lambda: world.table.modules.get("good") is None or
              world.table.modules["good"].state == EXITED)
    good.proc.exit(0)
    run_until(world.loop, lambda: "good" not in world.table.modules)
    assert done == []  # "stuck" ignores the shutdown ...
    run_until(world.loop, lambda: done)  # ... and is killed after the grace time
    assert stuck.proc.killed and world.table.modules == {}
    assert done == [True]
    world.rpc("module.load", {"path": str(world.path)})
    assert world.replies()[0].errnum == errno.EAGAIN


def test_shutdown_without_modules_is_immediate(world):
    done = []
    world.table.shutdown(lambda: done.append(True))
    assert done == [True]


def test_close_kills_what_is_left(world):
    mod = world.load()
    world.table.close(0.1)
    assert mod.proc.killed and world.table.modules == {}
