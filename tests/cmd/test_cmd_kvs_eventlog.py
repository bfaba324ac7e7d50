"""flux kvs eventlog append/get/wait-event, and the watching forms of flux kvs get."""

from __future__ import annotations

import json
import time

import pytest
from cmdhelpers import Background

T = 20


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


CONFLICT = ("flux-kvs: Do not specify --unformatted with --human or --color=always\n"
            "flux-kvs: failed to create eventlog formatter\n")


def kvs(inst, *args, env=None):
    r = inst.run("kvs", *args, env=env, timeout=T)
    return r.returncode, r.stdout, r.stderr


def ok(inst, *args, **kw):
    rc, out, err = kvs(inst, *args, **kw)
    assert (rc, err) == (0, ""), (args, out, err)
    return out


def test_append_and_get(inst):
    ok(inst, "eventlog", "append", "-t", "1700000000.5", "ev.a", "submit", '{"urgency":16,',
       '"note":"x y"}')
    ok(inst, "eventlog", "append", "--timestamp=1700000001.25", "ev.a", "start")
    before = time.time()
    ok(inst, "eventlog", "append", "ev.a", "finish", '{"status":0}')
    raw = ok(inst, "get", "ev.a")
    lines = raw.splitlines()
    assert lines[:2] == [
        '{"timestamp":1700000000.5,"name":"submit","context":{"urgency":16,"note":"x y"}}',
        '{"timestamp":1700000001.25,"name":"start"}']
    last = json.loads(lines[2])
    assert last["name"] == "finish" and before - 1 <= last["timestamp"] <= time.time() + 1
    assert raw.endswith("}\n\n")  # the log ends in a newline, get adds one
    text = ok(inst, "eventlog", "get", "ev.a")
    assert text.splitlines()[:2] == ['1700000000.500000 submit urgency=16 note="x y"',
                                     "1700000001.250000 start"]
    assert text.splitlines()[2].endswith(" finish status=0")
    assert ok(inst, "eventlog", "get", "-u", "ev.a") == raw[:-1]
    human = ok(inst, "eventlog", "get", "-H", "ev.a", env={"TZ": "UTC"}).splitlines()
    assert human[:2] == ["[Nov14 22:13] submit urgency=16 note=\"x y\"", "[  +0.750000] start"]
    colored = ok(inst, "eventlog", "get", "-L", "ev.a")
    assert colored.startswith("\x1b[32m1700000000.500000\x1b[0m \x1b[33msubmit\x1b[0m")


@pytest.mark.parametrize("args, err", [
    (["append", "ev.b", "name", "notjson"], "flux-kvs: eventlog_entry_create: Invalid argument\n"),
    (["append", "ev.b", "name", "[1]"], "flux-kvs: eventlog_entry_create: Invalid argument\n"),
    (["append", "ev.b", ""], "flux-kvs: eventlog_entry_create: Invalid argument\n"),
    (["append", "-t", "-1", "ev.b", "x"], "flux-kvs: eventlog_entry_create: Invalid argument\n"),
    (["append", "-t", "soon", "ev.b", "x"],
     "flux-kvs eventlog append: append: Option 'timestamp' requires a floating point argument\n"),
    (["append", "", "x"], "flux-kvs: flux_kvs_txn_put: Invalid argument\n"),
    (["append", "-N", "nosuchns", "ev.b", "x"], "flux-kvs: flux_kvs_commit: Operation not supported\n"),
    (["get", "ev.nosuch"], "flux-kvs: flux_kvs_lookup_get: No such file or directory\n"),
    (["get", ""], "flux-kvs: flux_kvs_lookup: Invalid argument\n"),
    (["get", "ev.notlog"], "flux-kvs: cannot decode improperly formatted eventlog\n"),
    (["get", "ev.emptyval"], "flux-kvs: cannot decode improperly formatted eventlog\n"),
    (["get", "-u", "-H", "ev.a"], CONFLICT),
    (["get", "-u", "--color=always", "ev.a"], CONFLICT),
])
def test_errors(inst, args, err):
    ok(inst, "put", "ev.notlog=not an eventlog", "ev.emptyval=")
    assert kvs(inst, "eventlog", *args) == (1, "", err)


def test_color_errors_have_no_newline(inst):
    assert kvs(inst, "eventlog", "get", "--color=blue", "ev.a") == \
        (1, "", "flux-kvs eventlog get: Invalid argument to --color: 'blue'")


def test_usage(inst):
    rc, out, err = kvs(inst, "eventlog")
    assert (rc, out) == (1, "")
    assert err.startswith("flux-kvs eventlog: missing subcommand\n"
                          "Usage: flux-kvs eventlog append [-N ns] [-t SECONDS] key name [context ...]\n")
    rc, out, err = kvs(inst, "eventlog", "get", "a", "b")
    assert (rc, out) == (1, "") and err.startswith("Usage: flux-kvs eventlog get ")


