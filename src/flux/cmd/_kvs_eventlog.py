"""``flux kvs eventlog append|get|wait-event``: RFC 18 eventlogs in the KVS.

``append`` commits one entry (``--timestamp``, else now; the context is the
remaining arguments joined by spaces, a JSON object) with FLUX_KVS_APPEND.
``get`` prints the entries (``--watch`` follows appends until ``--count``
entries), ``wait-event`` waits for an entry by name (``--verbose`` prints
those before it, ``--quiet`` not even it; ``--timeout`` restarts with each
response, as a flux-core future's timeout does).  Entries print through
the shared eventlog formatter; messages and exit codes are flux-core's.
"""

from __future__ import annotations

import errno

from flux import eventlog
from flux.constants import (
    FLUX_KVS_APPEND,
    FLUX_KVS_STREAM,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
)

from . import _kvs_output as out
from ._kvs_format import c_string

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._eventlog_format import EventlogFormatter
    from ._kvs_options import Args


def _usage_exit(p: Args) -> None:
    p.command.print_usage()
    raise SystemExit(1)


def cmd_append(p: Args) -> int:
    from ._kvs_write import commit

    timestamp = p.get_double("timestamp", 0.0)
    if len(p.args) < 2:
        _usage_exit(p)
    namespace = p.get_str("namespace")
    key, name = p.args[0], p.args[1]
    context = " ".join(p.args[2:]) if len(p.args) > 2 else None
    h = out.open_handle()
    from flux.kvs import ops
    try:
        entry = eventlog.entry_create(timestamp, name, context)
        text = eventlog.encode_entry(entry)
    except (OSError, ValueError) as exc:
        out.err_exit("eventlog_entry_create", exc if isinstance(exc, OSError) else errno.EINVAL)
    try:
        op = ops.put_raw_op(key, text.encode("utf-8", "surrogateescape"), FLUX_KVS_APPEND)
    except OSError as exc:
        out.err_exit("flux_kvs_txn_put", exc)
    try:
        commit(h, [op], 0, namespace).get()
    except OSError as exc:
        out.err_exit("flux_kvs_commit", exc)
    return 0


def formatter_create(p: Args) -> EventlogFormatter | None:
    """The formatter the options ask for; None (after saying why) for a contradiction."""
    from ._eventlog_format import EventlogFormatter

    color = p.get_color("color")
    human = p.hasopt("human")
    unformatted = p.hasopt("unformatted")
    if unformatted and (human or p.get_str("color", "") == "always"):
        out.msg("Do not specify --unformatted with --human or --color=always")
        return None
    evf = EventlogFormatter()
    if unformatted:
        evf.set_format("json")
    if human:
        evf.set_timestamp_format("human")
    evf.set_color(color)
    return evf


def _formatter_or_exit(p: Args) -> EventlogFormatter:
    evf = formatter_create(p)
    if evf is None:
        out.msg_exit("failed to create eventlog formatter")
    return evf


def _entries(f: Any) -> list[dict]:
    """The entries of the eventlog in the current response; errors as flux-core's."""
    try:
        value = f.get_value()
    except OSError as exc:
        out.err_exit("flux_kvs_lookup_get", exc)
    return decode_or_exit(value)


def decode_or_exit(value: bytes | None) -> list[dict]:
    """The entries of a value read as the C string flux-core reads (an empty value is
    no string at all: EINVAL)."""
    text = c_string(value)
    try:
        if text is None:
            raise OSError(errno.EINVAL, "no eventlog")
        return eventlog.decode(text)
    except OSError:
        out.msg_exit("cannot decode improperly formatted eventlog")


def _lookup(h: Any, key: str, flags: int, namespace: str | None) -> Any:
    from ._kvs_read import start_lookup

    try:
        return start_lookup(h, key, flags, namespace)
    except OSError as exc:
        out.err_exit("flux_kvs_lookup", exc)


def _stream_ended(f: Any) -> bool:
    """True if the response is the end of a stream (ENODATA)."""
    try:
        f.get()
    except OSError as exc:
        return exc.errno == errno.ENODATA
    return False


