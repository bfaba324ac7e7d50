"""The ``job-info`` service (RFC 41): a job's KVS keys and eventlogs, read with its
owner's rights.

Requests: ``job-info.lookup`` (``{"id", "keys", "flags"}``: the values of the
job's keys; JSON_DECODE answers jobspec and R as objects, CURRENT applies their
``jobspec-update`` / ``resource-update`` events first),
``job-info.eventlog-watch`` (``{"id", "path", "flags"}``, streaming: one
``{"event": line}`` per entry of ``job.<id>.<path>``, the main eventlog ending
with ENODATA after ``clean``), ``job-info.eventlog-watch-cancel``
(``{"matchtag"}``), ``job-info.update-lookup`` (R with its updates applied),
``job-info.update-watch`` (R or jobspec now and after each update: update.py) and
its cancel, ``job-info.disconnect``, ``job-info.stats-get``.

Only the instance owner and the job's owner (its ``submit`` event's userid)
may read a job (EPERM, "access is restricted to job/instance owner").  Keys
are read with the KVS service's ``lookup`` (given as ``lookup``: a key's text,
or OSError); eventlogs are followed through kvs-watch (given as ``watch_start``
(namespace, key, kvs flags, matchtag) and ``watch_cancel``; its responses come back to
:meth:`JobInfoService.watch_response`),
so appends are streamed with kvs-watch's own semantics (WAITCREATE,
INITIAL_SENTINEL, STREAM), as flux-core's module does by RPC.
"""

from __future__ import annotations

import base64
import errno
import json
import os
from collections import OrderedDict
from json.encoder import encode_basestring as _encode_basestring

from flux.constants import (
    FLUX_KVS_STREAM,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_ROLE_OWNER,
)
from flux.services.job_info.guest import GuestWatch, whole_lines
from flux.services.job_info.update import UpdateWatch
from flux.job.kvs import kvs_key

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any, Optional

    from flux.message import Message

__all__ = ["JobInfoService"]

LOOKUP_JSON_DECODE, LOOKUP_CURRENT = 1, 2
WATCH_WAITCREATE, WATCH_INITIAL_SENTINEL = 1, 2
#: how many job owners are remembered (flux-core's OWNER_LRU_MAXSIZE)
_OWNERS_MAX = 1000
_DENIED = "access is restricted to job/instance owner"


def _submit_userid(eventlog: str) -> int:
    """The userid of an eventlog's first entry, its ``submit`` (OSError EPROTO if not)."""
    try:
        first = json.loads(eventlog.split("\n", 1)[0])
        userid = first["context"]["userid"]
        if first["name"] != "submit" or type(userid) is not int:
            raise ValueError(first)
    except (ValueError, KeyError, TypeError):
        raise OSError(errno.EPROTO, "error parsing eventlog") from None
    return userid


def _dumps(obj: Any) -> str:
    """JSON text as jansson's json_dumps(obj, 0) writes it."""
    return json.dumps(obj, ensure_ascii=False)


