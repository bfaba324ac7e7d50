"""Python broker modules against a real broker: runtime failures."""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest

from modhelpers import failures as _failures, dmesg, gmod, handle, inst, module_list, wait_for, wait_gone, moddir  # noqa: F401 (fixtures)


# -- runtime failures --------------------------------------------------------------------------------


def _runtime_failure(inst, pid, before):
    assert wait_for(lambda: "gmod" not in module_list(inst))
    assert wait_gone(pid)
    log = dmesg(inst)
    assert log.count("broker.crit[0]: gmod module runtime failure") == before + 1
    assert inst.proc.poll() is None
    assert handle(inst).rpc("broker.ping", {}).get()["rank"] == 0  # broker alive
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("gmod.info").get()
    assert exc.value.errno == errno.ENOSYS  # services released


def test_runtime_stop_error(inst, gmod):
    before = _failures(inst)
    handle(inst).rpc("gmod.fail").get()
    _runtime_failure(inst, gmod, before)


def test_runtime_exception_in_handler(inst, gmod):
    before = _failures(inst)
    with pytest.raises(OSError):
        handle(inst).rpc("gmod.raise").get()
    _runtime_failure(inst, gmod, before)
    assert "RuntimeError: handler exploded" in dmesg(inst)


def test_runtime_os_exit_fails_inflight_requests(inst, gmod):
    before = _failures(inst)
    h = handle(inst)
    held = [h.rpc("gmod.hold") for _ in range(3)]
    h.rpc("gmod.info").get()  # the holds were delivered
    t0 = time.monotonic()
    with pytest.raises(OSError) as exc:
        h.rpc("gmod.exit").get()
    assert exc.value.errno in (errno.ECONNRESET, errno.ENOSYS)
    for f in held:
        with pytest.raises(OSError) as exc:
            f.wait_for(5).get()
        assert exc.value.errno in (errno.ECONNRESET, errno.ENOSYS)
    assert time.monotonic() - t0 < 3
    _runtime_failure(inst, gmod, before)
    assert "module process exited with status 3" in dmesg(inst)


def test_runtime_sigkill_fails_inflight_requests(inst, gmod):
    before = _failures(inst)
    h = handle(inst)
    f = h.rpc("gmod.block")
    time.sleep(0.1)
    os.kill(gmod, signal.SIGKILL)
    with pytest.raises(OSError) as exc:
        f.wait_for(5).get()
    assert exc.value.errno == errno.ECONNRESET
    _runtime_failure(inst, gmod, before)
    assert "killed by signal 9" in dmesg(inst)


def test_normal_stop_is_not_a_failure(inst, gmod):
    before = _failures(inst)
    handle(inst).rpc("gmod.stop").get()
    assert wait_for(lambda: "gmod" not in module_list(inst))
    assert wait_gone(gmod)
    assert _failures(inst) == before
