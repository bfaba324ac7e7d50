"""The job shell's PMI-1 server (flux-core's ``pmi-simple`` shell plugin): each task
gets one end of a socketpair as ``PMI_FD`` with ``PMI_RANK``/``PMI_SIZE``; the shell
reads its lines from the reactor and answers with flux.pmi's server core.

The PMI KVS starts with ``PMI_process_mapping`` (the job's task map, for MPI's
clique detection), ``flux.taskmap`` (RFC 34) and ``flux.instance-level`` (one more
than this instance's, read by a nested broker); the kvsname is the job's f58 id.
A barrier of a job of one shell completes at once; with several shells it waits for
the tree exchange of pmi_exchange.py.  ``-o pmi=LIST`` turns it off unless LIST
names ``simple`` (or its aliases ``pmi1``, ``pmi2``).
"""

from __future__ import annotations

import socket

from flux.pmi.server import SimpleServer
from flux.pmi.wire import MAX_LINE, VAL_MAX, PMIProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Hashable, Optional

    from flux.shell.info import ShellInfo

__all__ = ["ShellPMI", "enabled"]


def enabled(option: object) -> bool:
    """``-o pmi=LIST``: on unless given without simple/pmi1/pmi2."""
    if option is None:
        return True
    if not isinstance(option, str):
        raise ValueError("pmi shell option must be a string")
    names = option.split(",")
    return any(n in names for n in ("simple", "pmi1", "pmi2"))


class _Channel:
    """The shell's end of one task's PMI socketpair."""

    __slots__ = ("rank", "sock", "buf", "watcher", "out")

    def __init__(self, rank: int, sock: socket.socket) -> None:
        self.rank = rank
        self.sock: Optional[socket.socket] = sock
        self.buf = b""
        self.watcher: Any = None
        self.out = bytearray()