def _set_path(obj: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = obj.get(part)
        if not isinstance(child, dict):
            child = obj[part] = {}
        obj = child
    obj[last] = value


class _Watch:
    """One eventlog-watch request and the kvs-watch it rides on."""

    __slots__ = ("check", "main", "msg", "sentinel", "sentinel_sent", "sink", "tag")

    def __init__(self, msg: Message, main: bool, sentinel: bool) -> None:
        self.msg = msg
        self.check = False  # the sender's right is checked on the eventlog's first entry
        self.sink: Any = None  # a guest or update watch this one serves, or None
        self.main = main  # the job's main eventlog: ends after "clean"
        self.sentinel = sentinel
        self.sentinel_sent = False
        self.tag = 0  # the kvs-watch request's matchtag


class JobInfoService:
    """Lookups and eventlog watches (see the module docstring)."""

    def __init__(self, *, respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, str | None], None],
                 from_sender: Callable[[Message, Message], bool],
                 lookup: Callable[[str], str],
                 watch_start: Callable[[str, str, int, int], None],
                 watch_cancel: Callable[[int], None],
                 respond_many: Callable[[Message, list[bytes]], None] | None = None) -> None:
        self.respond = respond
        #: responses to one request that differ only in payload, sent at once
        self.respond_many = respond_many or self._respond_each
        self.respond_error = respond_error
        self.from_sender = from_sender
        self.lookup_text = lookup
        self.watch_start = watch_start
        self.watch_cancel = watch_cancel
        #: kvs-watch matchtag -> the watch it serves
        self.watches: dict[int, _Watch] = {}
        self.guests: list[GuestWatch] = []
        self.updates: list[UpdateWatch] = []
        self._tags = 0
        #: jobid -> submitting userid, the most recently used last
        self.owners: OrderedDict[int, int] = OrderedDict()

    # -- access ---------------------------------------------------------------------

    def _allowed(self, msg: Message, jobid: int, owner_passes: bool = True) -> None:
        """OSError unless the sender may read the job (ENOENT: no such job).

        A job whose owner was seen before is judged from memory, as flux-core's
        job-info keeps an LRU of job owners; a lookup (``owner_passes=False``) reads
        the eventlog even for the instance owner, so that an unknown job is ``invalid
        job id`` rather than a missing key.
        """
        if owner_passes and msg.rolemask & FLUX_ROLE_OWNER:
            return
        userid = self.owners.get(jobid)
        if userid is not None:
            self.owners.move_to_end(jobid)
        else:
            try:
                eventlog = self.lookup_text(kvs_key(jobid, "eventlog"))
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise OSError(errno.ENOENT, "invalid job id") from None
                raise
            userid = _submit_userid(eventlog)
            self.owners[jobid] = userid
            if len(self.owners) > _OWNERS_MAX:
                self.owners.popitem(last=False)
        if not msg.rolemask & FLUX_ROLE_OWNER and userid != msg.userid:
            raise OSError(errno.EPERM, _DENIED)

    # -- lookup ---------------------------------------------------------------------

    def lookup(self, msg: Message) -> None:
        """``job-info.lookup``."""
        obj = msg.payload_json()
        if not isinstance(obj, dict) or type(obj.get("id")) is not int \
                or "keys" not in obj or type(obj.get("flags")) is not int:
            self.respond_error(msg, errno.EPROTO, None)
            return
        self._lookup(msg, obj["id"], obj["keys"], obj["flags"])

    def update_lookup(self, msg: Message) -> None:
        """``job-info.update-lookup`` (flux-core's legacy form): ``{"id", "key": "R",
        "flags": 0}``, answered as a lookup of R with JSON_DECODE and CURRENT."""
        obj = self._update_request(msg, "update-lookup")
        if obj is None:
            return
        if obj["key"] != "R":
            self.respond_error(msg, errno.EINVAL, "update-lookup unsupported key specified")
            return
        self._lookup(msg, obj["id"], ["R"], LOOKUP_JSON_DECODE | LOOKUP_CURRENT)

    def _update_request(self, msg: Message, method: str) -> Optional[dict]:
        """``{"id", "key", "flags": 0}`` of an update-lookup/update-watch request, or None
        once the sender has its error (flux-core's texts)."""
        obj = msg.payload_json()
        if not isinstance(obj, dict) or type(obj.get("id")) is not int \
                or not isinstance(obj.get("key"), str) or type(obj.get("flags")) is not int:
            self.respond_error(msg, errno.EPROTO, None)
            return None
        if obj["flags"]:
            self.respond_error(msg, errno.EPROTO, f"{method} request rejected with invalid flag")
            return None
        return obj

    def _lookup(self, msg: Message, jobid: int, keys: Any, flags: int) -> None:
        if flags & ~(LOOKUP_JSON_DECODE | LOOKUP_CURRENT):
            self.respond_error(msg, errno.EPROTO, "lookup request rejected with invalid flag")
            return
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            self.respond_error(msg, errno.EPROTO, None)
            return
        try:
            self._allowed(msg, jobid, owner_passes=False)
        except OSError as exc:
            self.respond_error(msg, exc.errno or errno.EINVAL, exc.strerror)
            return
        out: dict = {"id": jobid}
        for key in keys:
            try:
                text = self.lookup_text(kvs_key(jobid, key))
            except OSError as exc:
                errnum = exc.errno or errno.EINVAL
                what = "key not found" if errnum == errno.ENOENT else os.strerror(errnum)
                self.respond_error(msg, errnum, f"{key}: {what}")
                return
            if not text:
                self.respond_error(msg, errno.EPROTO, f"{key}: value is unexpectedly empty")
                return
            if flags & LOOKUP_CURRENT and key in ("R", "jobspec"):
                try:
                    text = self._current(jobid, key, text)
                except OSError as exc:
                    self.respond_error(msg, exc.errno or errno.EINVAL,
                                       f"{key}: error applying eventlog to original value: "
                                       f"{exc.strerror}")
                    return
            if flags & LOOKUP_JSON_DECODE and key in ("R", "jobspec"):
                out[key] = json.loads(text)
            else:
                out[key] = text
        self.respond(msg, out)

    def _current(self, jobid: int, key: str, text: str) -> str:
        """R or jobspec with the updates its eventlog posted applied."""
        try:
            value = json.loads(text)
        except ValueError:
            raise OSError(errno.EINVAL, "Invalid argument") from None
        eventlog = self.lookup_text(kvs_key(jobid, "eventlog"))
        update = "resource-update" if key == "R" else "jobspec-update"
        for line in eventlog.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                raise OSError(errno.EINVAL, "Invalid argument") from None
            if entry.get("name") != update or not isinstance(entry.get("context"), dict):
                continue
            for path, new in entry["context"].items():
                if key == "R":
                    if path == "expiration" and isinstance(value, dict):
                        _set_path(value, "execution.expiration", new)
                elif isinstance(value, dict):
                    _set_path(value, path, new)
        return _dumps(value)

    # -- eventlog watches -------------------------------------------------------------

    def eventlog_watch(self, msg: Message) -> None:
        """``job-info.eventlog-watch``."""
        obj = msg.payload_json()
        if not isinstance(obj, dict) or type(obj.get("id")) is not int \
                or not isinstance(obj.get("path"), str) or type(obj.get("flags")) is not int:
            self.respond_error(msg, errno.EPROTO, None)
            return
        jobid, path, flags = obj["id"], obj["path"], obj["flags"]
        if flags & ~(WATCH_WAITCREATE | WATCH_INITIAL_SENTINEL):
            self.respond_error(msg, errno.EPROTO,
                               "eventlog-watch request rejected with invalid flag")
            return
        if not msg.streaming:
            self.respond_error(msg, errno.EPROTO,
                               "eventlog-watch request rejected without streaming RPC flag")
            return
        guest_in_main = obj.get("guest_in_main") is True
        if path.startswith("guest.") and not guest_in_main:
            self._guest_watch(msg, jobid, path[len("guest."):], flags)
            return
        check = False
        try:
            self._allowed(msg, jobid)
        except OSError as exc:
            if exc.errno == errno.ENOENT and path == "eventlog" and flags & WATCH_WAITCREATE:
                check = True  # waits for the eventlog, then checks its submit event
            else:
                self.respond_error(msg, exc.errno or errno.EINVAL,
                                   exc.strerror if exc.errno == errno.EPERM else None)
                return
        kvs_flags = FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND
        if flags & WATCH_WAITCREATE:
            kvs_flags |= FLUX_KVS_WAITCREATE
        if flags & WATCH_INITIAL_SENTINEL:
            kvs_flags |= FLUX_KVS_WATCH_INITIAL_SENTINEL
        if guest_in_main:
            kvs_flags = FLUX_KVS_STREAM
        self.start(msg, "primary", kvs_key(jobid, path), kvs_flags, path == "eventlog",
                   bool(flags & WATCH_INITIAL_SENTINEL), None, check)

    def start(self, msg: Message, namespace: str, key: str, kvs_flags: int, main: bool,
              sentinel: bool, sink: GuestWatch | UpdateWatch | None,
              check: bool = False) -> _Watch:
        """A kvs-watch of ``key`` serving ``msg`` (or a guest or update watch, its ``sink``)."""
        watch = _Watch(msg, main, sentinel)
        watch.check = check
        watch.sink = sink
        self._tags += 1
        watch.tag = self._tags
        # kvs-watch may answer at once: the watch must be known before it is asked
        self.watches[watch.tag] = watch
        if sink is not None:
            sink.current = watch
        self.watch_start(namespace, key, kvs_flags, watch.tag)
        return watch

    def stop(self, watch: _Watch) -> None:
        """End a watch without a word (its kvs-watch canceled)."""
        if self.watches.pop(watch.tag, None) is not None:
            self.watch_cancel(watch.tag)

    def watch_response(self, tag: int, errnum: int, payload: Any) -> None:
        """A kvs-watch response for watch ``tag`` (its decoded payload): its entries
        passed on, or its end."""
        self.watch_value(tag, errnum, payload.get("val") if isinstance(payload, dict) else None)

    def watch_value(self, tag: int, errnum: int, val: Any) -> None:
        """:meth:`watch_response` given what the response carries: its ``val`` tree
        object, or the bytes of the blob it holds (kvs-watch in the same process)."""
        watch = self.watches.get(tag)
        if watch is None:
            return
        msg = watch.msg
        if errnum:
            if errnum == errno.ENODATA and watch.sentinel and not watch.sentinel_sent \
                    and not watch.main:
                self._sentinel(watch)
            self._end(watch, errnum)
            return
        text = _val_text(val)
        if not text:
            if watch.sentinel:
                if not watch.sentinel_sent:
                    self._sentinel(watch)
                return
            self._end(watch, errno.EINVAL, "illegal append of zero bytes")
            self.watch_cancel(tag)
            return
        if watch.check:
            try:
                allowed = _submit_userid(text) == msg.userid
            except OSError:
                allowed = False
            if not allowed:
                self._end(watch, errno.EPERM, _DENIED)
                self.watch_cancel(tag)
                return
            watch.check = False
        if not watch.main:
            self._emit_lines(watch, text[:text.rfind("\n") + 1])
            return
        start = 0
        while tag in self.watches:
            end = text.find("\n", start)
            if end < 0:
                break
            line = text[start:end + 1]
            start = end + 1
            if _is_clean(line):
                self._emit(watch, line)
                if tag in self.watches:
                    if watch.sentinel and not watch.sentinel_sent:
                        self._sentinel(watch)
                    # ended before kvs-watch is told: in the broker it answers the cancel
                    # at once, and that answer must find no watch to end a second time
                    self._end(watch, errno.ENODATA)
                    self.watch_cancel(tag)
                return
            self._emit(watch, line)

    def _emit(self, watch: _Watch, line: str) -> None:
        if watch.sink is not None:
            watch.sink.event(watch, line)
        else:
            self.respond(watch.msg, {"event": line})

    def _emit_lines(self, watch: _Watch, text: str) -> None:
        """The entries of one kvs-watch response (one commit's appends) at once: ``text``,
        its whole lines (a partial last line is not an entry)."""
        sink = watch.sink
        if sink is None:
            self.respond_events(watch.msg, whole_lines(text))
        elif isinstance(sink, GuestWatch):
            sink.events(watch, text)
        else:
            for line in whole_lines(text):
                if watch.tag not in self.watches:
                    break
                sink.event(watch, line)

    def respond_events(self, msg: Message, lines: list[str]) -> None:
        """One ``{"event": line}`` response per line, built as bytes without a dict each."""
        if lines:
            self.respond_many(msg, [event_payload(line) for line in lines])

    def _respond_each(self, msg: Message, payloads: list[bytes]) -> None:
        for payload in payloads:
            self.respond(msg, payload)

    def _sentinel(self, watch: _Watch) -> None:
        watch.sentinel_sent = True
        if watch.sink is not None:
            watch.sink.sentinel(watch)
        else:
            self.respond(watch.msg, None)

    def _end(self, watch: _Watch, errnum: int, text: str | None = None) -> None:
        self.watches.pop(watch.tag, None)
        if watch.sink is not None:
            watch.sink.end(watch, errnum, text)
        else:
            self.respond_error(watch.msg, errnum, text)

    # -- guest.* paths ------------------------------------------------------------------

    def _guest_watch(self, msg: Message, jobid: int, path: str, flags: int) -> None:
        """An eventlog of the job's guest namespace (guest.py says where it is read)."""
        try:
            self._allowed(msg, jobid)
            eventlog = self.lookup_text(kvs_key(jobid, "eventlog"))
        except OSError as exc:
            self.respond_error(msg, exc.errno or errno.EINVAL, None)
            return
        guest = GuestWatch(self, msg, jobid, path, flags)
        self.guests.append(guest)
        guest.begin(eventlog)

    def guest_done(self, guest: GuestWatch) -> None:
        """A guest watch has answered its last."""
        if guest in self.guests:
            self.guests.remove(guest)

    # -- update watches -----------------------------------------------------------------

    def update_watch(self, msg: Message) -> None:
        """``job-info.update-watch``: ``{"id", "key": "R"|"jobspec", "flags": 0}``."""
        obj = self._update_request(msg, "update-watch")
        if obj is None:
            return
        if not msg.streaming:
            self.respond_error(msg, errno.EPROTO,
                               "update-watch request rejected without streaming RPC flag")
            return
        if obj["key"] not in ("R", "jobspec"):
            self.respond_error(msg, errno.EINVAL, "update-watch unsupported key specified")
            return
        watch = UpdateWatch(self, msg, obj["id"], obj["key"])
        self.updates.append(watch)
        watch.begin()

    def update_done(self, watch: UpdateWatch) -> None:
        if watch in self.updates:
            self.updates.remove(watch)

    def update_watch_cancel(self, msg: Message) -> None:
        """``job-info.update-watch-cancel``: the sender's update watch ends with ENODATA."""
        obj = msg.payload_json()
        matchtag = obj.get("matchtag") if isinstance(obj, dict) else None
        if type(matchtag) is not int:
            return
        for watch in list(self.updates):
            if watch.msg.matchtag == matchtag and self.from_sender(watch.msg, msg):
                watch.stop()
                self.respond_error(watch.msg, errno.ENODATA, None)

    # -- cancel, disconnect -------------------------------------------------------------

    def _clients(self) -> list:
        """(request, stop) of every client watch, plain or guest."""
        plain = [(w.msg, w) for w in self.watches.values() if w.sink is None]
        return plain + [(g.msg, g) for g in self.guests]

    def _all_clients(self) -> list:
        """The above and the update watches."""
        return self._clients() + [(u.msg, u) for u in self.updates]

    def eventlog_watch_cancel(self, msg: Message) -> None:
        """``job-info.eventlog-watch-cancel``: the sender's watch ends with ENODATA."""
        obj = msg.payload_json()
        matchtag = obj.get("matchtag") if isinstance(obj, dict) else None
        if type(matchtag) is not int:
            return
        for req, what in self._clients():
            if req.matchtag == matchtag and self.from_sender(req, msg):
                self._cancel(what)
                self.respond_error(req, errno.ENODATA, None)

    def _cancel(self, what: _Watch | GuestWatch | UpdateWatch) -> None:
        if isinstance(what, UpdateWatch):
            what.stop()
        elif isinstance(what, GuestWatch):
            what.stop()
            self.guest_done(what)
        else:
            self.stop(what)

    def stats_get(self, msg: Message) -> None:
        """``job-info.stats-get`` (owner only): lookups are answered at once, so none wait."""
        self.respond(msg, {"lookups": 0, "watchers": len(self.watches),
                           "guest_watchers": len(self.guests),
                           "update_lookups": 0, "update_watchers": len(self.updates)})

    def disconnect(self, msg: Message) -> None:
        """``job-info.disconnect``: the sender's watches end without a word."""
        for req, what in self._all_clients():
            if self.from_sender(req, msg):
                self._cancel(what)

    def close(self) -> None:
        """At broker shutdown: the watches end with ENOSYS."""
        for req, what in self._all_clients():
            self._cancel(what)
            self.respond_error(req, errno.ENOSYS, None)


def _val_text(val: Any) -> str:
    """The text of a kvs-watch response's ``val`` tree object (base64 data), or of a
    blob's bytes."""
    if type(val) is bytes:
        return val.decode("utf-8", errors="replace")
    data = val.get("data") if isinstance(val, dict) else None
    if not data:
        return ""
    return base64.b64decode(data).decode("utf-8", errors="replace")


def event_payload(line: str) -> bytes:
    """``encode_json({"event": line})`` written directly: the wire bytes of one eventlog
    entry's response (compact JSON, non-ASCII kept, NUL-terminated)."""
    return f'{{"event":{_encode_basestring(line)}}}'.encode("utf-8", "surrogateescape") + b"\0"


def _is_clean(line: str) -> bool:
    try:
        return json.loads(line).get("name") == "clean"
    except (ValueError, AttributeError):
        return False
