"""One ``kvs-watch.lookup`` request: its flags, what it has sent, what it answers next.

Sans-I/O: the service looks the key up and hands the result to :meth:`Watcher.first`
(the lookup made when the watch starts, or when its namespace appears) or
:meth:`Watcher.next` (after a commit that may have changed it); both return
the responses to send, in order:

* ``VALUE``: ``{"val": <the lookup's value>}`` (built once by the service for
  every watcher that shares the lookup);
* bytes: one blob of an appended value (the service sends ``{"val": <a val of them>}``);
* ``SENTINEL``: the empty response of WATCH_INITIAL_SENTINEL;
* an :class:`End`: the error response that ends the stream (always last).

The semantics are flux-core's kvs-watch module's:

* the first response is the current value; a missing key is ENOENT, unless
  WAITCREATE, which waits for a commit that creates it;
* later, a lookup that finds the key missing ends the stream with ENOENT
  (the key was removed), other errors end it too;
* WATCH_UNIQ and WATCH_FULL send a value only if it differs from the last one
  sent (FULL differs in *when* the service looks: after every commit, see
  ``monitor.py``);
* WATCH_APPEND sends each blob of a ``valref`` as its own ``val``, first all
  of them, then only those appended since; a value rewritten (no longer a
  valref, or with fewer blobs) ends the stream with EINVAL;
* STREAM sends the value's blobs the same way, then ENODATA;
* WAITCREATE without WATCH is a lookup that waits: one response.

One deliberate difference: flux-core keeps a non-streaming request
(neither WATCH nor STREAM) without WAITCREATE after its one response and
would answer it again after a later commit; here it ends after its answer.
"""

from __future__ import annotations

import errno

from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_KVS_READLINK,
    FLUX_KVS_STREAM,
    FLUX_KVS_TREEOBJ,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_KVS_WATCH_UNIQ,
)
from flux.services.kvs import treeobj

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

__all__ = ["SENTINEL", "VALUE", "End", "Watcher", "check_flags"]

VALUE = "value"
SENTINEL = "sentinel"

_WATCH = FLUX_KVS_WATCH
_STREAM = FLUX_KVS_STREAM
_COMPARE = FLUX_KVS_WATCH_FULL | FLUX_KVS_WATCH_UNIQ
_PIECES = FLUX_KVS_WATCH_APPEND | FLUX_KVS_STREAM
_LOOKUP = FLUX_KVS_READDIR | FLUX_KVS_READLINK | FLUX_KVS_TREEOBJ
_WATCH_ONLY = (FLUX_KVS_WATCH_FULL | FLUX_KVS_WATCH_UNIQ | FLUX_KVS_WATCH_APPEND
               | FLUX_KVS_WATCH_INITIAL_SENTINEL)


class End:
    """The error response that ends a stream."""

    __slots__ = ("errnum", "text")

    def __init__(self, errnum: int, text: str | None = None) -> None:
        self.errnum = errnum
        self.text = text

    def __repr__(self) -> str:
        return f"End({errno.errorcode.get(self.errnum, self.errnum)}, {self.text!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, End) and other.errnum == self.errnum
                and other.text == self.text)

    __hash__ = None  # type: ignore[assignment]


def check_flags(flags: int, streaming: bool) -> None:
    """OSError (errno, flux-core's text) unless ``flags`` make a valid watch request."""
    if flags & _WATCH and not streaming:
        raise OSError(errno.EPROTO, "KVS watch request rejected without streaming RPC flag")
    if flags & _STREAM and not streaming:
        raise OSError(errno.EPROTO, "KVS stream request rejected without streaming RPC flag")
    if flags & _WATCH and flags & _STREAM:
        raise OSError(errno.EINVAL, "Cannot KVS watch and stream at the same time")
    if not flags & _WATCH and flags & _WATCH_ONLY:
        raise OSError(errno.EINVAL, "Must set KVS watch flag with other watch flags")
    if flags & FLUX_KVS_WATCH_INITIAL_SENTINEL and not flags & FLUX_KVS_WATCH_APPEND:
        raise OSError(errno.EINVAL, "Must set KVS watch append flag with initial sentinel flag")