class ShellPMI:
    """One per shell.  ``task_fd(rank)`` makes a task's socketpair and returns the
    fd the task inherits; ``task_started(rank)`` closes the shell's copy of it."""

    def __init__(self, h: Any, info: ShellInfo, f58: str, service: str,
                 instance_level: Optional[str], on_abort: Callable[[str], None],
                 on_error: Callable[[str], None], warn: Callable[[str], None]) -> None:
        import json

        from flux.pmi import mapping as pmimap
        from flux.shell import taskmap

        self.h = h
        self.info = info
        self.on_abort = on_abort
        self.on_error = on_error
        self.warn = warn
        self.aborted = False
        config = info.option("pmi-simple", None)
        config = config if isinstance(config, dict) else {}
        kvs: dict[str, str] = {}
        tmap = taskmap.encode(info.counts)
        if not config.get("nomap"):
            text = pmimap.to_pmi(tmap["map"])
            if len(text) < VAL_MAX:
                kvs["PMI_process_mapping"] = text
            elif info.shell_rank == 0:
                warn("PMI_process_mapping overflows PMI max value.")
            wrapped = json.dumps(tmap, separators=(",", ":"))
            if len(wrapped) < VAL_MAX:
                kvs["flux.taskmap"] = wrapped
        if instance_level is not None:
            try:
                level = int(instance_level)
            except ValueError:
                level = -1
            if level >= 0:
                kvs["flux.instance-level"] = str(level + 1)
        self.exchange = None
        if info.shell_size > 1:
            from flux.shell.pmi_exchange import Exchange

            exch = config.get("exchange")
            k = exch.get("k", 0) if isinstance(exch, dict) else 0
            self.exchange = Exchange(h, service, info.shell_rank, info.ranks,
                                     k if isinstance(k, int) else 0, warn)
        self.server = SimpleServer(info.total_ntasks, kvsname=f58, appnum=0,
                                   local_size=len(info.taskids), kvs=kvs,
                                   on_abort=self._abort,
                                   on_barrier=self._barrier if self.exchange else None)
        self.channels: dict[int, _Channel] = {}
        self.theirs: dict[int, socket.socket] = {}

    # -- tasks ----------------------------------------------------------------------------

    def register(self) -> None:
        if self.exchange is not None:
            self.exchange.register()

    def task_env(self, rank: int) -> dict[str, str]:
        """The PMI environment of a task (its fd made here)."""
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        self.theirs[rank] = theirs
        self.channels[rank] = _Channel(rank, ours)
        return {"PMI_FD": str(theirs.fileno()), "PMI_RANK": str(rank),
                "PMI_SIZE": str(self.info.total_ntasks)}

    def task_fds(self, rank: int) -> tuple[int, ...]:
        sock = self.theirs.get(rank)
        return (sock.fileno(),) if sock is not None else ()

    def task_started(self, rank: int) -> None:
        """Close the task's end here and start reading ours (also after a failed start)."""
        from flux.constants import FLUX_POLLIN

        theirs = self.theirs.pop(rank, None)
        if theirs is not None:
            theirs.close()
        chan = self.channels.get(rank)
        if chan is not None and chan.sock is not None and chan.watcher is None:
            chan.watcher = self.h.fd_watcher_create(chan.sock.fileno(), self._readable,
                                                    FLUX_POLLIN, chan)
            chan.watcher.start()

    def close(self) -> None:
        for rank in list(self.channels):
            self._close(self.channels[rank])
        for sock in self.theirs.values():
            sock.close()
        self.theirs.clear()
        if self.exchange is not None:
            self.exchange.stop()

    # -- the protocol ---------------------------------------------------------------------

    def _readable(self, h: Any, watcher: Any, fd: int, revents: int, chan: _Channel) -> None:
        assert chan.sock is not None
        try:
            data = chan.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(chan)  # EOF: the task closed it or exited
            return
        chan.buf += data
        while b"\n" in chan.buf:
            line, _, chan.buf = chan.buf.partition(b"\n")
            if not self._line(chan, line.decode("utf-8", "replace") + "\n"):
                return
        if len(chan.buf) > MAX_LINE:
            self._protocol_error(chan)

    def _line(self, chan: _Channel, line: str) -> bool:
        try:
            replies, finalized = self.server.request(chan.rank, line)
        except PMIProtocolError:
            self._protocol_error(chan)
            return False
        self._send(replies)
        return True

    def _protocol_error(self, chan: _Channel) -> None:
        self._close(chan)
        if not self.aborted:  # tasks killed after an abort may write garbage: not fatal
            self.on_error("PMI-1 wire protocol error")

    def _send(self, replies: list[tuple[Hashable, str]]) -> None:
        for client, text in replies:
            chan = self.channels.get(client)  # type: ignore[call-overload]
            if chan is None or chan.sock is None:
                continue
            try:
                chan.sock.setblocking(True)  # replies are short: no need to queue them
                chan.sock.sendall(text.encode())
            except OSError:
                self._close(chan)
                continue
            chan.sock.setblocking(False)

    def _close(self, chan: _Channel) -> None:
        if chan.watcher is not None:
            chan.watcher.stop()
            chan.watcher = None
        if chan.sock is not None:
            chan.sock.close()
            chan.sock = None

    def _abort(self, client: Hashable, code: int, text: str) -> None:
        self.aborted = True
        self.on_abort(f"PMI_Abort: {text}" if text else "PMI_Abort")

    def _barrier(self) -> None:
        """Every task of this shell is in the barrier: exchange with the other shells."""
        assert self.exchange is not None
        try:
            self.exchange.start(dict(self.server.pending), self._exchanged)
        except OSError as exc:
            self.warn(f"pmi_exchange {exc.strerror}")
            self._send(self.server.barrier_complete(-1))

    def _exchanged(self, entries: Optional[dict[str, str]]) -> None:
        if entries is None:
            self.warn("exchange failed")
            self._send(self.server.barrier_complete(-1))
            return
        self.server.merge(entries)
        self._send(self.server.barrier_complete(0))
