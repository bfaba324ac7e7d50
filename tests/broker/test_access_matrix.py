"""Access control (RFC 12), service by service: docs/security.md's table, proved.

The table says, for every method, whether flux-core 0.88 lets a guest call it and
what pureflux does.  Here: the table names every method the broker registers with
the roles it registers (nothing undocumented, no row that lies), each row sent by a
real second user (uid 65534) gets EPERM or not as the table says, and the guest can
touch its own jobs, namespaces, requests, services and events but nobody else's.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import socket
import time
from pathlib import Path

import pytest
from brokermethods import registered
from conftest import start_instance
from guest import GUEST_UID, run_as_guest
from rawclient import RawClient, request

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_PRIVATE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.services.job_ingest import sign_none

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to act as a second (guest) uid")

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
_ROW = re.compile(r"^\| `([^`]+)` \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$")
OTHER_GUEST = GUEST_UID - 1  # a second guest, for "another user's private event"

SPEC = {"version": 1,
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["sleep", "30"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0, "cwd": "/tmp"}}}


# -- the table ----------------------------------------------------------------------------


def table() -> dict[str, tuple[str, str]]:
    """docs/security.md's rows: method -> (flux-core's guests column, pureflux column)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        m = _ROW.match(line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)}: two rows"
            rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    assert len(rows) > 100, "the table was not found in docs/security.md"
    return rows


def expected(row: tuple[str, str]) -> str | None:
    """What pureflux does for a guest: "owner", "guest", or None (no such method)."""
    fc, pf = row
    if pf == "not implemented":
        return None
    claim = fc if pf == "same" else pf
    return "owner" if claim == "owner only" else "guest"


def test_table_matches_the_roles_the_broker_registers():
    rows = table()
    methods = registered()
    assert "attr.set" in methods and "job-manager.raise" in methods
    undocumented = sorted(set(methods) - set(rows))
    assert not undocumented, f"methods missing from docs/security.md: {undocumented}"
    wrong = []
    for topic, roles in sorted(methods.items()):
        actual = "owner" if roles == FLUX_ROLE_OWNER else \
            "guest" if roles & FLUX_ROLE_USER else f"roles {roles:#x}"
        if expected(rows[topic]) != actual:
            wrong.append((topic, rows[topic], actual))
    assert not wrong, wrong
    ghosts = sorted(t for t, row in rows.items() if expected(row) and t not in methods)
    assert not ghosts, f"rows claim methods the broker does not have: {ghosts}"


def test_table_has_no_difference_with_flux_core():
    """Where flux-core has the method, pureflux's roles are the same: a guest allowed
    where flux-core refuses is a security bug, the reverse a compatibility bug."""
    for topic, (fc, pf) in table().items():
        if fc.startswith("(not in flux-core)"):
            assert pf in ("owner only", "guest") or pf.startswith("guest:"), topic
        else:
            assert fc == "owner only" or fc == "guest" or fc.startswith("guest: "), topic
            assert pf in ("same", "not implemented"), (topic, fc, pf)


# -- one instance with guests ----------------------------------------------------------------


@pytest.fixture(scope="module")
def inst():
    with start_instance("access.allow-guest-user=true") as i:
        yield i


def _send_all(path: str, topics: list[str]) -> dict[str, object]:
    """As the guest: every topic once, no payload, pipelined; each one's errnum
    ("none" for a request that is answered with nothing, as disconnects are)."""
    c = RawClient(path, timeout=10)
    assert c.handshake == b"\x00"
    for tag, topic in enumerate(topics, 1):
        c.send(request(topic, None, matchtag=tag))
    sentinel = len(topics) + 1
    c.send(request("broker.ping", {"seq": 0, "pad": ""}, matchtag=sentinel))
    got: dict[str, object] = {}
    deadline = time.monotonic() + 20
    seen_sentinel = None
    while len(got) < len(topics) and time.monotonic() < deadline:
        if seen_sentinel is not None and time.monotonic() > seen_sentinel + 1.0:
            break  # the broker answers in order: what has not come will not
        try:
            m = c.recv(timeout=0.2)
        except socket.timeout:
            continue
        if m.type != 2:
            continue
        if m.matchtag == sentinel:
            seen_sentinel = time.monotonic()
        elif 1 <= m.matchtag <= len(topics):
            got.setdefault(topics[m.matchtag - 1], m.errnum)
    c.close()
    return {t: got.get(t, "none") for t in topics}


