"""flux event pub / sub."""

from __future__ import annotations


import pytest

from cmdhelpers import Background, outside_env
from proctree import run_tree

T = 15


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def start_sub(inst, tmp_path, *args):
    """A ``flux event sub ARGS ready.`` that is known to be subscribed."""
    bg = Background(inst, tmp_path, "event", "sub", *args)
    bg.wait_output(lambda s: "ready.go\t" in s,
                   poke=lambda: inst.run("event", "pub", "ready.go", timeout=T), interval=0.2)
    return bg


def events(text):
    return [line for line in text.splitlines() if not line.startswith("ready.")]


def test_pub_sub_shapes(inst, tmp_path):
    with start_sub(inst, tmp_path, "demo.", "ready.") as bg:
        for args in (["demo.x", '{"a":1}'],
                     ["demo.none"],
                     ["demo.split", '{"b":', "2}"],
                     ["-r", "demo.raw", "hello", "world"],
                     ["--raw", "demo.rawbin", "a\tb"],
                     ["-p", "demo.priv", '{"p":true}'],
                     ["other.topic", "{}"],
                     ["demo.last"]):
            r = inst.run("event", "pub", *args, timeout=T)
            assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), args
        bg.wait_output(lambda s: "demo.last\t" in s)
        bg.stop()
    assert events(bg.stdout()) == [
        'demo.x\t{"a":1}',
        "demo.none\t",
        'demo.split\t{"b": 2}',
        "demo.raw\thello world",
        "demo.rawbin\ta.b",  # raw payloads are shown printable
        'demo.priv\t{"p":true}',
        "demo.last\t",
    ]


def test_pub_synchronous(inst, tmp_path):
    with start_sub(inst, tmp_path, "sync.", "ready.") as bg:
        r1 = inst.run("event", "pub", "-s", "sync.a", '{"n":1}', timeout=T)
        r2 = inst.run("event", "pub", "--synchronous", "-p", "-r", "sync.b", "xyz", timeout=T)
        assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr, r2.stderr)
        seq1 = int(r1.stdout.strip().removeprefix("seq="))
        seq2 = int(r2.stdout.strip().removeprefix("seq="))
        # a heartbeat event may be published between the two
        assert r1.stdout.startswith("seq=") and seq2 > seq1
        bg.wait_output(lambda s: "sync.b\t" in s)
        bg.stop()
    assert events(bg.stdout()) == ['sync.a\t{"n":1}', "sync.b\txyz"]


def test_pub_loopback(inst):
    r = inst.run("event", "pub", "-l", "loop.a", '{"x":1}', timeout=T)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = inst.run("event", "pub", "-l", "-s", "-r", "loop.b", "raw", timeout=T)
    assert r.returncode == 0 and r.stdout.startswith("seq=")


def test_sub_count(inst, tmp_path):
    with Background(inst, tmp_path, "event", "sub", "-c", "2", "cnt.") as bg:
        bg.wait_output(lambda s: s.count("\n") >= 2,
                       poke=lambda: inst.run("event", "pub", "cnt.x", '{"k":"v"}', timeout=T),
                       interval=0.2)
        assert bg.wait(timeout=T) == 0
    assert bg.stdout() == 'cnt.x\t{"k":"v"}\n' * 2


def test_sub_all_topics_default(tmp_path):
    # Its own instance without heartbeats: subscribed to every topic with
    # --count=1, a heartbeat.pulse could otherwise be the one event shown.
    from conftest import start_instance

    with start_instance("heartbeat.period=1h") as inst, \
            Background(inst, tmp_path, "event", "sub", "--count=1") as bg:
        bg.wait_output(lambda s: "any.thing\t" in s,
                       poke=lambda: inst.run("event", "pub", "any.thing", timeout=T),
                       interval=0.2)
        assert bg.wait(timeout=T) == 0
    assert bg.stdout() == "any.thing\t\n"


def test_sub_shows_only_owner_events(inst, tmp_path):
    """An event carrying only the USER role is not shown (flux-core's default handler)."""
    with start_sub(inst, tmp_path, "role.", "ready.") as bg:
        r = inst.run("event", "pub", "role.user", "{}", timeout=T,
                     env={"FLUX_HANDLE_ROLEMASK": "2", "FLUX_HANDLE_USERID": "4242"})
        assert r.returncode == 0, r.stderr
        inst.run("event", "pub", "role.owner", timeout=T)
        bg.wait_output(lambda s: "role.owner\t" in s)
        bg.stop()
    assert events(bg.stdout()) == ["role.owner\t"]


def test_pub_errors(inst):
    for payload in ("notjson", "[1,2]", '"str"', "{bad"):
        r = inst.run("event", "pub", "bad.json", payload, timeout=T)
        assert r.returncode == 1, payload
        assert r.stderr == "flux-event: publish failed: payload is not a valid JSON object\n"
    # --raw accepts anything
    assert inst.run("event", "pub", "-r", "ok.raw", "notjson", timeout=T).returncode == 0
    r = inst.run("event", "pub", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("Usage: flux-event pub")
    r = inst.run("event", timeout=T)
    assert r.returncode == 1 and "Usage: flux-event pub" in r.stderr
    r = inst.run("event", "frob", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("flux-event: unknown subcommand 'frob'")
    r = inst.run("event", "sub", "-c", "x", timeout=T)
    assert r.returncode == 1 and "integer" in r.stderr


def test_event_outside_instance(flux_cmd):
    for args in (["event", "pub", "a.b"], ["event", "sub", "-c", "1"]):
        r = run_tree([flux_cmd, *args], env=outside_env(), capture_output=True, text=True,
                     timeout=T)
        assert r.returncode == 1, args
        assert "Unable to connect to Flux" in r.stderr and r.stderr.count("\n") == 1
