"""A blocking PMI-1 simple client: what a broker launched by a PMI-1 launcher
(``flux start --test-size``, mpich's hydra, Slurm) uses to learn its rank and
size and to exchange business cards.

The launcher passes ``PMI_FD`` (an inherited socket) or ``PMI_PORT``
(``host:port``), ``PMI_RANK`` and ``PMI_SIZE``.
"""

from __future__ import annotations

import socket
TYPE_CHECKING = False  # typing costs ~5 ms to import at run time
if TYPE_CHECKING:  # pragma: no cover
    from typing import Mapping, Optional

from .wire import MAX_LINE, PMIProtocolError, format_line, parse

__all__ = ["PMIError", "SimpleClient", "from_environ"]


class PMIError(OSError):
    """A PMI request failed (``rc`` is the PMI return code) or the server went away."""

    def __init__(self, text: str, rc: int = -1) -> None:
        super().__init__(text)
        self.rc = rc


class SimpleClient:
    """One rank's connection to a PMI-1 simple server (``sock`` is connected)."""

    def __init__(self, sock: socket.socket, rank: int, size: int) -> None:
        self.sock = sock
        self.rank = rank
        self.size = size
        self.kvsname = ""
        self._buf = b""
        self.initialized = False

    # -- the exchange of one line each way --------------------------------------------

    def _readline(self) -> str:
        while b"\n" not in self._buf:
            data = self.sock.recv(4096)
            if not data:
                raise PMIError("PMI server closed the connection")
            self._buf += data
            if len(self._buf) > 4 * MAX_LINE:
                raise PMIError("PMI server sent an overlong line")
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _call(self, line: str, expect: str) -> dict[str, str]:
        try:
            self.sock.sendall(line.encode())
            resp = parse(self._readline())
        except PMIProtocolError as exc:
            raise PMIError(str(exc)) from None
        except PMIError:
            raise
        except OSError as exc:
            raise PMIError(f"PMI server connection: {exc.strerror or exc}") from None
        if resp.get("cmd") != expect:
            raise PMIError(f"expected cmd={expect}, got {resp.get('cmd')!r}")
        rc = int(resp.get("rc", "0") or 0)
        if rc != 0:
            raise PMIError(f"{expect}: rc={rc}", rc)
        return resp

    # -- PMI-1 calls -------------------------------------------------------------------

    def init(self) -> None:
        """``init``, then learn the KVS name (and check the universe size)."""
        self._call(format_line("init", pmi_version=1, pmi_subversion=1), "response_to_init")
        self._call(format_line("get_maxes"), "maxes")
        self.kvsname = self._call(format_line("get_my_kvsname"), "my_kvsname").get("kvsname", "")
        size = int(self._call(format_line("get_universe_size"), "universe_size").get("size", "0"))
        if size > 0 and size != self.size:  # hydra answers -1 (unknown)
            raise PMIError(f"PMI universe size {size} differs from PMI_SIZE={self.size}")
        self.initialized = True

    def put(self, key: str, value: str) -> None:
        self._call(format_line("put", kvsname=self.kvsname, key=key, value=value), "put_result")

    def get(self, key: str) -> Optional[str]:
        """The value of ``key``, None where the server has none."""
        try:
            return self._call(format_line("get", kvsname=self.kvsname, key=key),
                              "get_result").get("value")
        except PMIError as exc:
            if exc.rc > 0:
                return None
            raise

    def get_many(self, keys: list[str]) -> list[Optional[str]]:
        """``get`` of each key, the requests written at once and the answers read in
        order: one round trip to the server instead of one per key (a broker reads
        every rank's business card; each round trip waits for the launcher to be
        scheduled, behind every other broker starting on the machine)."""
        if not keys:
            return []
        lines = "".join(format_line("get", kvsname=self.kvsname, key=k) for k in keys)
        try:
            self.sock.sendall(lines.encode())
        except OSError as exc:
            raise PMIError(f"PMI server connection: {exc.strerror or exc}") from None
        values: list[Optional[str]] = []
        first_error: Optional[PMIError] = None
        for _ in keys:
            try:
                resp = parse(self._readline())
            except PMIProtocolError as exc:
                raise PMIError(str(exc)) from None
            except OSError as exc:
                raise PMIError(f"PMI server connection: {exc.strerror or exc}") from None
            if resp.get("cmd") != "get_result":
                raise PMIError(f"expected cmd=get_result, got {resp.get('cmd')!r}")
            rc = int(resp.get("rc", "0") or 0)
            if rc > 0:
                values.append(None)
            elif rc < 0:
                values.append(None)
                first_error = first_error or PMIError(f"get_result: rc={rc}", rc)
            else:
                values.append(resp.get("value"))
        if first_error is not None:  # every answer is read first: the stream stays in step
            raise first_error
        return values

    def barrier(self) -> None:
        self._call(format_line("barrier_in"), "barrier_out")

    def finalize(self) -> None:
        try:
            if self.initialized:
                self._call(format_line("finalize"), "finalize_ack")
        finally:
            self.close()

    def abort(self, code: int, text: str) -> None:
        try:
            self.sock.sendall(format_line("abort", exitcode=code, error_msg=text).encode())
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def from_environ(env: Mapping[str, str]) -> Optional[SimpleClient]:
    """A client for the launcher that started us, or None without ``PMI_RANK``/``PMI_SIZE``
    and a way to reach the server (``PMI_FD`` or ``PMI_PORT``)."""
    try:
        rank = int(env["PMI_RANK"])
        size = int(env["PMI_SIZE"])
    except (KeyError, ValueError):
        return None
    if "PMI_FD" in env:
        try:
            fd = int(env["PMI_FD"])
            sock = socket.socket(fileno=fd)
        except (ValueError, OSError) as exc:
            raise PMIError(f"PMI_FD={env['PMI_FD']}: {exc}") from None
    elif "PMI_PORT" in env:
        host, _, port = env["PMI_PORT"].rpartition(":")
        try:
            sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=30)
            sock.settimeout(None)
        except (ValueError, OSError) as exc:
            raise PMIError(f"PMI_PORT={env['PMI_PORT']}: {exc}") from None
    else:
        return None
    sock.setblocking(True)
    return SimpleClient(sock, rank, size)