def test_every_row_as_a_guest(inst):
    rows = table()
    topics = sorted(rows)
    res = run_as_guest(lambda: _send_all(inst.path, topics))
    assert isinstance(res, dict), res
    wrong = []
    for topic in topics:
        want, got = expected(rows[topic]), res[topic]
        if want == "owner" and got != errno.EPERM:
            wrong.append((topic, "owner only", got))
        elif want == "guest" and got in (errno.EPERM, errno.ENOSYS):
            wrong.append((topic, "guest allowed", got))
        elif want is None and got != errno.ENOSYS:
            wrong.append((topic, "not implemented", got))
    assert not wrong, wrong
    # the instance survived all of it
    assert inst.run("getattr", "rank").stdout.strip() == "0"


# -- a guest's own things and other users' ------------------------------------------------------


def _submit(c: RawClient, userid: int, spec: dict, urgency: int, tag: int) -> int:
    """Submit as ``userid`` (the owner's connection may speak for a user, as
    flux-core's FLUX_HANDLE_USERID testing option does)."""
    msg = request("job-ingest.submit", {"J": sign_none.wrap(json.dumps(spec).encode(), userid),
                                        "urgency": urgency, "flags": 0}, matchtag=tag)
    msg.userid = userid
    msg.rolemask = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
    c.send(msg)
    m = c.recv(timeout=10)
    assert m.errnum == 0, (m.errnum, m.payload_bytes)
    return m.payload["id"]


def _wait_event(inst, jobid: int, name: str) -> None:
    r = inst.run("job", "wait-event", "-t", "20", str(jobid), name)
    assert r.returncode == 0, r.stderr


