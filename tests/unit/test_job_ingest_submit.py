"""job-ingest without a broker: J with mechanism none, and a submission's checks with
flux-core's errno and texts (src/modules/job-ingest/job.c)."""

from __future__ import annotations

import base64
import errno
import json

import pytest

from flux.job.fluid import generator_of, timestamp_of
from flux.services.job_ingest import sign_none
from flux.services.job_ingest.ingest import Ingest, Refused

SPEC = {"version": 1,
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0, "environment": {"A": "1"}}}}

#: the header flux-core writes for userid 0 (seen in a flux-core 0.88 instance's KVS)
FLUX_CORE_HEADER_UID0 = "dmVyc2lvbgBpMQB1c2VyaWQAaTAAbWVjaGFuaXNtAHNub25lAA=="


def test_wrap_matches_flux_core_and_round_trips():
    j = sign_none.wrap(b'{"a":1}', 0)
    assert j.split(".")[0] == FLUX_CORE_HEADER_UID0
    assert j.endswith(".none")
    assert sign_none.unwrap(j) == (b'{"a":1}', 0)
    assert sign_none.unwrap(sign_none.wrap(b"", 1234)) == (b"", 1234)


@pytest.mark.parametrize("j", [
    "", "nodots", FLUX_CORE_HEADER_UID0 + ".e30=",  # no mechanism
    FLUX_CORE_HEADER_UID0 + ".e30=.nonex", FLUX_CORE_HEADER_UID0 + ".!!.none",
    base64.b64encode(b"version\0i1\0userid\0i-1\0mechanism\0snone\0").decode() + ".e30=.none",
    base64.b64encode(b"version\0i1\0userid\0i1\0mechanism\0smunge\0").decode() + ".e30=.none",
    base64.b64encode(b"version\0i1\0userid\0i1\0extra\0x\0").decode() + ".e30=.none",
])
def test_unwrap_refuses_what_flux_core_refuses(j):
    with pytest.raises(OSError) as info:
        sign_none.unwrap(j)
    assert info.value.errno == errno.EINVAL


def request(spec=SPEC, userid=1000, urgency=16, flags=0, signer=None):
    payload = spec if isinstance(spec, bytes) else json.dumps(spec).encode()
    return {"J": sign_none.wrap(payload, userid if signer is None else signer),
            "urgency": urgency, "flags": flags}


def refused(obj, userid=1000, owner=True, ingest=None):
    with pytest.raises(Refused) as info:
        (ingest or Ingest(0, 1000)).decode(None, obj, userid, owner)
    return info.value.errnum, info.value.text


def test_decode_accepts_and_drops_environment_from_stored_jobspec():
    ingest = Ingest(0, 1000, clock_ms=lambda: 5000, clock=lambda: 12.5)
    sub = ingest.decode("req", request(), 1000, True)
    assert (sub.userid, sub.urgency, sub.flags, sub.req) == (1000, 16, 0, "req")
    ingest.number(sub)
    assert generator_of(sub.id) == 0 and timestamp_of(sub.id) == 1  # flux-core starts at 1
    assert sub.t_submit == 12.5
    ops = ingest.kvs_ops([sub])
    key = "job." + ".".join(f"{sub.id:016x}"[i:i + 4] for i in range(0, 16, 4))
    assert [op["key"] for op in ops] == [f"{key}.J", f"{key}.jobspec"]
    stored = json.loads(base64.b64decode(ops[1]["dirent"]["data"]))
    assert "environment" not in stored["attributes"]["system"]
    assert base64.b64decode(ops[0]["dirent"]["data"]).decode() == sub.J
    entry = Ingest.manager_entries([sub])[0]
    assert entry == {"id": sub.id, "userid": 1000, "urgency": 16, "t_submit": 12.5,
                     "flags": 0, "jobspec": sub.jobspec}


def test_ids_increase_and_continue_after_a_restart():
    clock = [0]
    ingest = Ingest(3, 1000, clock_ms=lambda: clock[0])
    a = ingest.decode(None, request(), 1000, True)
    b = ingest.decode(None, request(), 1000, True)
    ingest.number(a)
    ingest.number(b)
    assert b.id > a.id and generator_of(a.id) == 3
    later = Ingest(3, 1000, max_jobid=b.id, clock_ms=lambda: 0)
    c = later.decode(None, request(), 1000, True)
    later.number(c)
    assert timestamp_of(c.id) == timestamp_of(b.id) + 1


@pytest.mark.parametrize("obj,owner,expect", [
    ({"J": 1, "urgency": 16, "flags": 0}, True,
     (errno.EPROTO, "error decoding job request: Protocol error")),
    ({"urgency": 16, "flags": 0}, True,
     (errno.EPROTO, "error decoding job request: Protocol error")),
    (request(flags=1), True, (errno.EPROTO, "invalid job flags")),
    (request(flags=8), False,
     (errno.EPERM, "only the instance owner can submit with FLUX_JOB_NOVALIDATE")),
    (request(urgency=32), True, (errno.EINVAL, "urgency range is [0:31]")),
    (request(urgency=17), False,
     (errno.EINVAL, "only the instance owner can submit with urgency >16")),
    (request(flags=4), False,
     (errno.EINVAL, "only the instance owner can submit with FLUX_JOB_WAITABLE")),
    ({"J": "garbage", "urgency": 16, "flags": 0}, True,
     (errno.EINVAL, "could not unwrap jobspec: Invalid argument")),
    (request(signer=42), True, (errno.EPERM, "signer=42 != requestor=1000")),
    (request(), False, (errno.EPERM, "only instance owner can use sign-type=none")),
])
def test_decode_refusals(obj, owner, expect):
    assert refused(obj, owner=owner) == expect


def test_bad_json_and_invalid_jobspec():
    errnum, text = refused(request(spec=b"{nope"))
    assert errnum == errno.EINVAL and text.startswith("jobspec: invalid JSON: ")
    errnum, text = refused(request(spec={"version": 1}))
    assert errnum == errno.EINVAL and text
    # NOVALIDATE (owner only) skips the schema
    sub = Ingest(0, 1000).decode(None, request(spec={"version": 1}, flags=8), 1000, True)
    assert sub.jobspec == {"version": 1}


def test_root_refused_in_a_multi_user_instance():
    assert refused(request(userid=0), userid=0) == (
        errno.EINVAL, "submission of jobs as user root not supported")
    # an instance owned by root accepts it
    Ingest(0, 0).decode(None, request(userid=0), 0, True)


def test_jobspec_text_as_jansson_reads_and_writes_it():
    errnum, text = refused(request(spec=b'{"version":1,"x":12345678901234567890}'))
    assert (errnum, text) == (errno.EINVAL,
                              "jobspec: invalid JSON: too big integer near '12345678901234567890'")
    spec = json.loads(json.dumps(SPEC))
    spec["attributes"]["system"]["duration"] = 1.1
    ingest = Ingest(0, 1000)
    sub = ingest.decode(None, request(spec=spec), 1000, True)
    ingest.number(sub)
    stored = base64.b64decode(ingest.kvs_ops([sub])[1]["dirent"]["data"]).decode()
    assert '"duration":1.1000000000000001}' in stored  # flux-core's %.17g
