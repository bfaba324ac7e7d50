"""job-manager administration with raw RPCs: who may update, purge and run queues
(flux-core 0.88's roles and texts), and the immutable flag an owner's update sets."""

from __future__ import annotations

import errno
import os
import time

import pytest
from conftest import start_instance
from guest import GUEST_UID, run_as_guest

SPEC = {"version": 1,
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0}}}


def _inject(c, jobid: int, userid: int, tag: int) -> None:
    """A held job of ``userid``, handed to the job-manager as job-ingest would."""
    m = c.rpc("job-manager.submit", {"jobs": [{
        "id": jobid, "userid": userid, "urgency": 0, "flags": 0, "t_submit": time.time(),
        "jobspec": SPEC}]}, matchtag=tag)
    assert m.errnum == 0 and m.payload == {"errors": []}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guest_rights():
    with start_instance("access.allow-guest-user=true") as inst:
        with inst.client() as c:
            _inject(c, 1000, GUEST_UID, 1)
            _inject(c, 2000, os.getuid(), 2)

        def guest_updates() -> list:
            out = []
            with inst.client() as g:
                for tag, (topic, payload) in enumerate([
                        ("job-manager.update", {"id": 1000, "updates": {
                            "attributes.system.duration": 60.0}}),
                        ("job-manager.update", {"id": 2000, "updates": {
                            "attributes.system.duration": 60.0}}),
                        ("job-manager.queue-status", {}),
                        ("job-manager.queue-start", {"start": False, "all": False}),
                        ("job-manager.purge", {"age_limit": -1.0, "num_limit": 0,
                                               "batch": 1, "force": True})], start=1):
                    m = g.rpc(topic, payload, matchtag=tag)
                    out.append([m.errnum, m.payload_str if m.errnum else m.payload])
            return out

        assert run_as_guest(guest_updates) == [
            [0, None],
            [errno.EPERM, "guests may only update their own jobs"],
            [0, {"enable": True, "start": True}],
            [errno.EPERM, "Request requires owner credentials"],
            [errno.EPERM, "Request requires owner credentials"]]
        with inst.client() as c:  # the owner's unvalidated update makes the job immutable
            m = c.rpc("job-manager.update", {"id": 1000, "updates": {
                "attributes.system.duration": 120.0}}, matchtag=3)
            assert m.errnum == 0
        assert run_as_guest(lambda: _one_update(inst)) == [
            errno.EPERM, "job is immutable due to previous instance owner update"]


def _one_update(inst) -> list:
    with inst.client() as g:
        m = g.rpc("job-manager.update", {"id": 1000, "updates": {
            "attributes.system.duration": 30.0}}, matchtag=1)
        return [m.errnum, m.payload_str]


def test_malformed_admin_requests(instance):
    with instance.client() as c:
        for tag, (topic, payload, expected) in enumerate([
                ("job-manager.queue-enable", {"enable": "yes", "all": False}, errno.EPROTO),
                ("job-manager.queue-start", {"start": True}, errno.EPROTO),
                ("job-manager.purge", {"age_limit": -1.0}, errno.EPROTO),
                ("job-manager.purge-id", {"id": -1, "force": 0}, errno.EINVAL),
                ("job-manager.update", {"id": 1}, errno.EPROTO),
                ("job-manager.update", {"id": 1, "updates": {"attributes.x": 1}},
                 errno.ENOENT)], start=1):
            m = c.rpc(topic, payload, matchtag=tag)
            assert m.errnum == expected, (topic, payload, m.errnum, m.payload_str)
        # still serving
        assert c.rpc("job-manager.queue-status", {}, matchtag=99).payload == {
            "enable": True, "start": True}