def test_guest_on_its_own_things_and_on_others(inst):
    with inst.client() as owner:
        held = _submit(owner, os.getuid(), SPEC, 0, 1)       # the owner's, pending
        running = _submit(owner, os.getuid(), SPEC, 16, 2)   # the owner's, running
        mine = _submit(owner, GUEST_UID, SPEC, 0, 3)         # the guest's, pending
        m = owner.rpc("kvs.namespace-create", {
            "namespace": "guestns", "owner": GUEST_UID, "flags": 0,
            "rootref": owner.rpc("kvs.getroot", {"namespace": "primary", "flags": 0},
                                 matchtag=4).payload["rootref"]}, matchtag=5)
        assert m.errnum == 0
        broker_uuid = owner.rpc("attr.get", {"name": "broker.uuid"}, matchtag=6).payload["value"]
    _wait_event(inst, running, "start")

    def put(key: str, ns: str) -> dict:
        dirent = {"data": base64.b64encode(b"v").decode(), "type": "val", "ver": 1}
        return {"ops": [{"key": key, "flags": 0, "dirent": dirent}], "flags": 0,
                "namespace": ns}

    calls: list[tuple[str, str, object]] = [
        # jobs: others' refused, its own allowed
        ("raise others", "job-manager.raise", {"id": held, "severity": 0, "type": "cancel",
                                               "note": ""}),
        ("urgency others", "job-manager.urgency", {"id": held, "urgency": 1}),
        ("urgency own", "job-manager.urgency", {"id": mine, "urgency": 0}),  # stays held
        ("urgency own above default", "job-manager.urgency", {"id": mine, "urgency": 31}),
        ("kill others", "job-manager.kill", {"id": running, "signum": 15}),
        ("memo others", "job-manager.memo", {"id": held, "memo": {"x": 1}}),
        ("memo own", "job-manager.memo", {"id": mine, "memo": {"x": 1}}),
        ("raiseall others", "job-manager.raiseall", {"dry_run": True, "userid": os.getuid(),
                                                     "states": 0xFF, "severity": 0,
                                                     "type": "cancel"}),
        ("raiseall own", "job-manager.raiseall", {"dry_run": True, "userid": GUEST_UID,
                                                  "states": 0xFF, "severity": 0,
                                                  "type": "cancel"}),
        ("killall others", "job-manager.killall", {"dry_run": True, "userid": -1,
                                                   "signum": 15}),
        ("eventlog others", "job-info.lookup", {"id": held, "keys": ["eventlog"],
                                                "flags": 0}),
        ("eventlog own", "job-info.lookup", {"id": mine, "keys": ["eventlog"], "flags": 0}),
        ("jobspec others", "job-info.lookup", {"id": running, "keys": ["jobspec"],
                                               "flags": 0}),
        ("output others", "job-info.eventlog-watch", {"id": running, "path": "guest.output",
                                                      "flags": 0}),
        ("exec eventlog others", "job-info.eventlog-watch", {
            "id": running, "path": "guest.exec.eventlog", "flags": 0}),
        ("update others", "job-manager.update", {"id": held, "updates": {
            "attributes.system.duration": 100.0}}),
        ("update-lookup others", "job-info.update-lookup", {"id": held, "key": "R",
                                                             "flags": 0}),
        ("update-watch others", "job-info.update-watch", {"id": held, "key": "jobspec",
                                                           "flags": 0}),
        ("list others", "job-list.list-id", {"id": held, "attrs": ["state"]}),  # not private
        # KVS: only the namespace it owns
        ("kvs fence primary", "kvs.fence", {**put("f", "primary"), "name": "acc-fence",
                                            "nprocs": 1}),
        ("kvs wait-version primary", "kvs.wait-version", {"rootseq": 1,
                                                          "namespace": "primary"}),
        ("kvs lookup-plus primary", "kvs.lookup-plus", {"key": "resource.R", "flags": 0,
                                                        "namespace": "primary"}),
        ("kvs write primary", "kvs.commit", put("g", "primary")),
        ("kvs read primary", "kvs.lookup", {"key": "resource.R", "flags": 0,
                                            "namespace": "primary"}),
        ("kvs root primary", "kvs.getroot", {"namespace": "primary", "flags": 0}),
        ("kvs watch primary", "kvs-watch.lookup", {"key": "resource.R", "flags": 0,
                                                   "namespace": "primary"}),
        ("kvs write own", "kvs.commit", put("g", "guestns")),
        ("kvs read own", "kvs.lookup", {"key": "g", "flags": 0, "namespace": "guestns"}),
        ("kvs watch own", "kvs-watch.lookup", {"key": "g", "flags": 0,
                                               "namespace": "guestns"}),
        # services: names UID-* only
        ("service.add other", "service.add", {"service": "notmine"}),
        ("service.add own", "service.add", {"service": f"{GUEST_UID}-mine"}),
        ("service.remove other", "service.remove", {"service": "kvs"}),
        ("service.remove own", "service.remove", {"service": f"{GUEST_UID}-mine"}),
        # the owner's business
        ("attr.set", "attr.set", {"name": "log-stderr-level", "value": "7"}),
        ("log.clear", "log.clear", {}),
        ("module.load", "module.load", {"path": "/nonexistent/mod.so", "args": []}),
        ("module.remove", "module.remove", {"name": "kvs"}),
        ("shutdown", "shutdown.start", {"loglevel": 6}),
        ("resource drain", "resource.drain", {"targets": "0", "reason": "x", "mode": None}),
        # not the guest's requests: a route stack naming the scheduler's is no proof
        ("job-manager.disconnect", "job-manager.disconnect", {}),
        # an event the broker's own services would act on: the owner's job stays up
        ("publish job-exception", "event.publish", {
            "topic": "job-exception", "flags": 0, "payload": base64.b64encode(json.dumps(
                {"id": running, "type": "cancel", "severity": 0,
                 "userid": os.getuid()}).encode()).decode()}),
        ("publish job-purge-inactive", "event.publish", {
            "topic": "job-purge-inactive", "flags": 0, "payload": base64.b64encode(
                json.dumps({"jobs": [held, running]}).encode()).decode()}),
        # a guest's job: cancelled, its own
        ("raise own", "job-manager.raise", {"id": mine, "severity": 0, "type": "cancel",
                                            "note": ""}),
    ]

    def work() -> dict:
        out = {}
        with RawClient(inst.path, timeout=10) as g:
            for tag, (name, topic, payload) in enumerate(calls, 1):
                streaming = FLUX_MSGFLAG_STREAMING if topic.endswith("-watch") \
                    or topic == "kvs-watch.lookup" else 0
                msg = request(topic, payload, matchtag=tag, flags=streaming)
                if topic == "job-manager.disconnect":
                    msg.routes = [f"{broker_uuid}/sched"]
                if topic == "attr.set":  # and a forged sender on top
                    msg.userid, msg.rolemask = 0, FLUX_ROLE_OWNER
                g.send(msg)
                while True:
                    m = g.recv(timeout=10)
                    if m.type == 2 and m.matchtag == tag:
                        break
                out[name] = m.errnum
            ping = g.rpc("broker.ping", {"seq": 0, "pad": ""}, matchtag=999).payload
            out["ping creds"] = [ping["userid"], ping["rolemask"]]
        return out

    res = run_as_guest(work)
    assert isinstance(res, dict), res
    perm = errno.EPERM
    assert res == {
        "raise others": perm, "urgency others": perm, "urgency own": 0,
        "urgency own above default": perm, "kill others": perm, "memo others": perm,
        "memo own": 0, "raiseall others": perm, "raiseall own": 0, "killall others": perm,
        "eventlog others": perm, "eventlog own": 0, "jobspec others": perm,
        "update others": perm, "update-lookup others": perm, "update-watch others": perm,
        "list others": 0, "kvs fence primary": perm, "kvs wait-version primary": perm,
        "kvs lookup-plus primary": perm, "kvs watch own": 0,
        "output others": perm, "exec eventlog others": perm,
        "kvs write primary": perm, "kvs read primary": perm, "kvs root primary": perm,
        "kvs watch primary": perm, "kvs write own": 0, "kvs read own": 0,
        "service.add other": perm, "service.add own": 0, "service.remove other": perm,
        "service.remove own": 0,
        "attr.set": perm, "log.clear": perm, "module.load": perm, "module.remove": perm,
        "shutdown": perm, "resource drain": perm, "job-manager.disconnect": perm,
        "publish job-exception": 0, "publish job-purge-inactive": 0, "raise own": 0,
        "ping creds": [GUEST_UID, FLUX_ROLE_USER | FLUX_ROLE_LOCAL],
    }, res
    # nothing the guest did touched the owner's jobs or the instance
    _wait_event(inst, mine, "clean")
    time.sleep(0.3)  # a job-exception acted upon would have killed it by now
    with inst.client() as owner:
        m = owner.rpc("job-info.lookup", {"id": running, "keys": ["eventlog"], "flags": 0},
                      matchtag=1)
        names = [json.loads(line)["name"] for line in m.payload["eventlog"].splitlines()]
        assert "exception" not in names and "finish" not in names, names
        listed = owner.rpc("job-list.list-id", {"id": held, "attrs": ["state"]}, matchtag=2)
        assert listed.errnum == 0, "a guest's job-purge-inactive event purged a job"
        for tag, jobid in enumerate((held, running), 3):
            assert owner.rpc("job-manager.raise", {"id": jobid, "severity": 0,
                                                   "type": "cancel", "note": ""},
                             matchtag=tag).errnum == 0
    _wait_event(inst, running, "clean")
    assert inst.run("getattr", "log-stderr-level").stdout.strip() != "7"


