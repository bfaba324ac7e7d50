"""job-info's service in-process: lookups with flux-core's flags and access rule, and
eventlog watches fed with the responses kvs-watch would send."""

from __future__ import annotations

import base64
import errno
import json

from flux.constants import (
    FLUX_KVS_STREAM,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_MSGFLAG_STREAMING,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from hypothesis import given
from hypothesis import strategies as st

from flux.message import Message, encode_json
from flux.job.kvs import kvs_key
from flux.services.job_info.service import JobInfoService, event_payload
from flux.services.kvs import treeobj

JOBID = 0x4B2000000  # job.0000.0004.b200.0000
EVENTLOG = ('{"timestamp":1.0,"name":"submit","context":{"userid":1000,"urgency":16,'
            '"flags":0,"version":1}}\n'
            '{"timestamp":2.0,"name":"jobspec-update","context":'
            '{"attributes.system.duration":60.0}}\n')
JOBSPEC = '{"resources":[],"tasks":[],"attributes":{"system":{"duration":0}},"version":1}'


class Harness:
    def __init__(self) -> None:
        self.kvs = {kvs_key(JOBID, "eventlog"): EVENTLOG, kvs_key(JOBID, "jobspec"): JOBSPEC,
                    kvs_key(JOBID, "J"): "signed"}
        self.answers: list = []
        self.started: list = []
        self.canceled: list = []
        self.service = JobInfoService(
            respond=lambda m, p: self.answers.append((m, 0, p)),
            respond_error=lambda m, e, t: self.answers.append((m, e, t)),
            from_sender=lambda req, msg: req.route_first == msg.route_first,
            lookup=self.lookup, watch_start=self.start, watch_cancel=self.canceled.append)

    def lookup(self, key: str) -> str:
        if key not in self.kvs:
            raise OSError(errno.ENOENT, "No such file or directory")
        return self.kvs[key]

    def start(self, namespace: str, key: str, flags: int, tag: int) -> None:
        self.started.append((key, flags) if namespace == "primary" else (namespace, key, flags))
        assert tag == len(self.started)

    def request(self, method: str, payload: dict, userid: int = 0, owner: bool = True,
                streaming: bool = False, matchtag: int = 1) -> Message:
        msg = Message()
        msg.topic = f"job-info.{method}"
        msg.payload = payload
        msg.routes = ["client"]
        msg.userid = userid
        msg.rolemask = FLUX_ROLE_OWNER if owner else FLUX_ROLE_USER
        msg.matchtag = matchtag
        if streaming:
            msg.flags |= FLUX_MSGFLAG_STREAMING
        getattr(self.service, method.replace("-", "_"))(msg)
        return msg

    def of(self, msg: Message) -> list:
        """The answers to ``msg``; the entries job-info writes as wire bytes read back."""
        return [(e, json.loads(p[:-1]) if isinstance(p, bytes) else p)
                for m, e, p in self.answers if m is msg]


def test_key_layout() -> None:
    assert kvs_key(JOBID) == "job.0000.0004.b200.0000"


def test_lookup_flags() -> None:
    h = Harness()
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["jobspec", "J"], "flags": 0})) == \
        [(0, {"id": JOBID, "jobspec": JOBSPEC, "J": "signed"})]
    decoded = h.of(h.request("lookup", {"id": JOBID, "keys": ["jobspec"], "flags": 1}))
    assert decoded == [(0, {"id": JOBID, "jobspec": json.loads(JOBSPEC)})]
    current = h.of(h.request("lookup", {"id": JOBID, "keys": ["jobspec"], "flags": 3}))
    assert current[0][1]["jobspec"]["attributes"]["system"]["duration"] == 60.0
    text = h.of(h.request("lookup", {"id": JOBID, "keys": ["jobspec"], "flags": 2}))[0][1]
    assert text["jobspec"].startswith('{"resources": [], "tasks": []')  # jansson's spacing


def test_lookup_errors_and_access() -> None:
    h = Harness()
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["R"], "flags": 0})) == \
        [(errno.ENOENT, "R: key not found")]
    assert h.of(h.request("lookup", {"id": JOBID, "keys": [], "flags": 4})) == \
        [(errno.EPROTO, "lookup request rejected with invalid flag")]
    assert h.of(h.request("lookup", {"id": JOBID, "keys": [1], "flags": 0})) == \
        [(errno.EPROTO, None)]
    assert h.of(h.request("lookup", {"id": 5, "keys": [], "flags": 0}, 1000, False)) == \
        [(errno.ENOENT, "invalid job id")]
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["J"], "flags": 0}, 1001, False)) \
        == [(errno.EPERM, "access is restricted to job/instance owner")]
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["J"], "flags": 0}, 1000, False)) \
        == [(0, {"id": JOBID, "J": "signed"})]


