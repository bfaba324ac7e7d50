"""Every endpoint of ``flux dashboard`` over real HTTP, against a real instance."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from dashhelpers import dash, dash_instance  # noqa: F401  (fixtures)

# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/overview", "/api/jobs",
                                  "/api/events", "/api/kvs?key=.", "/nosuch"])
def test_no_token_or_a_wrong_one_gets_an_empty_403(dash, path):
    for token in (None, "wrong", dash.token[:-1], ""):
        status, _, body = dash.request(path, token=token)
        assert (status, body) == (403, b""), (path, token)
    status, _, body = dash.request(path, token=None, headers={"Cookie": "flux_dashboard_token=x"})
    assert (status, body) == (403, b"")


def test_the_url_token_sets_a_cookie_that_is_then_enough(dash):
    status, headers, body = dash.request("/", token=dash.token)
    assert status == 200 and b"flux dashboard" in body
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"flux_dashboard_token={dash.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, _, body = dash.request("/api/config", token=None,
                                   headers={"Cookie": f"flux_dashboard_token={dash.token}"})
    assert status == 200 and json.loads(body)["actions"] == ["cancel"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    # an event stream opened with the URL's token sets the cookie too
    with urllib.request.urlopen(f"{dash.base}/api/events?token={dash.token}", timeout=15) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Set-Cookie"].startswith(f"flux_dashboard_token={dash.token};")
        assert resp.headers["Referrer-Policy"] == "no-referrer"


def test_static_files_and_nothing_else(dash):
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css"),
                       ("charts.js", "text/javascript")):
        status, headers, body = dash.request(f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
    for name in ("README.md", "..%2Fserver.py", "nosuch.js", "LICENSE"):
        assert dash.request(f"/static/{name}")[0] == 404


# -- read-only views ------------------------------------------------------------------------------


def test_overview(dash):
    o = dash.json("/api/overview")
    assert o["size"] == 1 and o["state"] == "run" and o["uptime"] > 0
    assert o["tree"] == {"rank": 0, "size": 1, "children": []}
    (rank0,) = o["ranks"]
    assert rank0["rank"] == 0 and rank0["status"] == "full" and rank0["host"]
    assert len(rank0["load"]) == 3


def test_modules_and_per_service_requests(dash, dash_instance):
    m = dash.json("/api/modules?rank=0")
    assert m["rank"] == 0 and m["modules"] == []
    before = m["services"].get("kvs", 0)
    dash_instance.run("kvs", "put", "dash.counted=1", check=True)
    after = dash.json("/api/modules?rank=0")["services"]["kvs"]
    assert after > before
    status, _, body = dash.request("/api/modules?rank=1")
    assert (status, json.loads(body)) == (404, {"errno": 2, "error": "no rank 1 in an "
                                                                     "instance of size 1"})
    status, _, body = dash.request("/api/modules?rank=x")
    assert (status, json.loads(body)) == (400, {"errno": 22, "error": "rank must be an integer"})


def test_modules_lists_a_loaded_module_with_its_message_counts(dash, dash_instance, tmp_path):
    mod = tmp_path / "dashmod.py"
    mod.write_text("from flux.brokermod import BrokerModule\n"
                   "class Mod(BrokerModule):\n    pass\n")
    dash_instance.run("module", "load", str(mod), check=True)
    try:
        mods = dash.json("/api/modules?rank=0")["modules"]
        (entry,) = [m for m in mods if m["name"] == "dashmod"]
        assert entry["state"] == "running" and entry["pid"] > 0
        assert entry["stats"]["rx"]["request"] >= 1  # our own stats-get
    finally:
        dash_instance.run("module", "remove", "dashmod", check=True)


def test_dmesg_filtered_by_level_and_subsystem(dash, dash_instance):
    dash_instance.run("logger", "--appname=dashtest", "--severity=warning", "api-line-1",
                      check=True)
    recs = dash.wait_json("/api/dmesg?subsystem=dashtest",
                          lambda rs: any(r["message"] == "api-line-1" for r in rs))
    assert all(r["subsystem"] == "dashtest" for r in recs)
    rec = recs[-1]
    assert rec["level"] == "warning" and rec["severity"] == 4 and rec["rank"] == "0"
    assert not [r for r in dash.json("/api/dmesg?level=err") if r["message"] == "api-line-1"]
    assert [r for r in dash.json("/api/dmesg?level=warning") if r["message"] == "api-line-1"]
    assert dash.request("/api/dmesg?level=loud")[0] == 400


def test_kvs_directories_values_and_eventlogs(dash, dash_instance):
    dash_instance.run("kvs", "put", "dk.a.json={\"x\": [1, 2]}", "dk.a.text=hello",
                      check=True)
    dash_instance.run("kvs", "eventlog", "append", "dk.log", "started", '{"n":1}', check=True)
    assert dash.json("/api/kvs?key=dk") == {
        "key": "dk", "type": "dir",
        "entries": [{"name": "a", "type": "dir"}, {"name": "log", "type": "value"}]}
    assert dash.json("/api/kvs?key=dk.a.json") == {"key": "dk.a.json", "type": "value",
                                                     "format": "json", "value": {"x": [1, 2]}}
    assert dash.json("/api/kvs?key=dk.a.text")["value"] == "hello"
    log = dash.json("/api/kvs?key=dk.log")
    assert log["format"] == "eventlog"
    assert [(e["name"], e["context"]) for e in log["value"]] == [("started", {"n": 1})]
    status, _, body = dash.request("/api/kvs?key=dk.nosuch")
    assert status == 404 and json.loads(body)["errno"] == 2
    status, _, body = dash.request("/api/kvs?key=dk&namespace=nosuch")
    assert status == 404 and json.loads(body)["errno"] == 95  # ENOTSUP, as flux kvs says
    assert {"dk", "resource"} <= {e["name"] for e in dash.json("/api/kvs?key=.")["entries"]}


def _sse(dash, path, want, timeout=20.0):
    """Read server-sent events from ``path`` until ``want(events)``; the events read."""
    req = urllib.request.Request(dash.base + path, headers={"X-Dashboard-Token": dash.token})
    events = []
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        name = None
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if want(events):
                    return events
            if time.monotonic() > deadline:
                break
    raise AssertionError(f"{path}: not seen in {timeout}s: {[e[0] for e in events]}")


def test_kvs_follow_streams_each_change(dash, dash_instance):
    import threading

    def put_later():
        time.sleep(1.0)
        dash_instance.run("kvs", "put", "dash.follow=2", check=True)

    dash_instance.run("kvs", "put", "dash.follow=1", check=True)
    t = threading.Thread(target=put_later)
    t.start()
    try:
        events = _sse(dash, "/api/kvs/follow?key=dash.follow",
                      lambda evs: [d["value"] for _, d in evs] == [1, 2])
    finally:
        t.join()
    assert {name for name, _ in events} == {"value"}
    assert dash.request("/api/kvs/follow?key=")[0] == 400


def test_events_stream_starts_with_every_view(dash):
    events = _sse(dash, "/api/events",
                  lambda evs: {"overview", "jobs", "modules", "history", "dmesg"}
                  <= {n for n, _ in evs})
    views = dict(events)
    assert views["overview"]["size"] == 1 and isinstance(views["jobs"], list)


def test_history_has_chart_samples(dash):
    samples = dash.wait_json("/api/history", lambda s: len(s) >= 2)
    s = samples[-1]
    assert set(s) == {"t", "messages", "services", "submitted", "started", "finished"}
    assert s["messages"] > 0  # the dashboard's own polling is traffic


def test_jobs_list_detail_and_chart_counts(dash, dash_instance):
    jobid = dash_instance.run("submit", "--job-name=dashjob", "echo", "hi-from-job",
                              check=True).stdout.strip()
    dash_instance.run("job", "wait-event", jobid, "clean", check=True)
    jobs = dash.wait_json("/api/jobs", lambda js: any(
        j["f58"] == jobid and j["state_name"] == "INACTIVE" for j in js))
    (job,) = [j for j in jobs if j["f58"] == jobid]
    assert job["name"] == "dashjob" and job["result_name"] == "COMPLETED"
    detail = dash.json(f"/api/jobs/{jobid}")
    assert [e["name"] for e in detail["eventlog"]][:2] == ["submit", "validate"]
    assert detail["eventlog"][-1]["name"] == "clean"
    assert detail["jobspec"]["tasks"][0]["command"] == ["echo", "hi-from-job"]
    assert "R_lite" in detail["R"]["execution"]
    assert "".join(line["text"] for line in detail["output"]) == "hi-from-job\n"
    assert dash.wait_json("/api/history", lambda ss: any(s["finished"] > 0 for s in ss))
    assert dash.request("/api/jobs/notajob")[0] == 400
    assert dash.request("/api/jobs/123456789")[0] == 404


# -- actions ------------------------------------------------------------------------------------


def test_cancel_is_enabled_and_needs_its_header(dash, dash_instance):
    jobid = dash_instance.run("submit", "sleep", "300", check=True).stdout.strip()
    dash_instance.run("job", "wait-event", jobid, "start", check=True)
    status, _, _ = dash.request(f"/api/jobs/{jobid}/cancel", method="POST")
    assert status == 403  # no X-Dashboard-Action: a cross-site form cannot send one
    status, _, body = dash.request(f"/api/jobs/{jobid}/cancel", method="POST",
                                   headers={"X-Dashboard-Action": "cancel"})
    assert status == 200, body
    dash_instance.run("job", "wait-event", "-t", "20", jobid, "clean", check=True)
    jobs = dash.wait_json("/api/jobs", lambda js: any(
        j["f58"] == jobid and j["state_name"] == "INACTIVE" for j in js))
    assert [j for j in jobs if j["f58"] == jobid][0]["result_name"] == "CANCELED"
    assert dash.request(f"/api/jobs/{jobid}/cancel", token=None, method="POST",
                        headers={"X-Dashboard-Action": "cancel"})[0] == 403


def test_actions_not_enabled_are_refused(dash):
    status, _, body = dash.request("/api/modules/0/kvs/remove", method="POST",
                                   headers={"X-Dashboard-Action": "module-remove"})
    assert status == 403 and b"not enabled" in body
    assert dash.request("/api/overview", method="POST")[0] == 405