class Watcher:
    """The state of one watch (see the module docstring)."""

    __slots__ = (
        "done",
        "end",
        "flags",
        "key",
        "lookup_flags",
        "namespace",
        "prev",
        "request",
        "responded",
        "rootseq",
        "sentinel_sent",
    )

    def __init__(self, request: Any, namespace: str, key: str, flags: int) -> None:
        self.request = request
        self.namespace = namespace
        self.key = key  # normalized: compared with the keys a commit names
        self.flags = flags
        #: the flags the lookup reads (watchers that agree on them share a lookup); pieces
        #: need the stored object (a valref's blobrefs), not its assembled value
        self.lookup_flags = flags & _LOOKUP | (FLUX_KVS_TREEOBJ if flags & _PIECES else 0)
        self.rootseq = -1  # root version of the last lookup
        self.responded = False
        self.prev: Any = None  # the last value sent (UNIQ, FULL)
        self.end = -1  # index of the last blob sent (APPEND, STREAM)
        self.sentinel_sent = False
        self.done = False

    @property
    def full(self) -> bool:
        """Whether every commit of the namespace needs a look (WATCH_FULL)."""
        return bool(self.flags & FLUX_KVS_WATCH_FULL)

    def first(self, val: Any, errnum: int, rootseq: int,
              load: Callable[[str], bytes]) -> list:
        """The responses to the watch's first lookup: ``val``, or ``errnum`` if it failed."""
        self.rootseq = rootseq
        if errnum:
            if errnum == errno.ENOENT and self.flags & FLUX_KVS_WAITCREATE:
                return self._sentinel([])
            return self._end([], errnum)
        flags = self.flags
        if flags & _COMPARE:
            self.prev = val
        if flags & _PIECES:
            out = self._pieces(val, load)
            if self.done:
                return out
        else:
            out = [VALUE]
        self._sentinel(out)
        return self._answered(out)

    def next(self, val: Any, errnum: int, rootseq: int,
             load: Callable[[str], bytes]) -> list:
        """The responses to a lookup made after a commit at version ``rootseq``."""
        if rootseq <= self.rootseq or self.done:
            return []
        self.rootseq = rootseq
        if errnum:
            return self._end([], errnum)
        flags = self.flags
        if flags & _COMPARE:
            if self.responded and val == self.prev:
                return []
            self.prev = val
            out = [VALUE]
        elif flags & _PIECES:
            if self.responded:
                return self._appended(val, load)
            out = self._pieces(val, load)
            if self.done:
                return out
        else:
            out = [VALUE]
        return self._answered(out)

    def cancel(self) -> list:
        """``kvs-watch.cancel``: the stream ends with ENODATA."""
        return [] if self.done else self._end([], errno.ENODATA)

    # -- helpers ----------------------------------------------------------------------

    def _answered(self, out: list) -> list:
        self.responded = True
        if self.flags & _STREAM:
            return self._end(out, errno.ENODATA)
        if not self.flags & _WATCH:
            self.done = True  # a lookup (that waited): one answer
        return out

    def _pieces(self, val: dict, load: Callable[[str], bytes]) -> list:
        """All of a value, blob by blob: a ``val`` as it is, a ``valref``'s blobs each."""
        typ = val.get("type")
        if typ == "val":
            self.end = 0
            return [VALUE]
        if typ == "valref":
            return self._blobs(val, 0, load)
        name = treeobj.type_name(val)
        if self.flags & FLUX_KVS_WATCH_APPEND:
            text = f"{name} cannot be watched with WATCH_APPEND"
        else:
            text = f"{name} cannot be streamed"
        return self._end([], errno.EISDIR if typ in ("dir", "dirref") else errno.EINVAL, text)

    def _appended(self, val: dict, load: Callable[[str], bytes]) -> list:
        """What an APPEND watch sends after a commit: the blobs added since the last."""
        if val.get("type") != "valref":
            return self._end([], errno.EINVAL,
                             "value of key watched with WATCH_APPEND overwritten")
        last = len(val["data"]) - 1
        if last > self.end:
            return self._blobs(val, self.end + 1, load)
        if last < self.end:
            return self._end([], errno.EINVAL, "key watched with WATCH_APPEND shortened")
        return []

    def _blobs(self, valref: dict, start: int, load: Callable[[str], bytes]) -> list:
        refs = valref["data"]
        out: list = []
        for ref in refs[start:]:
            try:
                data = load(ref)
            except OSError as exc:
                return self._end(out, exc.errno or errno.EIO, "failed to load content data")
            out.append(data)
        self.end = len(refs) - 1
        return out

    def _sentinel(self, out: list) -> list:
        if self.flags & FLUX_KVS_WATCH_INITIAL_SENTINEL and not self.sentinel_sent:
            self.sentinel_sent = True
            out.append(SENTINEL)
        return out

    def _end(self, out: list, errnum: int, text: str | None = None) -> list:
        self.done = True
        out.append(End(errnum, text))
        return out
