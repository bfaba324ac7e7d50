"""``FluxExecutor``: jobs as ``concurrent.futures`` futures (flux-core's class and behaviour).

``submit(jobspec, ...)`` (``flux.job.submit``'s arguments without the handle)
or ``attach(jobid)`` returns a :class:`FluxExecutorFuture` at once.  Worker
threads, each with its own handle, submit the jobs and follow their main
eventlogs: a future gets its job ID, its events (``add_event_callback``),
and then its result, the job's highest exit code (``-signum`` when a signal
ended it), or a ``JobException`` for a fatal exception, or the submission's
error.  A worker breaks out of its reactor every ``poll_interval`` seconds
to pick up new work.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import os
import threading
import time
import weakref

from flux.job.event import MAIN_EVENTS, JobException, event_watch_async
from flux.job.submit import submit_async, submit_get_id

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["FluxExecutor", "FluxExecutorFuture"]


class _Submit:
    """Work for a worker: submit a job, then follow it."""

    __slots__ = ("args", "kwargs", "future")

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any], future: "FluxExecutorFuture") -> None:
        self.args, self.kwargs, self.future = args, kwargs, future


class _Attach:
    """Work for a worker: follow a job submitted elsewhere (its ID is known at once)."""

    __slots__ = ("jobid", "future")

    def __init__(self, jobid: int, future: "FluxExecutorFuture") -> None:
        self.jobid, self.future = jobid, future
        future._set_jobid(jobid)


class FluxExecutorFuture(concurrent.futures.Future["Any"]):  # quoted: typing is for type checkers only
    """A ``concurrent.futures.Future`` for one job, with its ID and its events.

    ``jobid(timeout)``, ``add_jobid_callback(cb)`` and ``add_event_callback(name, cb)``
    (names in ``EVENTS``); callbacks may run in a worker thread, and their
    exceptions are logged, not raised.
    """

    EVENTS = MAIN_EVENTS

    def __init__(self, owning_thread_id: Optional[int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner_ident = owning_thread_id
        self._jobid_cond = threading.Condition()
        self._jobid_value: Optional[int] = None
        self._jobid_known = False
        self._jobid_error: Optional[BaseException] = None
        self._jobid_callbacks: list[Any] = []
        self._event_lock = threading.RLock()
        self._events_seen: dict[str, Any] = {name: collections.deque() for name in self.EVENTS}
        self._event_callbacks: dict[str, Any] = {name: collections.deque() for name in self.EVENTS}

    def _set_jobid(self, jobid: Optional[int], exc: Optional[BaseException] = None) -> None:
        """Set the job ID (or the error ``jobid()`` raises instead); once only."""
        if self._jobid_known:
            raise RuntimeError("invalid state: jobid already set")
        with self._jobid_cond:
            self._jobid_value = jobid
            self._jobid_known = True
            self._jobid_error = exc
            self._jobid_cond.notify_all()
        for callback in self._jobid_callbacks:
            self._invoke_flux_callback(callback)

    def _get_jobid(self) -> Optional[int]:
        if self._jobid_error is not None:
            raise self._jobid_error
        return self._jobid_value

    def jobid(self, timeout: Optional[float] = None) -> Optional[int]:
        """The job's ID, waiting up to ``timeout`` seconds (None: no limit).

        Raises ``concurrent.futures.TimeoutError``, ``CancelledError`` if the future
        was cancelled, RuntimeError if the job could not be submitted.
        """
        if self._jobid_known:
            return self._get_jobid()
        with self._jobid_cond:
            self._jobid_cond.wait(timeout)
            if self._jobid_known:
                return self._get_jobid()
        raise concurrent.futures.TimeoutError()

    def add_jobid_callback(self, callback: Callable[[Any], Any]) -> "FluxExecutorFuture":
        """Call ``callback(future)`` once the job ID is known (now, if it is)."""
        with self._jobid_cond:
            if self._jobid_value is None:
                self._jobid_callbacks.append(callback)
                return self
        self._invoke_flux_callback(callback)
        return self

    def add_done_callback(self, *args: Any, **kwargs: Any) -> "FluxExecutorFuture":  # type: ignore[override]
        """As ``concurrent.futures.Future.add_done_callback``, returning the future."""
        super().add_done_callback(*args, **kwargs)
        return self

    def _invoke_flux_callback(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            callback(self, *args)
        except Exception:
            logging.getLogger(__name__).exception("exception calling callback for %r", self)

    def _refuse_worker_wait(self) -> None:
        """A worker waiting on its own future would wait for itself forever."""
        if not self.done() and threading.get_ident() == self._owner_ident:
            raise RuntimeError("Cannot wait for future from inside callback")

    def exception(self, *args: Any, **kwargs: Any) -> Optional[BaseException]:
        self._refuse_worker_wait()
        return super().exception(*args, **kwargs)

    def result(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse_worker_wait()
        return super().result(*args, **kwargs)

    def set_exception(self, exception: Optional[BaseException]) -> None:
        """Also settle the job ID, if it never came, so that nobody waits for it."""
        try:
            self.jobid(0)
        except concurrent.futures.TimeoutError:
            self._set_jobid(None, RuntimeError(f"job could not be submitted due to {exception!r}"))
        return super().set_exception(exception)

    def cancel(self, *args: Any, **kwargs: Any) -> bool:
        """Cancel the future (not the job) while no worker has taken it."""
        if self.cancelled():
            return True
        cancelled = super().cancel(*args, **kwargs)
        if cancelled:
            try:
                self.jobid(0)
            except concurrent.futures.TimeoutError:
                self._set_jobid(None, concurrent.futures.CancelledError())
        return cancelled

    def add_event_callback(self, event: str, callback: Callable[..., Any]) -> "FluxExecutorFuture":
        """Call ``callback(future, EventLogEvent)`` at each ``event`` (for those already
        seen, now)."""
        if event not in self.EVENTS:
            raise ValueError(event)
        with self._event_lock:
            self._event_callbacks[event].append(callback)
            for log_entry in self._events_seen[event]:
                self._invoke_flux_callback(callback, log_entry)
        return self

    def _set_event(self, log_entry: Any) -> None:
        """Record an event and call its callbacks (for executors and tests)."""
        name = log_entry.name
        if name not in self.EVENTS:
            raise ValueError(name)
        with self._event_lock:
            self._events_seen[name].append(log_entry)
            for callback in list(self._event_callbacks[name]):
                self._invoke_flux_callback(callback, log_entry)


class _Worker(threading.Thread):
    """One executor thread: its own handle, a queue of work, the futures it follows."""

    def __init__(self, broken: threading.Event, shutdown: threading.Event,
                 queue: collections.deque[Any], poll_interval: float, handle_args: tuple[Any, ...],
                 handle_kwargs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import flux

        self._broken = broken
        self._shutdown = shutdown
        self._queue = queue
        self._poll = poll_interval
        self._h = flux.Flux(*handle_args, **handle_kwargs)
        self._following: set[Any] = set()

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:
            self._broken.set()
            for fut in self._following:
                if not fut.done():
                    fut.set_exception(exc)
            while self._queue or not self._shutdown.is_set():
                try:
                    self._queue.popleft().future.set_exception(exc)
                except IndexError:
                    time.sleep(0.01)
            raise

    def _loop(self) -> None:
        self._h.timer_watcher_create(self._poll, self._take_work, repeat=self._poll).start()
        while self._busy():
            self._take_work(in_reactor=False)
            if self._h.reactor_run() < 0:
                raise RuntimeError("reactor start failed")

    def _busy(self) -> bool:
        return not self._shutdown.is_set() or bool(self._queue) or bool(self._following)

    def _take_work(self, *_: Any, in_reactor: bool = True) -> None:
        if in_reactor and not self._busy():
            self._h.reactor_stop()
        if not self._following and not self._queue:
            time.sleep(self._poll)
        while self._queue:
            try:
                work = self._queue.popleft()
            except IndexError:
                continue
            if not work.future.set_running_or_notify_cancel():
                continue
            try:
                if isinstance(work, _Submit):
                    submit_async(self._h, *work.args, **work.kwargs).then(
                        self._submitted, work.future)
                else:
                    event_watch_async(self._h, work.jobid).then(self._on_event, work.future)
            except Exception as exc:
                work.future.set_exception(exc)
            else:
                self._following.add(work.future)

    def _submitted(self, submit_future: Any, user_future: FluxExecutorFuture) -> None:
        try:
            jobid = submit_get_id(submit_future)
        except Exception as exc:
            user_future.set_exception(exc)
            self._following.discard(user_future)
            return
        user_future._set_jobid(jobid)
        event_watch_async(self._h, jobid).then(self._on_event, user_future)

    def _on_event(self, watch: Any, user_future: FluxExecutorFuture) -> None:
        event = None
        try:
            event = watch.get_event()
        except FileNotFoundError:
            user_future.set_exception(ValueError("job ID does not match any job"))
        except Exception as exc:
            user_future.set_exception(exc)
        if event is None:
            self._following.discard(user_future)
            return
        if event.name in user_future.EVENTS:
            user_future._set_event(event)
        if user_future.done():
            return
        if event.name == "finish":
            status = event.context["status"]
            if os.WIFEXITED(status):
                user_future.set_result(os.WEXITSTATUS(status))
            elif os.WIFSIGNALED(status):
                user_future.set_result(-os.WTERMSIG(status))
            else:
                user_future.set_exception(ValueError(status))
        elif event.name == "exception" and event.context["severity"] == 0:
            user_future.set_exception(JobException(event))


class FluxExecutor:
    """Submit jobspecs and follow jobs from worker threads; see the module.

    ``threads`` workers, named ``thread_name_prefix-N``; each opens
    ``flux.Flux(*handle_args, **handle_kwargs)``.  A context manager: leaving
    it waits for every job to finish.
    """

    _counter = itertools.count().__next__
    EVENTS = MAIN_EVENTS

    def __init__(self, threads: int = 1, thread_name_prefix: str = "",
                 poll_interval: float = 0.1, handle_args: tuple[Any, ...] = (),
                 handle_kwargs: dict[str, Any] = {}) -> None:  # noqa: B006 - flux-core's signature
        if threads < 0:
            raise ValueError("the number of threads must be > 0")
        self._queues: list[collections.deque[Any]] = [collections.deque() for _ in range(threads)]
        self._next = 0
        self._shutdown_lock = threading.Lock()
        self._broken_event = threading.Event()
        self._shutdown_event = threading.Event()
        prefix = thread_name_prefix or f"{type(self).__name__}-{self._counter()}"
        self._threads = [
            _Worker(self._broken_event, self._shutdown_event, queue, poll_interval,
                    handle_args, handle_kwargs, name=f"{prefix}-{i}", daemon=True)
            for i, queue in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()
        self._finalizer = weakref.finalize(self, self._shutdown_threads,
                                           self._shutdown_event, self._threads)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new work; with ``wait``, return once every job followed has finished.
        ``cancel_futures`` cancels the futures no worker has taken yet."""
        with self._shutdown_lock:
            self._shutdown_event.set()
        if cancel_futures:
            for queue in self._queues:
                while queue:
                    try:
                        work = queue.popleft()
                    except IndexError:
                        continue
                    work.future.cancel()
                    work.future.set_running_or_notify_cancel()
        if wait:
            for thread in self._threads:
                thread.join()

    def submit(self, *args: Any, **kwargs: Any) -> FluxExecutorFuture:
        """Submit a job (``flux.job.submit``'s arguments, without the handle)."""
        return self._create_future(_Submit, args, kwargs)

    def attach(self, jobid: int) -> FluxExecutorFuture:
        """Follow an existing job as if it had been submitted here."""
        return self._create_future(_Attach, jobid)

    def _create_future(self, factory: Any, *factory_args: Any) -> FluxExecutorFuture:
        if self._broken_event.is_set():
            raise RuntimeError("Executor is broken, new futures cannot be scheduled")
        with self._shutdown_lock:
            if self._shutdown_event.is_set():
                raise RuntimeError("cannot schedule new futures after shutdown")
            fut = FluxExecutorFuture(self._threads[self._next].ident)
            self._queues[self._next].append(factory(*factory_args, fut))
            self._next = (self._next + 1) % len(self._queues)
            return fut

    def __enter__(self) -> "FluxExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown(wait=True)

    @staticmethod
    def _shutdown_threads(event: threading.Event, threads: list[Any]) -> None:
        """Stop the workers (a function of its arguments only, so that the executor
        itself can be collected)."""
        event.set()
        for thread in threads:
            thread.join()
