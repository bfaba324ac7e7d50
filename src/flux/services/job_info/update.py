"""``job-info.update-watch``: a job's R or jobspec as it is now, then again after each
``resource-update`` / ``jobspec-update`` event, until the job ends (ENODATA), as flux-core
0.88's job-info (its update.c).

The first answer is the stored value with the updates already in the eventlog
applied; the eventlog is then followed through the service's own kvs-watch
machinery (this object is the watch's ``sink``), and the updates seen there beyond
those already applied are applied and sent.
"""

from __future__ import annotations

import errno
import json

from flux.constants import FLUX_KVS_WATCH, FLUX_KVS_WATCH_APPEND, FLUX_ROLE_OWNER
from flux.job.kvs import kvs_key

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.message import Message

    from .service import JobInfoService

__all__ = ["UpdateWatch", "apply_update"]

UPDATE_EVENT = {"R": "resource-update", "jobspec": "jobspec-update"}


def apply_update(key: str, value: Any, context: dict) -> None:
    """One update event's context applied to ``value`` (R: only ``expiration``)."""
    from flux.services.job_manager.job import set_path

    if not isinstance(value, dict):
        return
    for path, new in context.items():
        if key == "R":
            if path == "expiration":
                set_path(value, "execution.expiration", new)
        else:
            set_path(value, path, new)


class UpdateWatch:
    """One ``update-watch`` request: its current value and the eventlog watch it rides."""

    def __init__(self, service: JobInfoService, msg: Message, jobid: int, key: str) -> None:
        self.service = service
        self.msg = msg
        self.jobid = jobid
        self.key = key
        self.value: Any = None
        self.initial = 0  # update events applied from the first lookup
        self.seen = 0  # update events the watch has seen
        self.current: Any = None  # the eventlog watch (set by service.start)

    def begin(self) -> None:
        service, msg = self.service, self.msg
        try:
            text = service.lookup_text(kvs_key(self.jobid, self.key))
            eventlog = service.lookup_text(kvs_key(self.jobid, "eventlog"))
        except OSError as exc:
            self._finish(exc.errno or errno.EINVAL, None)
            return
        try:
            self.value = json.loads(text)
        except ValueError:
            self._finish(errno.EINVAL, "lookup value cannot be parsed")
            return
        ended, userid = False, None
        for line in eventlog.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                self._finish(errno.EINVAL, "error parsing eventlog")
                return
            name, context = entry.get("name"), entry.get("context")
            if name == "submit" and isinstance(context, dict):
                userid = context.get("userid")
            elif name == UPDATE_EVENT[self.key] and isinstance(context, dict):
                apply_update(self.key, self.value, context)
                self.initial += 1
            elif name == "clean":
                ended = True
        if not isinstance(userid, int):
            self._finish(errno.EPROTO, None)
            return
        if not msg.rolemask & FLUX_ROLE_OWNER and msg.userid != userid:
            self._finish(errno.EPERM, None)
            return
        service.respond(msg, {self.key: self.value})
        if ended:
            self._finish(errno.ENODATA, None)
            return
        service.start(msg, "primary", kvs_key(self.jobid, "eventlog"),
                      FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND, True, False, self)

    # -- the eventlog watch's sink ------------------------------------------------------

    def event(self, watch: Any, line: str) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            return
        context = entry.get("context")
        if entry.get("name") != UPDATE_EVENT[self.key] or not isinstance(context, dict):
            return
        self.seen += 1
        if self.seen > self.initial:
            apply_update(self.key, self.value, context)
            self.service.respond(self.msg, {self.key: self.value})

    def sentinel(self, watch: Any) -> None:
        pass

    def end(self, watch: Any, errnum: int, text: str | None) -> None:
        self._finish(errnum, text)

    # -- ending -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Canceled or disconnected: the eventlog watch ends without a word."""
        if self.current is not None:
            self.service.stop(self.current)
            self.current = None
        self.service.update_done(self)

    def _finish(self, errnum: int, text: str | None) -> None:
        self.current = None
        self.service.respond_error(self.msg, errnum, text)
        self.service.update_done(self)