# -- events: only one's own private events -------------------------------------------------------


def _publish(c: RawClient, topic: str, private: bool, tag: int) -> None:
    m = c.rpc("event.publish", {"topic": topic, "flags": FLUX_MSGFLAG_PRIVATE if private else 0,
                                "payload": base64.b64encode(b"{}\0").decode()}, matchtag=tag)
    assert m.errnum == 0


def test_guest_sees_its_own_private_events_only(inst):
    ready_r, ready_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the subscribed guest
        code = 1
        try:
            os.close(ready_r)
            os.close(out_r)
            os.setgroups([])
            os.setgid(GUEST_UID)
            os.setuid(GUEST_UID)
            with RawClient(inst.path, timeout=10) as g:
                assert g.rpc("event.subscribe", {"topic": "acc."}).errnum == 0
                g.send(request("event.publish", {  # its event may come before the answer
                    "topic": "acc.mine", "flags": FLUX_MSGFLAG_PRIVATE,
                    "payload": base64.b64encode(b"{}\0").decode()}, matchtag=2))
                os.write(ready_w, b"x")
                topics = []
                while not topics or topics[-1] != "acc.end":
                    m = g.recv(timeout=10)
                    if m.type == 4:
                        topics.append(m.topic)
            os.write(out_w, json.dumps(topics).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - report, never return into pytest
            os.write(out_w, json.dumps([f"error: {exc!r}"]).encode())
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(out_w)
    try:
        assert os.read(ready_r, 1) == b"x"
        with inst.client() as owner:
            _publish(owner, "acc.owner-private", True, 1)
            assert run_as_guest(lambda: _publish_as(inst.path, "acc.other-private"),
                                uid=OTHER_GUEST) == "ok"
            _publish(owner, "acc.end", False, 2)
        with os.fdopen(out_r) as f:
            topics = json.loads(f.read())
    finally:
        os.close(ready_r)
        _, status = os.waitpid(pid, 0)
    assert topics == ["acc.mine", "acc.end"], topics
    assert status == 0


def _publish_as(path: str, topic: str) -> str:
    with RawClient(path, timeout=10) as c:
        _publish(c, topic, True, 1)
    return "ok"


def test_guest_disconnect_ends_only_its_own_requests(inst):
    """A guest's disconnect notices naming the owner's client (a forged route stack)
    leave the owner's streams alone: they still get their updates."""
    with inst.client() as owner:
        owner.send(request("kvs-watch.lookup", {"key": "acc-watch", "flags": 4 | 8,
                                                "namespace": "primary"}, matchtag=1,
                           flags=FLUX_MSGFLAG_STREAMING))
        owner.send(request("job-list.job-stats", {}, matchtag=2, flags=FLUX_MSGFLAG_STREAMING))
        assert owner.recv(timeout=10).matchtag == 2  # the stats as they are
        clients = owner.rpc("connector-local.stats-get", matchtag=3).payload
        uuids = [c["uuid"] for c in clients["server"]["clients"] if c["pid"] == os.getpid()]
        assert len(uuids) == 1, clients

        def forge() -> int:
            with RawClient(inst.path, timeout=10) as g:
                for tag, topic in enumerate(("kvs-watch.disconnect", "job-list.disconnect",
                                             "job-info.disconnect"), 1):
                    msg = request(topic, {}, matchtag=tag, flags=FLUX_MSGFLAG_NORESPONSE)
                    msg.routes = list(uuids)
                    g.send(msg)
                return g.rpc("connector-local.stats-get", matchtag=9).errnum

        assert run_as_guest(forge) == errno.EPERM  # nor may it learn the uuids
        assert inst.run("kvs", "put", "acc-watch=1").returncode == 0
        assert inst.run("submit", "--urgency=0", "true").returncode == 0
        seen = set()
        while seen != {1, 2}:
            m = owner.recv(timeout=10)
            assert m.errnum == 0, m
            seen.add(m.matchtag)


def test_guest_disconnect_does_not_hide_others_requests_from_a_departing_service(inst):
    """A client's service dies with requests in flight: their senders get an error.  A
    guest's forged disconnect notice naming another sender does not make the broker
    forget that sender's requests (it would then wait forever)."""
    with inst.client() as provider, inst.client() as asker:
        assert provider.rpc("service.add", {"service": "accsvc"}, matchtag=1).errnum == 0
        clients = provider.rpc("connector-local.stats-get", matchtag=2).payload
        mine = [c["uuid"] for c in clients["server"]["clients"] if c["pid"] == os.getpid()]
        assert len(mine) == 2, clients
        asker_uuid = mine[1]  # connected second
        asker.send(request("accsvc.hello", {}, matchtag=7))
        assert provider.recv(timeout=10).topic == "accsvc.hello"

        def forge() -> str:
            with RawClient(inst.path, timeout=10) as g:
                msg = request("accsvc.disconnect", {}, flags=FLUX_MSGFLAG_NORESPONSE)
                msg.routes = [asker_uuid]
                g.send(msg)
                g.rpc("broker.ping", {"seq": 0, "pad": ""}, matchtag=2)  # it has passed
            return "sent"

        assert run_as_guest(forge) == "sent"
        notice = provider.recv(timeout=10)
        assert notice.topic == "accsvc.disconnect" and notice.userid == GUEST_UID
        provider.close()  # the service goes with its provider
        m = asker.recv(timeout=10)
        assert m.matchtag == 7 and m.errnum == errno.ENOSYS, m


# -- [access] private-mode: guests see their own jobs only --------------------------------------


def test_private_mode_hides_others_jobs_from_guests(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "access.toml").write_text("[access]\nallow-guest-user = true\nprivate-mode = true\n")
    os.chmod(tmp_path, 0o755)
    with start_instance(f"config.path={conf}") as pinst:
        with pinst.client() as owner:
            others = _submit(owner, os.getuid(), SPEC, 0, 1)
            mine = _submit(owner, GUEST_UID, SPEC, 0, 2)
            listed = owner.rpc("job-list.list", {"max_entries": 0, "attrs": ["userid"]},
                               matchtag=3).payload["jobs"]
            assert sorted(j["id"] for j in listed) == sorted([others, mine])
            assert owner.rpc("job-list.job-stats", {}, matchtag=4).errnum == 0

        def work() -> dict:
            out = {}
            with RawClient(pinst.path, timeout=10) as g:
                m = g.rpc("job-list.list", {"max_entries": 0, "attrs": ["userid"]}, matchtag=1)
                out["list"] = [j["id"] for j in m.payload["jobs"]]
                for tag, (name, topic, payload) in enumerate([
                        ("list-id others", "job-list.list-id", {"id": others, "attrs": []}),
                        ("list-id own", "job-list.list-id", {"id": mine, "attrs": []}),
                        ("job-stats", "job-list.job-stats", {}),
                        ("job-list stats", "job-list.stats-get", {}),
                        ("getinfo", "job-manager.getinfo", {}),
                        ("job-manager stats", "job-manager.stats-get", {})], 2):
                    out[name] = g.rpc(topic, payload, matchtag=tag).errnum
            return out

        assert run_as_guest(work) == {
            "list": [mine], "list-id others": errno.ENOENT, "list-id own": 0,
            "job-stats": errno.EPERM, "job-list stats": errno.EPERM,
            "getinfo": errno.EPERM, "job-manager stats": errno.EPERM}