def test_lookup_of_an_unknown_job_is_invalid_job_id_even_for_the_owner() -> None:
    """flux-core's job-info reads the eventlog for every lookup whose job's owner it
    has not seen, so an unknown or purged job is 'invalid job id', not a missing key."""
    h = Harness()
    for keys in (["R"], ["eventlog"], []):
        assert h.of(h.request("lookup", {"id": 5, "keys": keys, "flags": 0})) == \
            [(errno.ENOENT, "invalid job id")]


def test_lookup_remembers_job_owners_as_flux_core_lru() -> None:
    """A job looked up once is judged from its remembered owner: after a purge, a
    lookup says its key is missing, as flux-core 0.88 does."""
    h = Harness()
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["J"], "flags": 0}))[0][0] == 0
    del h.kvs[kvs_key(JOBID, "eventlog")]
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["R"], "flags": 0})) == \
        [(errno.ENOENT, "R: key not found")]
    assert h.of(h.request("lookup", {"id": JOBID, "keys": ["J"], "flags": 0}, 1001, False)) \
        == [(errno.EPERM, "access is restricted to job/instance owner")]


def _val(text: str) -> dict:
    return {"val": {"ver": 1, "type": "val", "data": base64.b64encode(text.encode()).decode()}}


def test_eventlog_watch_ends_after_clean() -> None:
    h = Harness()
    msg = h.request("eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 1},
                    streaming=True)
    assert h.started == [(kvs_key(JOBID, "eventlog"),
                          FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND | FLUX_KVS_WAITCREATE)]
    h.service.watch_response(1, 0, _val(EVENTLOG))
    h.service.watch_response(1, 0, _val('{"timestamp":3.0,"name":"clean"}\n'))
    lines = [p["event"] for e, p in h.of(msg) if not e]
    assert lines == [*EVENTLOG.splitlines(keepends=True), '{"timestamp":3.0,"name":"clean"}\n']
    assert h.of(msg)[-1] == (errno.ENODATA, None)
    assert h.canceled == [1]


