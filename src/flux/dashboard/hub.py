"""The dashboard's one view of the instance, kept fresh and pushed to every open page.

One poller (every ``interval`` seconds) and one ``log.dmesg`` follower serve all
browsers: each page's event stream gets the latest views at once, then every
change.  Chart series are computed here from counter deltas, so every page sees
the same last minutes, even one opened just now.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

    from flux.core.handle import Flux

from . import instance

HISTORY = 300  # chart samples kept (five minutes at one a second)
DMESG_KEEP = 2000  # log records kept for pages opened later
TOP_SERVICES = 8  # services drawn in the requests-per-service chart


class Hub:
    """Latest views, chart history, log backlog, and the queues of connected pages."""

    def __init__(self, h: Flux, interval: float = 1.0) -> None:
        self.h = h
        self.interval = interval
        self.views: dict[str, Any] = {}
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.dmesg: collections.deque[dict[str, Any]] = collections.deque(maxlen=DMESG_KEEP)
        self.subscribers: set[asyncio.Queue] = set()
        self.overview = instance.Overview(h)
        self.tasks: list[asyncio.Task] = []
        self.lost: Optional[BaseException] = None  # why the instance went away
        self.lost_event = asyncio.Event()
        self._prev: Optional[tuple[float, dict[str, Any]]] = None
        self._seq = 0

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.poll_once()
        self.tasks = [asyncio.create_task(self._poll_forever()),
                      asyncio.create_task(self._follow_dmesg())]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for queue in list(self.subscribers):
            queue.put_nowait(None)

    def _lose(self, exc: BaseException) -> None:
        if self.lost is None:
            self.lost = exc
            self.lost_event.set()

    # -- pages ----------------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue:
        """A queue of (event, data) for one page, primed with everything it must show."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=10000)
        for name, view in self.views.items():
            queue.put_nowait((name, view))
        queue.put_nowait(("history", list(self.history)))
        queue.put_nowait(("dmesg", list(self.dmesg)))
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    def publish(self, name: str, data: Any) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait((name, data))
            except asyncio.QueueFull:
                # a page that stopped reading: end its stream (EventSource reconnects and
                # starts again from the latest views)
                self.subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    # -- polling -------------------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll_once()
            except OSError as exc:
                if exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                    self._lose(exc)
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad answer must not stop the page
                continue

    async def poll_once(self) -> None:
        overview, jobs, traffic = await asyncio.gather(
            self.overview.get(), instance.jobs(self.h), instance.traffic(self.h),
            return_exceptions=True)
        for value in (overview, jobs, traffic):
            if isinstance(value, OSError) and value.errno in (errno.ECONNRESET, errno.EPIPE):
                raise value
        if isinstance(overview, dict):
            self._update("overview", overview)
        if isinstance(jobs, list):
            self._update("jobs", jobs)
        size = overview.get("size", 1) if isinstance(overview, dict) else 1
        mods = await asyncio.gather(*(instance.modules(self.h, r) for r in range(size)),
                                    return_exceptions=True)
        self._update("modules", [m for m in mods if isinstance(m, dict)])
        if isinstance(traffic, dict):
            sample = self._sample(traffic, jobs if isinstance(jobs, list) else [])
            if sample is not None:
                self.history.append(sample)
                self.publish("sample", sample)

    def _update(self, name: str, view: Any) -> None:
        if self.views.get(name) != view:
            self.views[name] = view
            self.publish(name, view)

    def _sample(self, traffic: dict[str, Any], jobs: list[dict[str, Any]]) -> Optional[dict]:
        """One chart point: rates since the last poll."""
        now = time.time()
        prev, self._prev = self._prev, (now, traffic)
        if prev is None or traffic.get("messages") is None or prev[1].get("messages") is None:
            return None
        dt = max(now - prev[0], 1e-3)
        before = prev[1]["services"]
        per_service = {name: round((count - before.get(name, 0)) / dt, 2)
                       for name, count in traffic["services"].items()
                       if count - before.get(name, 0) > 0}
        top = dict(sorted(per_service.items(), key=lambda kv: -kv[1])[:TOP_SERVICES])

        def per_second(field: str) -> float:
            return round(sum(1 for j in jobs if prev[0] < (j.get(field) or 0) <= now) / dt, 2)

        return {"t": round(now, 3),
                "messages": round(max(0, traffic["messages"] - prev[1]["messages"]) / dt, 2),
                "services": top,
                "submitted": per_second("t_submit"), "started": per_second("t_run"),
                "finished": per_second("t_inactive")}

    # -- the log ---------------------------------------------------------------------------------

    async def _follow_dmesg(self) -> None:
        from flux.constants import FLUX_RPC_STREAMING

        while True:
            try:
                rpc = self.h.rpc("log.dmesg", {"follow": True, "nobacklog": False},
                                 flags=FLUX_RPC_STREAMING)
                async for text in rpc:
                    record = parse_record(text)
                    if record is not None:
                        self.dmesg.append(record)
                        self.publish("log", record)
                return
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                self._lose(exc)
                return


def parse_record(text: Any) -> Optional[dict[str, Any]]:
    """An RFC 5424 record as ``log.dmesg`` sends it, as the page shows it."""
    from flux.cmd.dmesg import decode_record
    from flux.severity import name as severity_name

    if not isinstance(text, str):
        return None
    rec = decode_record(text.rstrip("\0"))
    if rec is None:
        return None
    # RFC 5424's HOSTNAME field carries the broker rank in Flux's records
    return {"timestamp": rec.timestamp, "rank": rec.hostname, "subsystem": rec.appname,
            "level": severity_name(rec.severity), "severity": rec.severity,
            "message": rec.message}
