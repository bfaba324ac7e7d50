"""``flux module trace``: a module's messages as flux-core prints them (its
t3401-module-trace.t cases: ping request/response, failing RPC, filters)."""

from __future__ import annotations

import re
import textwrap

import pytest
from cmdhelpers import Background

pytestmark = pytest.mark.timeout(60)

TRACED = textwrap.dedent('''
    import errno
    from flux.brokermod import BrokerModule, request_handler

    class Traced(BrokerModule):
        @request_handler("fail")
        def fail(self, msg):
            self.handle.respond_error(msg, errno.ENOENT, "no such thing")
''')
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"


@pytest.fixture
def traced(shared_instance, tmp_path):
    path = tmp_path / "traced.py"
    path.write_text(TRACED)
    r = shared_instance.run("module", "load", str(path))
    assert r.returncode == 0, r.stderr
    yield shared_instance
    shared_instance.run("module", "remove", "traced")


def test_bad_arguments_fail(shared_instance):
    assert shared_instance.run("module", "trace", "--not-an-arg").returncode == 1
    r = shared_instance.run("module", "trace", "-t", "foo,bar")
    assert r.returncode == 1 and "valid types: request, response, event, control" in r.stderr
    r = shared_instance.run("module", "trace", "--delta")
    assert r.returncode == 1 and "--delta can only be used with --human" in r.stderr


def _ping_pair(text: str) -> list[str]:
    """The first traced ping request and the response after it ([] until both are shown).

    A ping already inside the module when the trace starts shows only its response,
    so the pair is looked for from the first request on."""
    lines = [line for line in text.splitlines() if "traced.ping" in line]
    first = next((i for i, line in enumerate(lines) if " rx > " in line), None)
    if first is None:
        return []
    after = [line for line in lines[first + 1:] if " tx < " in line]
    return [lines[first], after[0]] if after else []


def test_ping_request_and_response_are_traced(traced, tmp_path):
    inst = traced
    with Background(inst, tmp_path, "module", "trace", "traced") as bg:
        out = bg.wait_output(lambda t: bool(_ping_pair(t)), timeout=30,
                             poke=lambda: inst.run("ping", "-c", "1", "traced"))
        bg.stop()
    request, response = _ping_pair(out)
    assert re.fullmatch(rf"{STAMP} traced rx > traced\.ping \[\d+\]", request), out
    assert re.fullmatch(rf"{STAMP} traced tx < traced\.ping \[\d+\] success", response), out


def test_full_shows_payloads_and_error_text(traced, tmp_path):
    inst = traced
    with Background(inst, tmp_path, "module", "trace", "--full", "-t", "response",
                    "--topic=traced.fail") as bg:
        out = bg.wait_output(lambda t: "ENOENT" in t,
                             poke=lambda: inst.run("python", "-c",
                                                   "import flux\ntry:\n flux.Flux().rpc("
                                                   "'traced.fail', {}).get()\nexcept OSError:\n"
                                                   " pass"))
        bg.stop()
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if "traced.fail" in line)
    assert re.fullmatch(rf"{STAMP} traced tx < traced\.fail \[0\] ENOENT", lines[i])
    assert lines[i + 1] == "no such thing"
    assert not any(" > " in line for line in lines)  # --type=response


def test_other_modules_are_not_shown(traced, tmp_path):
    inst = traced
    with Background(inst, tmp_path, "module", "trace", "--human", "nosuchmodule") as bg:
        inst.run("ping", "-c", "2", "traced")
        # a ping already inside the module when the trace starts shows only its
        # response: wait for a request line, not any line naming traced.ping
        rx = re.compile(r"^(\[\w{3}\d\d \d\d:\d\d\]|\[ *\+\d+\.\d{6}\])  traced rx > "
                        r"traced\.ping", re.M)
        with Background(inst, tmp_path, "module", "trace", "--human", "--color=never") as all_:
            text = all_.wait_output(lambda t: bool(rx.search(t)), timeout=30,
                                    poke=lambda: inst.run("ping", "-c", "1", "traced"))
            all_.stop()
        bg.stop()
        assert bg.stdout() == ""
    assert rx.search(text), text
