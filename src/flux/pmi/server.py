"""A PMI-1 simple server core, sans I/O.

The caller reads lines from each client (a rank) and feeds them to
:meth:`SimpleServer.request`; the server answers with ``(client, line)``
pairs for the caller to write (a barrier answers every client at once).
It keeps the KVS (a dict shared by all ranks, pre-loaded with e.g.
``PMI_process_mapping``) and counts barrier entries.  Nothing here knows
about brokers, sockets or processes, so ``flux start --test-size`` and a job
shell can both drive it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs a shell ~5 ms to import at run time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Hashable, Optional

from .wire import (
    KEY_MAX,
    KVSNAME_MAX,
    PMI_ERR_INVALID_KEY,
    PMI_ERR_INVALID_KEY_LENGTH,
    PMI_ERR_INVALID_LENGTH,
    PMI_ERR_INVALID_VAL_LENGTH,
    PMI_FAIL,
    VAL_MAX,
    PMIProtocolError,
    format_line,
    parse,
)

__all__ = ["SimpleServer"]

#: (client, line): one line the caller must send to one client
if TYPE_CHECKING:  # pragma: no cover
    Reply = tuple[Hashable, str]


class SimpleServer:
    """The state of one PMI-1 job: its KVS, its barrier, its clients.

    ``size`` is the universe size, ``local_size`` the number of clients this
    server sees (a barrier completes when that many have entered it).
    ``on_abort(client, code, text)`` is called for ``cmd=abort``.
    ``on_barrier()``, if given, is called when every local client has entered
    a barrier, instead of completing it: the caller exchanges :attr:`pending`
    (the puts since the last barrier) with the other servers of the job,
    merges what it receives with :meth:`merge`, then calls
    :meth:`barrier_complete` (a job shell of several nodes does this).
    """

    def __init__(self, size: int, kvsname: str = "-", appnum: int = 0,
                 local_size: Optional[int] = None, kvs: Optional[dict[str, str]] = None,
                 on_abort: Optional[Callable[[Hashable, int, str], None]] = None,
                 on_barrier: Optional[Callable[[], None]] = None) -> None:
        self.size = size
        self.local_size = size if local_size is None else local_size
        self.kvsname = kvsname
        self.appnum = appnum
        self.kvs: dict[str, str] = dict(kvs or {})
        self.on_abort = on_abort
        self.on_barrier = on_barrier
        #: puts since the last barrier (what a distributed barrier exchanges)
        self.pending: dict[str, str] = {}
        self.clients: dict[Hashable, bool] = {}  # client -> inside a spawn mcmd block
        self.barrier_count = 0
        self.barriers = 0  # completed barriers (for tests and traces)

    def request(self, client: Hashable, line: str) -> tuple[list[Reply], bool]:
        """Handle one line from ``client``; returns the replies and whether the
        client finalized (its channel may be closed).  Raises PMIProtocolError
        on a line that is not the protocol (flux-core's server answers none)."""
        if self.clients.setdefault(client, False):  # spawn (unsupported): skip to endcmd
            if line.strip() != "endcmd":
                return [], False
            self.clients[client] = False
            return [(client, format_line("spawn_result", rc=-1))], False
        req = parse(line)
        if req.get("mcmd") == "spawn":
            self.clients[client] = True
            return [], False
        cmd = req.get("cmd")
        handler = _COMMANDS.get(cmd or "")
        if handler is None:
            raise PMIProtocolError(f"unknown PMI command {cmd!r}")
        return handler(self, client, req)

    # -- commands ------------------------------------------------------------------

    def _init(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        try:
            version = int(req["pmi_version"])
            subversion = int(req["pmi_subversion"])
        except (KeyError, ValueError):
            raise PMIProtocolError("init without pmi_version/pmi_subversion") from None
        if version != 1 or subversion < 1:
            return [(client, format_line("response_to_init", rc=-1))], False
        return [(client, format_line("response_to_init", rc=0, pmi_version=1,
                                     pmi_subversion=1))], False

    def _maxes(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        return [(client, format_line("maxes", rc=0, kvsname_max=KVSNAME_MAX,
                                     keylen_max=KEY_MAX, vallen_max=VAL_MAX))], False

    def _abort(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        code_s = req.get("exitcode", req.get("exit_code", "1"))
        try:
            code = int(code_s)
        except ValueError:
            code = 1
        if self.on_abort is not None:
            self.on_abort(client, code, req.get("error_msg", "aborted"))
        return [], False

    def _finalize(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        return [(client, format_line("finalize_ack", rc=0))], True

    def _universe(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        return [(client, format_line("universe_size", rc=0, size=self.size))], False

    def _appnum(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        return [(client, format_line("appnum", rc=0, appnum=self.appnum))], False

    def _kvsname(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        return [(client, format_line("my_kvsname", rc=0, kvsname=self.kvsname))], False

    def _put(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        rc = self._check(req, "put_result", with_value=True)
        if rc == 0:
            self.kvs[req["key"]] = req["value"]  # a second put replaces (as flux-start's)
            self.pending[req["key"]] = req["value"]
        return [(client, format_line("put_result", rc=rc))], False

    def _get(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        rc = self._check(req, "get_result", with_value=False)
        if rc == 0:
            value = self.kvs.get(req["key"])
            if value is not None:
                return [(client, format_line("get_result", rc=0, value=value))], False
            rc = PMI_ERR_INVALID_KEY
        return [(client, format_line("get_result", rc=rc))], False

    def _check(self, req: dict[str, str], what: str, with_value: bool) -> int:
        for name in ("kvsname", "key") + (("value",) if with_value else ()):
            if name not in req:
                raise PMIProtocolError(f"{what}: no {name}")
        if len(req["kvsname"]) >= KVSNAME_MAX:
            return PMI_ERR_INVALID_LENGTH
        if len(req["key"]) >= KEY_MAX:
            return PMI_ERR_INVALID_KEY_LENGTH
        if with_value and len(req["value"]) >= VAL_MAX:
            return PMI_ERR_INVALID_VAL_LENGTH
        return 0

    def _barrier(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        self.barrier_count += 1
        if self.barrier_count < self.local_size:
            return [], False
        if self.on_barrier is not None:
            self.on_barrier()
            return [], False
        return self.barrier_complete(0), False

    def merge(self, entries: dict[str, str]) -> None:
        """Add what other servers of the job put (after a distributed barrier)."""
        self.kvs.update(entries)

    def barrier_complete(self, rc: int = 0) -> list[Reply]:
        """Release every client from the barrier (``rc`` PMI_FAIL: it failed)."""
        self.barrier_count = 0
        self.barriers += 1
        self.pending = {}
        line = format_line("barrier_out", rc=rc)
        return [(c, line) for c in self.clients]

    def _unsupported(self, client: Hashable, req: dict[str, str]) -> tuple[list[Reply], bool]:
        name = {"publish_name": "publish_result", "unpublish_name": "unpublish_result",
                "lookup_name": "lookup_result"}[req["cmd"]]
        return [(client, format_line(name, rc=PMI_FAIL, msg="command not implemented"))], False


_COMMANDS: dict[str, Callable[[SimpleServer, Hashable, dict[str, str]],
                              tuple[list[Reply], bool]]] = {
    "init": SimpleServer._init,
    "get_maxes": SimpleServer._maxes,
    "abort": SimpleServer._abort,
    "finalize": SimpleServer._finalize,
    "get_universe_size": SimpleServer._universe,
    "get_appnum": SimpleServer._appnum,
    "get_my_kvsname": SimpleServer._kvsname,
    "put": SimpleServer._put,
    "get": SimpleServer._get,
    "barrier_in": SimpleServer._barrier,
    "publish_name": SimpleServer._unsupported,
    "unpublish_name": SimpleServer._unsupported,
    "lookup_name": SimpleServer._unsupported,
}
