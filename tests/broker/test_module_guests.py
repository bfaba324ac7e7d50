"""Python broker modules against a real broker: guests."""

from __future__ import annotations

import errno
import os

import pytest

from conftest import start_instance
from modhelpers import flux_ok, gmod, moddir, module_list, inst  # noqa: F401 (fixtures)

import flux
from guest import GUEST_UID, run_as_guest



def _as_guest(uri: str, topics: list[str]) -> list:
    """As the guest, call each topic; return [(errno or 0, payload)]."""

    def work() -> list:
        h = flux.Flux(uri)
        out = []
        for t in topics:
            try:
                out.append((0, h.rpc(t, {}).get()))
            except OSError as exc:
                out.append((exc.errno, exc.strerror))
        return out

    return run_as_guest(work)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guest_access(moddir):
    with start_instance("access.allow-guest-user=true") as gi:
        flux_ok(gi, "module", "load", str(moddir / "gmod.py"))
        res = _as_guest(gi.uri, ["gmod.owner", "gmod.guest", "gmod.ping", "gmod.stats-get",
                                 "gmod.debug", "gmod.shutdown"])
        assert res[0][0] == errno.EPERM, res
        assert res[1] == [0, {"ok": True, "userid": GUEST_UID}], res
        assert res[2][0] == 0 and res[2][1]["userid"] == GUEST_UID and res[2][1]["rolemask"] == 6
        assert res[3][0] == 0
        assert res[4][0] == errno.EPERM and res[5][0] == errno.EPERM
        assert "gmod" in module_list(gi)  # the guest could not shut it down
        # a guest may not load or remove modules
        res = _as_guest(gi.uri, ["module.remove"])
        assert res[0][0] == errno.EPERM