def _print(evf: EventlogFormatter, entry: dict) -> None:
    try:
        out.write(evf.format(entry))
    except ValueError as exc:
        out.msg(f"failed to print eventlog entry: {exc}")


class _Getter:
    def __init__(self, p: Args, evf: EventlogFormatter, maxcount: int) -> None:
        self.watch = p.hasopt("watch")
        self.stream = p.hasopt("stream")
        self.evf = evf
        self.maxcount = maxcount
        self.count = 0

    def on_response(self, f: Any) -> None:
        if (self.watch or self.stream) and _stream_ended(f):
            return
        limit_reached = False
        for entry in _entries(f):
            if self.watch:
                if self.maxcount == 0 or self.count < self.maxcount:
                    _print(self.evf, entry)
                if self.maxcount > 0:
                    self.count += 1
                    if self.count == self.maxcount:
                        limit_reached = True
            else:
                _print(self.evf, entry)
        out.flush()
        if self.watch:
            f.reset()
            if limit_reached:
                try:
                    f.cancel()
                except OSError as exc:
                    out.err_exit("flux_kvs_lookup_cancel", exc)
        elif self.stream:
            f.reset()


def cmd_get(p: Args) -> int:
    if len(p.args) != 1:
        _usage_exit(p)
    namespace = p.get_str("namespace")
    key = p.args[0]
    flags = FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND if p.hasopt("watch") else 0
    if p.hasopt("waitcreate"):
        flags |= FLUX_KVS_WAITCREATE
    if p.hasopt("stream"):
        flags |= FLUX_KVS_STREAM
    maxcount = p.get_int("count", 0)
    evf = _formatter_or_exit(p)
    h = out.open_handle()
    f = _lookup(h, key, flags, namespace)
    f.then(_Getter(p, evf, maxcount).on_response)
    h.reactor_run()
    return 0


class _Waiter:
    """``wait-event``: the responses of a watch, until the event shows (then a cancel)."""

    def __init__(self, h: Any, p: Args, key: str, event: str, evf: EventlogFormatter,
                 timeout: float) -> None:
        self.key = key
        self.event = event
        self.evf = evf
        self.quiet = p.hasopt("quiet")
        self.verbose = p.hasopt("verbose")
        self.got_event = False
        self.timer = None
        if timeout >= 0:
            self.timer = h.timer_watcher_create(timeout, self.on_timeout)
            self.timer.start()

    def on_timeout(self, *args: Any) -> None:
        out.msg_exit(f"wait-event timeout on event '{self.event}'")

    def on_response(self, f: Any) -> None:
        if self.timer is not None:
            self.timer.stop()
        try:
            value = f.get_value()
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                out.msg_exit(f"eventlog path {self.key} not found")
            if exc.errno == errno.ETIMEDOUT:
                out.msg_exit(f"wait-event timeout on event '{self.event}'")
            if exc.errno == errno.ENODATA:
                if not self.got_event:
                    out.msg_exit(f"event '{self.event}' never received")
                return
            out.err_exit("flux_kvs_lookup_get", exc)
        for entry in decode_or_exit(value):
            timestamp, name, _ = eventlog.entry_parse(entry)
            self.evf.update_t0(timestamp)
            if name == self.event:
                if not self.quiet:
                    _print(self.evf, entry)
                self.got_event = True
                break
            if self.verbose and not self.got_event:
                _print(self.evf, entry)
        out.flush()
        if self.got_event:
            try:
                f.cancel()
            except OSError as exc:
                out.err_exit("flux_kvs_lookup_cancel", exc)
        elif self.timer is not None:
            self.timer.start()  # the timeout starts again with each response
        f.reset()


def cmd_wait_event(p: Args) -> int:
    if len(p.args) != 2:
        _usage_exit(p)
    namespace = p.get_str("namespace")
    key, event = p.args
    evf = _formatter_or_exit(p)
    timeout = p.get_duration("timeout", -1.0)
    flags = FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND
    if p.hasopt("waitcreate"):
        flags |= FLUX_KVS_WAITCREATE
    h = out.open_handle()
    waiter = _Waiter(h, p, key, event, evf, timeout)
    f = _lookup(h, key, flags, namespace)
    f.then(waiter.on_response)
    h.reactor_run()
    return 0

