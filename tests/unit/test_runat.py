"""runat in-process with the broker's real loop: command lists run in order,
output and exit codes are logged as flux-core logs them, abort, runat.push."""

from __future__ import annotations

import errno
import os
import signal

import pytest
from routerhelpers import GUEST, error_text, make_router, request

from flux.broker.loop import Loop
from flux.broker.runat import Runat

pytestmark = pytest.mark.timeout(30)


class Env:
    def __init__(self, environ=None):
        self.router, self.peer = make_router()
        self.loop = Loop(spin_us=0)
        self.logs: list[tuple[int, str]] = []
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHELL": "/bin/sh"}
        base.update(environ or {})
        self.environ = base
        self.runat = Runat(self.router, self.loop, lambda sev, text: self.logs.append((sev, text)),
                           self.environ, "local:///nowhere/local-0")
        self.done: list[tuple[str, int]] = []

    def run(self, name, abort_after=None):
        def done(n, rc):
            self.done.append((n, rc))
            self.loop.stop()

        self.runat.start(name, done)
        if abort_after is not None:
            self.loop.call_later(abort_after, lambda: self.runat.abort(name))
        guard = self.loop.call_later(20, self.loop.stop)
        if not self.runat.is_completed(name):
            self.loop.run()
        guard.cancel()
        return self.done[-1]

    def texts(self):
        return [t for _, t in self.logs]

    def close(self):
        self.runat.close()
        self.loop.close()


@pytest.fixture
def env():
    e = Env()
    yield e
    e.close()


def test_pushed_commands_run_last_pushed_first_and_all_run(env):
    env.runat.push("rc1", "echo first")
    env.runat.push("rc1", "echo second; exit 3")
    assert env.runat.is_defined("rc1") and not env.runat.is_defined("rc3")
    assert env.run("rc1") == ("rc1", 3)
    texts = env.texts()
    assert texts[0] == "rc1.0: second"
    assert texts[1].startswith("rc1.0: echo second; exit 3 Exited (rc=3) ")
    assert texts[1].endswith("s")
    assert texts[2] == "rc1.1: first"
    assert texts[3].startswith("rc1.1: echo first Exited (rc=0) ")
    assert env.logs[1][0] == 3 and env.logs[3][0] == 6  # err for a failure, info otherwise
    assert env.runat.is_completed("rc1") and env.runat.exit_code("rc1") == 3


def test_stderr_lines_are_errors_and_partial_lines_are_kept(env):
    env.runat.push("rc3", "printf 'out\\nno newline'; echo bad >&2")
    assert env.run("rc3") == ("rc3", 0)
    assert (6, "rc3.0: out") in env.logs
    assert (6, "rc3.0: no newline") in env.logs
    assert (3, "rc3.0: bad") in env.logs


def test_environment_is_the_brokers_minus_the_blocklist_plus_the_instances():
    e = Env({"FLUX_JOB_ID": "f1", "SLURM_JOB_ID": "9", "KEEP_ME": "yes", "FLUX_URI": "local:///x"})
    try:
        e.runat.push("rc1", 'echo "$KEEP_ME ${FLUX_JOB_ID-unset} ${SLURM_JOB_ID-unset} $FLUX_URI"')
        e.runat.push("rc1", "command -v flux >/dev/null && echo has-flux")
        e.run("rc1")
        assert (6, "rc1.1: yes unset unset local:///nowhere/local-0") in e.logs
        assert (6, "rc1.0: has-flux") in e.logs
        e.environ["KEEP_ME"] = "changed"  # broker.setenv changes what later commands get
        e.runat.push("rc3", 'echo "$KEEP_ME"')
        e.run("rc3")
        assert (6, "rc3.0: changed") in e.logs
    finally:
        e.close()


def test_abort_hangs_up_and_skips_the_rest(env):
    env.runat.push("cleanup", "echo never")
    env.runat.push("cleanup", "sleep 30")
    name, rc = env.run("cleanup", abort_after=0.2)
    assert (name, rc) == ("cleanup", 128 + signal.SIGHUP)
    assert any(t.startswith("cleanup.0: sleep 30 Hangup (rc=129)") for t in env.texts())
    assert not any("never" in t for t in env.texts())


def test_missing_shell_is_127():
    e = Env({"SHELL": "/nonexistent/shell"})
    try:
        e.runat.push("rc1", "true")
        assert e.run("rc1") == ("rc1", 127)
        assert e.texts()[0].startswith("rc1.0: true No such file or directory (rc=127)")
    finally:
        e.close()


def test_push_service(env):
    r, peer = env.router, env.peer
    r.request(request("runat.push", {"name": "cleanup", "commands": ["echo a", "echo b"]}))
    (resp,) = peer.take()
    assert resp.aux1 == 0 and resp.payload_bytes is None
    env.run("cleanup")
    assert [t for t in env.texts() if ": " in t and "Exited" not in t] == ["cleanup.0: b",
                                                                           "cleanup.1: a"]


@pytest.mark.parametrize("payload, errnum, text", [
    ({"name": "rc1"}, errno.EPROTO, None),
    ({"commands": ["true"]}, errno.EPROTO, None),
    ({"name": "rc1", "commands": []}, errno.EPROTO, "commands array is empty"),
    ({"name": "rc1", "commands": "true"}, errno.EPROTO, "commands array is empty"),
    ({"name": "rc1", "commands": ["true", ""]}, errno.EPROTO, "cannot push an empty command line"),
    ({"name": "rc1", "commands": [7]}, errno.EPROTO, "cannot push an empty command line"),
    ({"name": "rc2", "commands": ["true"]}, errno.ENOENT, "this broker runs no 'rc2' commands"),
])
def test_push_errors(env, payload, errnum, text):
    env.router.request(request("runat.push", payload))
    (resp,) = env.peer.take()
    assert resp.aux1 == errnum and error_text(resp) == text
    assert not env.runat.is_defined("rc1")  # nothing half-pushed


def test_push_after_start_and_by_guests_is_refused(env):
    env.runat.push("rc1", "true")
    env.run("rc1")
    env.router.request(request("runat.push", {"name": "rc1", "commands": ["true"]}))
    (resp,) = env.peer.take()
    assert resp.aux1 == errno.EINVAL and error_text(resp) == "rc1 has already started"
    env.router.request(request("runat.push", {"name": "rc3", "commands": ["true"]},
                               rolemask=GUEST, userid=4242))
    assert env.peer.take()[0].aux1 == errno.EPERM
