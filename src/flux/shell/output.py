"""Task standard output and error (RFC 24): ``data`` entries of the ``output`` eventlog
in the job's guest namespace (after its ``header``), or files (``--output``/``--error``,
templates rendered, ``{{taskid}}`` giving one file per task, lines labelled ``RANK: ``
with ``output.<stream>.label``).  Data that is not UTF-8 is sent base64 encoded, as
flux-core's ioencode does; a multi-byte character cut between two reads is kept for
the next one."""

from __future__ import annotations

import os

from flux.ioencode import ioencode
from flux.shell import mustache

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from flux.shell.info import ShellInfo
    from flux.shell.kvsappend import Appender

__all__ = ["Output", "ioencode"]

STREAMS = ("stdout", "stderr")


def _utf8_split(data: bytes) -> int:
    """How many bytes of ``data`` end on a character boundary (an incomplete UTF-8
    sequence of up to 3 bytes at its end is left for later)."""
    n = len(data)
    for back in range(1, min(3, n) + 1):
        b = data[n - back]
        if b & 0xC0 == 0x80:  # continuation byte: keep looking for the lead
            continue
        if b & 0x80 == 0:
            return n
        need = 2 if b & 0xE0 == 0xC0 else 3 if b & 0xF0 == 0xE0 else 4 if b & 0xF8 == 0xF0 else 1
        return n if back >= need else n - back
    return n


#: a line longer than this is passed on in pieces (libsubprocess's default buffer size)
_LINE_MAX = 4 << 20

class _FileDest:
    """One open output file, shared by the streams and tasks that write to it."""

    def __init__(self, path: str, label: bool) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)
        self.label = label
        self.partial: dict[tuple[str, int], bytes] = {}

    def write(self, stream: str, rank: int, data: bytes) -> None:
        if self.label:
            buf = self.partial.pop((stream, rank), b"") + data
            lines = buf.split(b"\n")
            rest = lines.pop()
            if rest:
                self.partial[(stream, rank)] = rest
            data = b"".join(f"{rank}: ".encode() + line + b"\n" for line in lines)
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def eof(self, stream: str, rank: int) -> None:
        rest = self.partial.pop((stream, rank), b"")
        if rest:
            self.label = False
            try:
                self.write(stream, rank, f"{rank}: ".encode() + rest + b"\n")
            finally:
                self.label = True

    def close(self) -> None:
        os.close(self.fd)


class Output:
    """Where each task's stdout and stderr go."""

    def __init__(self, info: ShellInfo, appender: Appender) -> None:
        self.info = info
        self.appender = appender
        self.files: dict[str, _FileDest] = {}
        self.pending: dict[tuple[str, int], bytes] = {}
        self.leader = info.shell_rank == 0
        self.paths: dict[str, str | None] = {}
        for stream in STREAMS:
            kind = info.option(f"output.{stream}.type")
            path = info.option(f"output.{stream}.path")
            self.paths[stream] = path if kind == "file" and isinstance(path, str) else None
        if self.paths["stderr"] is None and self.paths["stdout"] is not None:
            # flux-core: stderr follows stdout into its file unless told otherwise
            self.paths["stderr"] = self.paths["stdout"]
            self.labels = {"stderr": bool(info.option("output.stdout.label", False))}
        else:
            self.labels = {}
        for stream in STREAMS:
            self.labels.setdefault(stream, bool(info.option(f"output.{stream}.label", False)))
        self.line_buffered = {
            stream: str(info.option(f"output.{stream}.buffer.type", "line")).lower() != "none"
            for stream in STREAMS}

    def header(self) -> None:
        """The ``output`` eventlog's header (written by the leader shell)."""
        if not self.leader:
            return
        n = self.info.total_ntasks
        self.appender.append("output", "header", {
            "version": 1, "encoding": {"stdout": "UTF-8", "stderr": "UTF-8"},
            "count": {"stdout": n, "stderr": n}, "options": {}})

    def _file(self, stream: str, rank: int, localid: int) -> _FileDest | None:
        template = self.paths[stream]
        if template is None:
            return None
        path = mustache.render(template, self.info.mustache(rank, localid), self.info.jobid)
        dest = self.files.get(path)
        if dest is None:
            dest = self.files[path] = _FileDest(path, self.labels[stream])
        return dest

    def open_task(self, rank: int, localid: int) -> None:
        """Open (create, truncate) the files of a task before it starts."""
        for stream in STREAMS:
            self._file(stream, rank, localid)

    def write(self, stream: str, rank: int, localid: int, data: bytes) -> None:
        dest = self._file(stream, rank, localid)
        if dest is not None:
            dest.write(stream, rank, data)
            return
        key = (stream, rank)
        if key in self.pending:
            data = self.pending.pop(key) + data
        if self.line_buffered[stream]:
            # flux-core's default (``output.STREAM.buffer.type=line``): one ``data``
            # entry per line, a partial line held until its newline (or EOF, or the
            # buffer's size), so a reader such as ``attach --label-io`` sees whole lines
            end = data.rfind(b"\n") + 1
            if end == 0 and len(data) < _LINE_MAX:
                self.pending[key] = data
                return
            if 0 < end < len(data):
                self.pending[key] = data[end:]
                data = data[:end]
            start = 0
            while start < len(data):
                stop = data.find(b"\n", start) + 1 or len(data)
                self.appender.append("output", "data",
                                     ioencode(stream, str(rank), data[start:stop]))
                start = stop
            return
        cut = _utf8_split(data)
        if cut < len(data):
            self.pending[key] = data[cut:]
            data = data[:cut]
        if data:
            self.appender.append("output", "data", ioencode(stream, str(rank), data))

    def eof(self, stream: str, rank: int, localid: int) -> None:
        dest = self._file(stream, rank, localid)
        if dest is not None:
            dest.eof(stream, rank)
            return
        rest = self.pending.pop((stream, rank), b"")
        if rest:
            self.appender.append("output", "data", ioencode(stream, str(rank), rest))
        self.appender.append("output", "data", ioencode(stream, str(rank), None, eof=True))

    def log(self, level: int, message: str, extra: dict | None = None) -> None:
        """A shell log message in the output eventlog (what attach prints)."""
        context: dict = {"rank": self.info.shell_rank, "level": level, "message": message}
        if extra:
            context.update(extra)
        self.appender.append("output", "log", context)

    def close(self) -> None:
        for dest in self.files.values():
            dest.close()
        self.files.clear()
