"""Helpers for the handle tests: a service run by a second handle in a thread.

``ServiceThread(uri, name, handlers)`` opens its own handle (handles are not
thread-safe), registers service ``name``, starts one message watcher per
``handlers`` entry (``{topic_glob: callback(h, w, msg, arg)}``, optionally
``(callback, rolemask)``) and runs its reactor until ``NAME.quit`` arrives.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Optional

import flux
from flux.constants import FLUX_MSGTYPE_REQUEST

PYTHON = sys.executable


class ServiceThread:
    def __init__(self, uri: str, name: str, handlers: dict[str, Any],
                 register: bool = True) -> None:
        self.uri = uri
        self.name = name
        self.handlers = handlers
        self.register = register
        self.ready = threading.Event()
        self.error: Optional[BaseException] = None
        self.rc: Optional[int] = None
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            h = flux.Flux(self.uri)
            self.h = h
            if self.register:
                h.service_register(self.name).get()

            def quit_cb(h: Any, w: Any, msg: Any, arg: Any) -> None:
                h.respond(msg)
                h.reactor_stop()

            watchers = [h.msg_watcher_create(quit_cb, FLUX_MSGTYPE_REQUEST, f"{self.name}.quit")]
            for glob, spec in self.handlers.items():
                cb, rolemask = spec if isinstance(spec, tuple) else (spec, None)
                watchers.append(h.msg_watcher_create(self._wrap(cb), FLUX_MSGTYPE_REQUEST,
                                                     glob, rolemask=rolemask))
            for w in watchers:
                w.start()
            self.ready.set()
            self.rc = h.reactor_run()
            for w in watchers:
                w.destroy()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
            self.ready.set()

    def _wrap(self, cb: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(h: Any, w: Any, msg: Any, arg: Any) -> None:
            self.seen.append(msg.topic)
            cb(h, w, msg, arg)
        return wrapped

    def __enter__(self) -> "ServiceThread":
        self.thread.start()
        assert self.ready.wait(10), "service thread did not start"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.thread.is_alive():
            with flux.Flux(self.uri) as h:
                try:
                    h.rpc(f"{self.name}.quit").wait_for(5)
                except OSError:
                    pass
        self.thread.join(10)
        assert not self.thread.is_alive(), "service thread did not stop"


def child_env(uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env["FLUX_URI"] = uri
    return env