def test_eventlog_watch_errors_cancel_disconnect() -> None:
    h = Harness()
    assert h.of(h.request("eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 0})) \
        == [(errno.EPROTO, "eventlog-watch request rejected without streaming RPC flag")]
    assert h.of(h.request("eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 8},
                          streaming=True)) == \
        [(errno.EPROTO, "eventlog-watch request rejected with invalid flag")]
    denied = h.request("eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 0},
                       userid=1001, owner=False, streaming=True)
    assert h.of(denied) == [(errno.EPERM, "access is restricted to job/instance owner")]
    missing = h.request("eventlog-watch", {"id": JOBID, "path": "exec.eventlog", "flags": 0},
                        streaming=True, matchtag=7)
    h.service.watch_response(1, errno.ENOENT, None)
    assert h.of(missing) == [(errno.ENOENT, None)]
    watch = h.request("eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 0},
                      streaming=True, matchtag=8)
    h.request("eventlog-watch-cancel", {"matchtag": 8})
    assert h.of(watch) == [(errno.ENODATA, None)] and h.canceled == [2]
    h.request("eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 0},
              streaming=True, matchtag=9)
    stats = h.request("stats-get", {})
    assert h.of(stats) == [(0, {"lookups": 0, "watchers": 1, "guest_watchers": 0,
                                "update_lookups": 0, "update_watchers": 0})]
    h.request("disconnect", {})
    assert h.canceled == [2, 3] and h.service.watches == {}


def test_guest_waiting_for_an_eventlog_is_checked_when_it_appears() -> None:
    h = Harness()
    msg = h.request("eventlog-watch", {"id": 5, "path": "eventlog", "flags": 1},
                    userid=1001, owner=False, streaming=True)
    assert h.of(msg) == []
    h.service.watch_response(1, 0, _val(EVENTLOG))  # the job of user 1000
    assert h.of(msg) == [(errno.EPERM, "access is restricted to job/instance owner")]
    assert h.canceled == [1]


START = '{"timestamp":3.0,"name":"start"}\n'
OUT1 = '{"timestamp":4.0,"name":"init"}\n'
OUT2 = '{"timestamp":5.0,"name":"done"}\n'


OUT3 = '{"timestamp":6.0,"name":"data","context":{"data":"é ü\\n"}}\n'


def test_guest_copy_sends_only_what_the_namespace_did_not_in_bytes() -> None:
    """Several entries per kvs-watch response, non-ASCII among them: the copy's entries
    already sent from the job's namespace (counted in UTF-8 bytes) are skipped."""
    h = Harness()
    msg = h.request("eventlog-watch", {"id": JOBID, "path": "guest.output", "flags": 0},
                    streaming=True)
    h.service.watch_response(1, 0, _val(EVENTLOG + START))
    h.service.watch_response(2, 0, _val(OUT1 + OUT3 + OUT1[:9]))  # a partial line is left
    h.service.watch_response(2, errno.ENOTSUP, None)
    h.service.watch_response(3, 0, _val(OUT1))  # all of it sent already
    h.service.watch_response(3, 0, _val(OUT3 + OUT2 + OUT3))
    h.service.watch_response(3, errno.ENODATA, None)
    assert h.of(msg) == [(0, {"event": line}) for line in (OUT1, OUT3, OUT2, OUT3)] + \
        [(errno.ENODATA, None)]


def test_blob_bytes_in_process_answer_as_the_decoded_payload() -> None:
    """watch_value with a blob's bytes (kvs-watch in the same process) answers exactly as
    watch_response with the response's payload, invalid UTF-8 and a partial line included."""
    chunks = [(EVENTLOG + START).encode(), (OUT1 + OUT3).encode() + b"\xff\xfe{}\n" + b'{"ti',
              b"", OUT2.encode()]
    answers = []
    for in_process in (False, True):
        h = Harness()
        msg = h.request("eventlog-watch", {"id": JOBID, "path": "guest.output", "flags": 0},
                        streaming=True)
        for tag, data in zip((1, 2, 2, 2), chunks):
            if in_process:
                h.service.watch_value(tag, 0, data)
            else:
                h.service.watch_response(tag, 0, {"val": treeobj.create_val(data)})
        answers.append(h.of(msg))
    assert answers[0] == answers[1]
    assert answers[0] == [(0, {"event": OUT1}), (0, {"event": OUT3}),
                          (0, {"event": "\ufffd\ufffd{}\n"}), (errno.EINVAL,
                                                                   "illegal append of zero bytes")]


@given(st.text())
def test_event_payload_is_encode_json(line: str) -> None:
    assert event_payload(line) == encode_json({"event": line})


def test_guest_path_follows_the_job_from_start_to_its_copy() -> None:
    h = Harness()
    msg = h.request("eventlog-watch", {"id": JOBID, "path": "guest.exec.eventlog",
                                       "flags": 0}, streaming=True)
    # not started: the main eventlog is followed until "start"
    assert h.started == [(kvs_key(JOBID, "eventlog"), FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND)]
    h.service.watch_response(1, 0, _val(EVENTLOG + START))
    assert h.canceled == [1] and h.of(msg) == []
    assert h.started[1] == (f"job-{JOBID}", "exec.eventlog",
                            FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND)
    h.service.watch_response(2, 0, _val(OUT1))
    # the namespace is removed: what was not sent yet comes from its copy
    h.service.watch_response(2, errno.ENOTSUP, None)
    assert h.started[2] == (kvs_key(JOBID, "guest.exec.eventlog"), FLUX_KVS_STREAM)
    h.service.watch_response(3, 0, _val(OUT1 + OUT2))
    h.service.watch_response(3, errno.ENODATA, None)
    assert h.of(msg) == [(0, {"event": OUT1}), (0, {"event": OUT2}), (errno.ENODATA, None)]
    assert h.service.guests == [] and h.service.watches == {}


def test_guest_path_of_a_job_never_started_ends_with_its_eventlog() -> None:
    h = Harness()
    msg = h.request("eventlog-watch", {"id": JOBID, "path": "guest.exec.eventlog",
                                       "flags": 0}, streaming=True)
    h.service.watch_response(1, 0, _val('{"timestamp":3.0,"name":"clean"}\n'))
    assert h.of(msg) == [(errno.ENODATA, None)]


def test_guest_path_released_cancel_and_access() -> None:
    h = Harness()
    h.kvs[kvs_key(JOBID, "eventlog")] += '{"timestamp":9.0,"name":"release",' \
        '"context":{"ranks":"all","final":true}}\n'
    msg = h.request("eventlog-watch", {"id": JOBID, "path": "guest.output", "flags": 2},
                    streaming=True, matchtag=4)
    assert h.started == [(kvs_key(JOBID, "guest.output"), FLUX_KVS_STREAM)]
    h.request("eventlog-watch-cancel", {"matchtag": 4})
    assert h.of(msg) == [(errno.ENODATA, None)] and h.canceled == [1]
    denied = h.request("eventlog-watch", {"id": JOBID, "path": "guest.output", "flags": 0},
                       userid=1001, owner=False, streaming=True)
    assert h.of(denied) == [(errno.EPERM, None)]
