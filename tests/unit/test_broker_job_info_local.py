"""The broker's job-info takes kvs-watch's responses in-process (KVSWatch.local) from the
moment its service exists until it closes; they reach its service as the messages would."""

from __future__ import annotations

import errno

from brokerfakes import OWNER, Parts

from flux.broker.job_info import JobInfo
from flux.broker.kvs_watch import KVSWatch
from flux.message import Message


class _NoKVS:
    """The KVS wrapper: never reached by what these tests do."""

    service = None


def test_job_info_registers_its_route_while_it_lives() -> None:
    parts = Parts()
    kvs = _NoKVS()
    watch = KVSWatch(parts.router, parts.events, kvs)  # type: ignore[arg-type]
    info = JobInfo(parts.router, kvs, OWNER, watch)  # type: ignore[arg-type]
    assert watch.local == {}  # nothing until job-info is used
    service = info.service
    link = info._link
    assert link is not None and watch.local == {link.uuid: link.receive}
    got: list = []
    service.watch_value = lambda tag, errnum, val: got.append((tag, errnum, val))  # type: ignore[method-assign]
    req = Message()
    req.matchtag = 7
    link.receive(req, 0, b"blob")
    link.receive(req, errno.ENODATA, None)
    assert got == [(7, 0, b"blob"), (7, errno.ENODATA, None)]
    info.close()
    assert watch.local == {}
