"""Code as a pureflux user writes it, type-checked (never run) by tests/unit/test_typecheck.py.

``mypy --strict`` must accept it with no error, and ``assert_type`` pins what
the public API's calls give a type checker: real types, not Any, except for
JSON payloads.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

import flux
import flux.job
import flux.kvs
from flux.brokermod import BrokerModule, event_handler, request_handler
from flux.core.watchers import MessageWatcher, TimerWatcher
from flux.future import Future
from flux.job import JobID
from flux.job.wait import JobWaitResult
from flux.message import Message
from flux.rpc import RPC


class Echo(BrokerModule):
    @request_handler("echo", allow_guest=True)
    def echo(self, msg: Message) -> None:
        self.handle.respond(msg, msg.payload)

    @event_handler("tick")
    def tick(self, msg: Message) -> None:
        self.log.info(f"tick from {msg.topic}")


def mod_main(h: flux.Flux, *args: str) -> None:
    Echo(h, *args).run()


def client() -> None:
    h = flux.Flux()
    assert_type(h, flux.Flux)
    future = h.rpc("broker.ping", {"seq": 1})
    assert_type(future, RPC)
    assert_type(future.get(), Any)
    assert_type(future.then(lambda f: None), Future)
    assert_type(h.attr_get("rank"), str)
    assert_type(h.get_rank(), int)
    assert_type(h.timer_watcher_create(1.0, lambda *a: None), TimerWatcher)
    assert_type(h.msg_watcher_create(lambda *a: None), MessageWatcher)
    assert_type(h.event_recv(), Message | None)

    flux.kvs.put(h, "a.b", {"x": 1})
    flux.kvs.commit(h)
    assert_type(flux.kvs.get(h, "a.b"), Any)
    kvsdir = flux.kvs.get_dir(h, "a")
    assert_type(kvsdir, flux.kvs.KVSDir)

    jobspec = flux.job.JobspecV1.from_command(["hostname"])
    jobid = flux.job.submit(h, jobspec)
    assert_type(jobid, JobID)
    assert_type(flux.job.wait(h, jobid), JobWaitResult)
    flux.job.cancel(h, jobid)
