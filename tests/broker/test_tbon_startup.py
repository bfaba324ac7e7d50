"""Start-up of many brokers: what a faster start-up may reorder.

- rank 0's resource service keeps the ``resource.topo-reduce`` reports that come
  before it starts (a busy first pass of rank 0's loop can answer hellos and read
  the ranks' reports before its deferred start runs; dropping them held the
  quorum forever);
- ``flux start --test-size`` brokers are forked from a parent that imported
  every module a broker needs: no broker imports asyncio (pyzmq's monitor
  helper did) nor any module after the fork;
- ``flux start`` turns the garbage collector off for its imports, and back on
  however it ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import pytest

from conftest import base_env, short_tmpdir

pytest.importorskip("zmq")


def test_reports_before_resource_start_are_kept():
    from flux.broker.broker import Broker
    from flux.message import Message, encode_json
    from flux.services.resource.reduce import topo_report

    rundir = os.path.join(short_tmpdir(), "run")
    b = Broker({"rundir": rundir})
    try:
        res = b.resource
        res.size, res.hosts = 2, ["h0", "h1"]  # rank 0 of two: R waits for rank 1
        msg = Message()
        msg.topic = "resource.topo-reduce"
        msg.payload_bytes = encode_json(topo_report(1, {0, 1}, "h1"))
        res._topo_reduce(msg)  # before start(), as a busy first loop pass delivers it
        opened: list[bool] = []
        res.start()
        res.gate(lambda: opened.append(True))
        assert res.ready and opened == [True]
        assert sorted(res.service.ranks) == [0, 1] and res.service.ranks[1] == {0, 1}
    finally:
        b.cleanup()
        shutil.rmtree(os.path.dirname(rundir), ignore_errors=True)


_AFTER_FORK = r'''
import os, sys
import flux.cmd.broker as cmd
out = sys.argv[1]
real = cmd.main
def main(argv):
    before = set(sys.modules)
    try:
        return real(argv)
    finally:
        with open(os.path.join(out, os.environ["PMI_RANK"]), "w") as f:
            f.write("\n".join(sorted(set(sys.modules) - before)))
cmd.main = main
from flux.cmd.main import main as flux_main
sys.exit(flux_main(["start", "--test-size=3", "true"]))
'''


def test_forked_brokers_import_nothing():
    """What a broker imports after the fork is imported once per broker: the
    launcher's preload must cover every rank's modules (and pyzmq's asyncio-based
    monitor helper must stay out)."""
    out = short_tmpdir()
    try:
        env = base_env()
        env.pop("FLUX_START_EXEC", None)
        r = subprocess.run([sys.executable, "-c", _AFTER_FORK, out], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        for rank in ("0", "1", "2"):
            with open(os.path.join(out, rank)) as f:
                imported = f.read().split()
            assert imported == [], f"rank {rank} imported {imported}"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_flux_start_turns_the_collector_back_on_after_an_error():
    """flux start turns garbage collection off for its imports; a start that fails
    (here: a bad option) must not leave it off in the calling process."""
    import gc

    from flux.cmd import start

    assert gc.isenabled()
    with pytest.raises(SystemExit):
        start.main(["--test-size=0", "true"])
    assert gc.isenabled()