# -- through kvs-watch: WATCH, WAITCREATE, STREAM ------------------------------------------

def test_wait_event(inst):
    ok(inst, "eventlog", "append", "-t", "10", "we.log", "a")
    ok(inst, "eventlog", "append", "-t", "11", "we.log", "b", '{"k":"v"}')
    ok(inst, "eventlog", "append", "-t", "12", "we.log", "c")
    assert ok(inst, "eventlog", "wait-event", "we.log", "b") == '11.000000 b k="v"\n'
    assert ok(inst, "eventlog", "wait-event", "-q", "we.log", "b") == ""
    assert ok(inst, "eventlog", "wait-event", "-v", "we.log", "c") == \
        '10.000000 a\n11.000000 b k="v"\n12.000000 c\n'
    assert ok(inst, "eventlog", "wait-event", "-u", "we.log", "a") == '{"timestamp":10.0,"name":"a"}\n'
    assert kvs(inst, "eventlog", "wait-event", "-t", "0.3", "we.log", "zzz") == \
        (1, "", "flux-kvs: wait-event timeout on event 'zzz'\n")
    assert kvs(inst, "eventlog", "wait-event", "we.nosuch", "a") == \
        (1, "", "flux-kvs: eventlog path we.nosuch not found\n")


def test_wait_event_follows_appends(inst, tmp_path):
    with Background(inst, tmp_path, "kvs", "eventlog", "wait-event", "-W", "-v", "wf.log",
                    "done") as bg:
        time.sleep(0.3)
        ok(inst, "eventlog", "append", "-t", "1", "wf.log", "first")
        ok(inst, "eventlog", "append", "-t", "2", "wf.log", "done")
        assert bg.wait(T) == 0
    assert bg.stdout() == "1.000000 first\n2.000000 done\n"


def test_eventlog_get_watch_count(inst, tmp_path):
    ok(inst, "eventlog", "append", "-t", "1", "gw.log", "one")
    with Background(inst, tmp_path, "kvs", "eventlog", "get", "-w", "-c", "3", "gw.log") as bg:
        bg.wait_output(lambda s: "one" in s)
        ok(inst, "eventlog", "append", "-t", "2", "gw.log", "two")
        ok(inst, "eventlog", "append", "-t", "3", "gw.log", "three")
        assert bg.wait(T) == 0
    assert bg.stdout() == "1.000000 one\n2.000000 two\n3.000000 three\n"


def test_get_watch_count_and_waitcreate(inst, tmp_path):
    with Background(inst, tmp_path, "kvs", "get", "-W", "-w", "-c", "2", "gwc.k") as bg:
        time.sleep(0.3)
        ok(inst, "put", "gwc.k=1")
        bg.wait_output(lambda s: s == "1\n")
        ok(inst, "put", "gwc.k=2")
        assert bg.wait(T) == 0
    assert bg.stdout() == "1\n2\n"
    assert ok(inst, "get", "--waitcreate", "gwc.k") == "2\n"


def test_get_stream(inst):
    ok(inst, "put", "st.k=streamed")
    assert ok(inst, "get", "-S", "st.k") == "streamed\n"
    assert ok(inst, "eventlog", "get", "-S", "ev.a").startswith("1700000000.500000 submit")


def test_get_watch_append_and_uniq(inst, tmp_path):
    ok(inst, "put", "wa.k=1", "wu.k=1")
    with Background(inst, tmp_path, "kvs", "get", "-w", "-A", "-c", "3", "wa.k") as bg:
        bg.wait_output(lambda s: s == "1\n")
        ok(inst, "put", "-A", "wa.k=2")
        ok(inst, "put", "-A", "wa.k=3")
        assert bg.wait(T) == 0
    assert bg.stdout() == "1\n2\n3\n"  # only what was appended
    with Background(inst, tmp_path, "kvs", "get", "-w", "-u", "-c", "2", "wu.k") as bg:
        bg.wait_output(lambda s: s == "1\n")
        ok(inst, "put", "wu.k=1")  # the same value: not shown
        ok(inst, "put", "wu.k=2")
        assert bg.wait(T) == 0
    assert bg.stdout() == "1\n2\n"


def test_get_watch_reports_a_removed_key(inst, tmp_path):
    ok(inst, "put", "wr.k=1")
    with Background(inst, tmp_path, "kvs", "get", "-w", "wr.k") as bg:
        bg.wait_output(lambda s: s == "1\n")
        ok(inst, "unlink", "wr.k")
        assert bg.wait(T) == 1
    assert bg.stderr() == "flux-kvs: wr.k: No such file or directory\n"
