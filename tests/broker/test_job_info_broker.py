"""job-info inside a real broker: a job's keys written to the KVS by hand (RFC 16's
layout), read with job-info.lookup and followed with job-info.eventlog-watch."""

from __future__ import annotations

import errno
import json

import pytest
from conftest import start_instance

import flux
from flux.constants import FLUX_RPC_STREAMING

JOBID = 0x4B2000000
DIR = "job.0000.0004.b200.0000"
SUBMIT = '{"userid":0,"urgency":16,"flags":0,"version":1}'


@pytest.fixture(scope="module")
def inst():
    with start_instance() as i:
        for args in (("kvs", "put", f"{DIR}.jobspec={json.dumps({'version': 1})}"),
                     ("kvs", "eventlog", "append", f"{DIR}.eventlog", "submit", SUBMIT)):
            r = i.run(*args)
            assert r.returncode == 0, r.stderr
        yield i


def test_lookup(inst) -> None:
    h = flux.Flux(inst.uri)
    got = h.rpc("job-info.lookup", {"id": JOBID, "keys": ["jobspec"], "flags": 1}).get()
    assert got == {"id": JOBID, "jobspec": {"version": 1}}
    with pytest.raises(OSError) as exc:
        h.rpc("job-info.lookup", {"id": JOBID, "keys": ["R"], "flags": 0}).get()
    assert exc.value.errno == errno.ENOENT


def test_eventlog_watch_follows_appends_until_clean(inst) -> None:
    h = flux.Flux(inst.uri)
    f = h.rpc("job-info.eventlog-watch", {"id": JOBID, "path": "eventlog", "flags": 0},
              flags=FLUX_RPC_STREAMING)
    assert json.loads(f.get()["event"])["name"] == "submit"
    f.reset()
    for name in ("validate", "clean"):
        r = inst.run("kvs", "eventlog", "append", f"{DIR}.eventlog", name)
        assert r.returncode == 0, r.stderr
    names = []
    with pytest.raises(OSError) as exc:
        while True:
            names.append(json.loads(f.get()["event"])["name"])
            f.reset()
    assert names == ["validate", "clean"] and exc.value.errno == errno.ENODATA


def test_guest_path_from_the_job_namespace_then_its_copy(inst) -> None:
    h = flux.Flux(inst.uri)
    # a second job, started: its guest namespace exists
    other, other_dir = JOBID + 1, "job.0000.0004.b200.0001"
    for args in (("kvs", "eventlog", "append", f"{other_dir}.eventlog", "submit", SUBMIT),
                 ("kvs", "eventlog", "append", f"{other_dir}.eventlog", "start"),
                 ("kvs", "namespace", "create", f"job-{other}"),
                 ("kvs", "eventlog", "append", f"--namespace=job-{other}", "exec.eventlog",
                  "init")):
        r = inst.run(*args)
        assert r.returncode == 0, r.stderr
    f = h.rpc("job-info.eventlog-watch", {"id": other, "path": "guest.exec.eventlog",
                                          "flags": 0}, flags=FLUX_RPC_STREAMING)
    first = f.get()["event"]
    assert json.loads(first)["name"] == "init"
    f.reset()
    r = inst.run("kvs", "put", "--raw", f"{other_dir}.guest.exec.eventlog=-",
                 input=first + '{"timestamp":9.0,"name":"done"}\n')
    assert r.returncode == 0, r.stderr
    r = inst.run("kvs", "namespace", "remove", f"job-{other}")
    assert r.returncode == 0, r.stderr
    assert json.loads(f.get()["event"])["name"] == "done"  # only what was not sent yet
    f.reset()
    with pytest.raises(OSError) as exc:
        f.get()
    assert exc.value.errno == errno.ENODATA
