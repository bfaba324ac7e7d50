"""Module processes name themselves in ps: the broker's forked child calls
flux.proctitle.set_proctitle (comm = the module's name, command line
``flux-module NAME``), the broker keeps its own."""

from __future__ import annotations

import os
import sys
import time

import pytest

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc"),
              pytest.mark.timeout(60)]


def _children(ppid: int) -> list[tuple[str, bytes]]:
    """(comm, cmdline) of the processes whose parent is ``ppid``."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                if int(f.read().rsplit(") ", 1)[1].split()[1]) != ppid:
                    continue
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append((comm, f.read().rstrip(b"\0")))
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_module_process_is_named_after_its_module(instance, tmp_path):
    mod = tmp_path / "titled.py"
    mod.write_text("from flux.brokermod import BrokerModule\n"
                   "class M(BrokerModule):\n    pass\n")
    r = instance.run("module", "load", str(mod))
    assert r.returncode == 0, r.stderr
    try:
        mine: list[bytes] = []
        deadline = time.monotonic() + 10
        while not mine and time.monotonic() < deadline:
            mine = [cmd for comm, cmd in _children(instance.proc.pid) if comm == "titled"]
            time.sleep(0.05)
        assert mine == [b"flux-module titled"]
        with open(f"/proc/{instance.proc.pid}/comm") as f:
            assert f.read().strip() != "titled"  # the broker keeps its own
        with open(f"/proc/{instance.proc.pid}/cmdline", "rb") as f:
            assert b"broker" in f.read()
    finally:
        instance.run("module", "remove", "titled")
