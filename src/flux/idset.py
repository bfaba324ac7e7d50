"""RFC 22 idsets: flux-core's ``flux.idset`` in pure Python.

An :class:`IDset` stores sorted, disjoint, non-adjacent ``(lo, hi)`` ranges, so
``IDset("0-2000000000")`` costs one pair, not two billion ints.  Text forms,
limits (ids below 2**31) and failures are libidset's: a string libidset refuses
is a ``ValueError("IDset(): Invalid argument: ...")``, an id libidset refuses to
set is an ``OSError`` with libidset's errno.
"""

from __future__ import annotations

import bisect
import errno
from collections.abc import Iterable
import os

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any, Optional

__all__ = [
    "IDset",
    "IDsetIterator",
    "decode",
    "IDSET_INVALID_ID",
    "IDSET_FLAG_RANGE",
    "IDSET_FLAG_BRACKETS",
]

_UINT_MAX = 2**32 - 1
_ULONG_MAX = 2**64 - 1
IDSET_INVALID_ID = _UINT_MAX - 1
IDSET_FLAG_BRACKETS = 2
IDSET_FLAG_RANGE = 4
#: libidset grows a set up to this many ids; larger ids are ERANGE
_MAX_UNIVERSE = 2**31
_ENCODE_FLAGS = IDSET_FLAG_BRACKETS | IDSET_FLAG_RANGE


def _oserror(errnum: int) -> OSError:
    """An error worded as flux-core's C wrapper words it (``ERANGE: ...``)."""
    name = errno.errorcode.get(errnum, f"Errno{errnum}")
    return OSError(errnum, f"{name}: {os.strerror(errnum)}")


def _check_uint(value: int) -> None:
    """C's ``unsigned int`` parameter: what cffi refuses, refuse the same way."""
    if value > _UINT_MAX:
        raise OverflowError(f"integer {value} does not fit '32-bit unsigned int'")


def _valid_id(value: int) -> bool:
    return value not in (_UINT_MAX, IDSET_INVALID_ID)


class _Invalid(Exception):
    """A string libidset would not decode."""


def _strtoul_check(text: str, pos: int) -> tuple[int, int]:
    """(value, end) of the decimal at ``pos``; _Invalid as libidset's strtoul_check."""
    end = pos
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    if end == pos:
        raise _Invalid  # no digits, or a sign/space first
    if text[pos] == "0" and end - pos > 1:
        raise _Invalid  # leading zero (RFC 22)
    value = int(text[pos:end])
    if value > _ULONG_MAX:
        raise _Invalid  # strtoul: ERANGE
    return value, end


def _parse_range(token: str) -> tuple[int, int]:
    """``"3"`` or ``"3-5"`` -> (lo, hi) as libidset sees them (truncated to 32 bits)."""
    value, end = _strtoul_check(token, 0)
    if end < len(token) and token[end] != "-":
        raise _Invalid
    lo = hi = value & _UINT_MAX
    if end < len(token):
        value, end = _strtoul_check(token, end + 1)
        if end != len(token) or value <= lo:
            raise _Invalid
        hi = value & _UINT_MAX
    return lo, hi


def _decode_ranges(text: str) -> list[tuple[int, int]]:
    """An RFC 22 string -> normalized ranges; _Invalid where idset_decode() fails."""
    text = text.split("\0", 1)[0]  # C sees the string up to its first NUL
    if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
        text = text[1:-1]
    if "[" in text or "]" in text:
        raise _Invalid  # mismatched or nested brackets
    ranges = _Ranges()
    maxid = IDSET_INVALID_ID
    for token in text.split(","):
        if not token:
            continue  # strtok skips empty tokens
        lo, hi = _parse_range(token)
        if maxid != IDSET_INVALID_ID and lo <= maxid:
            raise _Invalid  # out of order
        try:
            ranges.set(lo, hi)
        except OSError:
            raise _Invalid from None
        maxid = hi
    return ranges.pairs


class _Ranges:
    """Sorted disjoint ranges with libidset's set/clear rules."""

    __slots__ = ("los", "his", "size")

    def __init__(self, pairs: Optional[list[tuple[int, int]]] = None) -> None:
        self.los: list[int] = [lo for lo, _ in pairs] if pairs else []
        self.his: list[int] = [hi for _, hi in pairs] if pairs else []
        self.size = sum(hi - lo + 1 for lo, hi in pairs) if pairs else 0

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.los, self.his))

    def set(self, lo: int, hi: int) -> None:
        """idset_range_set(): EINVAL for the reserved ids, ERANGE past 2**31 - 1."""
        if not _valid_id(lo) or not _valid_id(hi):
            raise _oserror(errno.EINVAL)
        if hi < lo:
            lo, hi = hi, lo
        if hi >= _MAX_UNIVERSE:
            raise _oserror(errno.ERANGE)
        # ranges touching or overlapping [lo-1, hi+1] merge into one
        first = bisect.bisect_left(self.his, lo - 1)
        last = bisect.bisect_right(self.los, hi + 1)
        if first < last:
            lo = min(lo, self.los[first])
            hi = max(hi, self.his[last - 1])
            self.size -= sum(h - l_ + 1 for l_, h in zip(self.los[first:last],
                                                           self.his[first:last]))
        self.los[first:last] = [lo]
        self.his[first:last] = [hi]
        self.size += hi - lo + 1

    def clear(self, lo: int, hi: int) -> None:
        """idset_range_clear(): EINVAL for the reserved ids; the rest always succeeds."""
        if not _valid_id(lo) or not _valid_id(hi):
            raise _oserror(errno.EINVAL)
        if hi < lo:
            lo, hi = hi, lo
        first = bisect.bisect_left(self.his, lo)
        last = bisect.bisect_right(self.los, hi)
        if first >= last:
            return
        keep_lo: list[int] = []
        keep_hi: list[int] = []
        if self.los[first] < lo:
            keep_lo.append(self.los[first])
            keep_hi.append(lo - 1)
        if self.his[last - 1] > hi:
            keep_lo.append(hi + 1)
            keep_hi.append(self.his[last - 1])
        removed = sum(h - l_ + 1 for l_, h in zip(self.los[first:last], self.his[first:last]))
        kept = sum(h - l_ + 1 for l_, h in zip(keep_lo, keep_hi))
        self.los[first:last] = keep_lo
        self.his[first:last] = keep_hi
        self.size -= removed - kept

    def test(self, value: int) -> bool:
        i = bisect.bisect_right(self.los, value) - 1
        return i >= 0 and self.his[i] >= value

    def next_after(self, value: int) -> int:
        """The smallest id > ``value``, or IDSET_INVALID_ID."""
        i = bisect.bisect_right(self.los, value) - 1
        if i >= 0 and self.his[i] > value:
            return value + 1
        if i + 1 < len(self.los):
            return self.los[i + 1]
        return IDSET_INVALID_ID

    def copy(self) -> _Ranges:
        new = _Ranges()
        new.los, new.his, new.size = list(self.los), list(self.his), self.size
        return new


def _merge(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of two normalized range lists."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(a + b):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _difference(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] < lo:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= hi:
            if b[k][0] > lo:
                out.append((lo, b[k][0] - 1))
            lo = max(lo, b[k][1] + 1)
            k += 1
        if lo <= hi:
            out.append((lo, hi))
    return out


def _from_ints(values: list[Any]) -> Optional[list[tuple[int, int]]]:
    """Fast path for an iterable of distinct ints libidset would accept; None otherwise."""
    pairs: list[tuple[int, int]] = []
    for value in values:
        if type(value) is not int or not 0 <= value < _MAX_UNIVERSE:
            return None
        if pairs and value <= pairs[-1][1]:
            return None  # duplicate: let the string path fail as flux-core does
        if pairs and value == pairs[-1][1] + 1:
            pairs[-1] = (pairs[-1][0], value)
        else:
            pairs.append((value, value))
    return pairs


class IDsetIterator:
    """Iterates the ids of an :class:`IDset` in ascending order."""

    def __init__(self, idset: IDset) -> None:
        self._pairs = iter(idset._ranges.pairs)
        self._current: Iterator[int] = iter(())

    def __iter__(self) -> IDsetIterator:
        return self

    def __next__(self) -> int:
        while True:
            for value in self._current:
                return value
            lo, hi = next(self._pairs)
            self._current = iter(range(lo, hi + 1))


class IDset:
    """A set of non-negative integers with RFC 22 text forms (``"0-3,7"``).

    Built from an idset string, another IDset, an int, or an iterable of ints:

    >>> IDset("0-3") == IDset([0, 1, 2, 3])
    True
    """

    def __init__(self, arg: Any = "", flags: int = IDSET_FLAG_RANGE,
                 handle: Optional[Any] = None) -> None:
        self.default_flags = flags
        if handle is not None:
            self._ranges = handle.copy() if isinstance(handle, _Ranges) else _Ranges(handle)
            return
        if isinstance(arg, IDset):
            self._ranges = arg._ranges.copy()
            return
        if isinstance(arg, Iterable) and not isinstance(arg, str):
            values = sorted(arg)
            pairs = _from_ints(values)
            if pairs is not None:
                self._ranges = _Ranges(pairs)
                return
            arg = ",".join(str(i) for i in values)
        elif isinstance(arg, int):
            arg = str(arg)
        if not isinstance(arg, str):
            raise TypeError(f"IDset() expected an idset string or iterable, got {type(arg)}")
        try:
            self._ranges = _Ranges(_decode_ranges(arg))
        except _Invalid:
            raise ValueError(f"IDset(): Invalid argument: {arg}") from None

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"IDset('{self.encode(flags=IDSET_FLAG_RANGE)}')"

    def __len__(self) -> int:
        return self._ranges.size

    def __iter__(self) -> IDsetIterator:
        return IDsetIterator(self)

    def __contains__(self, i: int) -> bool:
        return self.test(i)

    def __getitem__(self, i: int) -> bool:
        return self.test(i)

    def __setitem__(self, i: int, value: Any) -> None:
        if value in (0, 1):
            value = bool(value)
        if not isinstance(value, bool):
            raise TypeError(f"IDset setitem must be bool or 0,1 not {type(value)}")
        if value:
            self.set(i)
        else:
            self.clear(i)

    def __eq__(self, idset: object) -> bool:
        return self.equal(idset)

    __hash__ = None  # type: ignore[assignment]  # mutable, as flux-core's

    def __add__(self, arg: Any) -> IDset:
        return self.union(arg)

    def __sub__(self, arg: Any) -> IDset:
        return self.difference(arg)

    def __and__(self, arg: Any) -> IDset:
        return self.intersect(arg)

    def __or__(self, arg: Any) -> IDset:
        return self.union(arg)

    def __iadd__(self, arg: Any) -> IDset:
        self.add(arg)
        return self

    def __isub__(self, arg: Any) -> IDset:
        self.subtract(arg)
        return self

    def equal(self, idset: Any) -> bool:
        """True if both sets hold the same ids; TypeError if ``idset`` is not an IDset."""
        if not isinstance(idset, IDset):
            raise TypeError
        return self._ranges.los == idset._ranges.los and self._ranges.his == idset._ranges.his

    def set_flags(self, flags: int) -> None:
        """Default flags for :meth:`encode` (IDSET_FLAG_RANGE, IDSET_FLAG_BRACKETS)."""
        self.default_flags = flags

    @staticmethod
    def _check_index(i: Any, name: str) -> None:
        if type(i) is not int:
            import numbers  # only for int-like types (numpy's...): keeps the import cheap

            if not isinstance(i, numbers.Integral):
                raise TypeError(f"IDset.{name} supports integers, not {type(i)}")
        if i < 0:
            raise ValueError(f"negative index passed to IDset.{name}")

    def test(self, i: int) -> bool:
        """True if id ``i`` is in the set."""
        self._check_index(i, "test")
        _check_uint(int(i))
        return self._ranges.test(int(i))

    def set(self, start: int, end: Optional[int] = None) -> IDset:
        """Add id ``start`` (or ``start``..``end``); returns self."""
        self._check_index(start, "set")
        _check_uint(int(start))
        if end is None:
            self._ranges.set(int(start), int(start))
        else:
            self._check_index(end, "set")
            _check_uint(int(end))
            if end < start:
                raise ValueError(f"can't set range with {start} > {end}")
            self._ranges.set(int(start), int(end))
        return self

    def clear(self, start: int, end: Optional[int] = None) -> IDset:
        """Remove id ``start`` (or ``start``..``end``); returns self."""
        self._check_index(start, "clear")
        _check_uint(int(start))
        if end is None:
            self._ranges.clear(int(start), int(start))
        else:
            self._check_index(end, "clear")
            _check_uint(int(end))
            if end < start:
                raise ValueError(f"can't set range with {start} > {end}")
            self._ranges.clear(int(start), int(end))
        return self

    def expand(self) -> list[int]:
        """The ids as a list."""
        return list(self)

    def count(self) -> int:
        """The number of ids."""
        return self._ranges.size

    def copy(self) -> IDset:
        return IDset(handle=self._ranges)  # default flags, as flux-core's copy

    def encode(self, flags: Optional[int] = None) -> str:
        """The RFC 22 text: ``"0-3,7"`` with IDSET_FLAG_RANGE, ``"[0-3,7]"`` adding
        IDSET_FLAG_BRACKETS (never around a single id), ``"0,1,2,3,7"`` without."""
        if flags is None:
            flags = self.default_flags
        if flags & ~_ENCODE_FLAGS:
            raise _oserror(errno.EINVAL)
        ranges = self._ranges
        if flags & IDSET_FLAG_RANGE:
            text = ",".join(str(lo) if lo == hi else f"{lo}-{hi}"
                            for lo, hi in zip(ranges.los, ranges.his))
        else:
            text = ",".join(map(str, self))
        if flags & IDSET_FLAG_BRACKETS and ranges.size > 1:
            return f"[{text}]"
        return text

    def first(self) -> int:
        """The smallest id, or IDSET_INVALID_ID if the set is empty."""
        return self._ranges.los[0] if self._ranges.los else IDSET_INVALID_ID

    def next(self, i: int) -> int:
        """The smallest id greater than ``i``, or IDSET_INVALID_ID."""
        self._check_index(i, "next")
        _check_uint(int(i))
        if i == _UINT_MAX:  # libidset's id + 1 wraps to 0
            return self.first()
        return self._ranges.next_after(int(i))

    def last(self) -> int:
        """The greatest id, or IDSET_INVALID_ID if the set is empty."""
        return self._ranges.his[-1] if self._ranges.his else IDSET_INVALID_ID

    def add(self, arg: Any) -> IDset:
        """Add the ids of ``arg`` (IDset, string or iterable) in place."""
        other = arg if isinstance(arg, IDset) else IDset(arg)
        self._ranges = _Ranges(_merge(self._ranges.pairs, other._ranges.pairs))
        return self

    def subtract(self, arg: Any) -> IDset:
        """Remove the ids of ``arg`` (IDset, string or iterable) in place."""
        other = arg if isinstance(arg, IDset) else IDset(arg)
        self._ranges = _Ranges(_difference(self._ranges.pairs, other._ranges.pairs))
        return self

    def _combine(self, args: tuple[Any, ...], op: Any) -> IDset:
        pairs = self._ranges.pairs
        for arg in args:
            other = arg if isinstance(arg, IDset) else IDset(arg)
            pairs = op(pairs, other._ranges.pairs)
        return IDset(handle=pairs)

    def union(self, *args: Any) -> IDset:
        """A new IDset: this set plus every argument's ids."""
        return self._combine(args, _merge)

    def intersect(self, *args: Any) -> IDset:
        """A new IDset: the ids in this set and in every argument."""
        return self._combine(args, _intersect)

    def difference(self, *args: Any) -> IDset:
        """A new IDset: this set minus every argument's ids."""
        return self._combine(args, _difference)


def decode(string: str) -> IDset:
    """An IDset from its RFC 22 string."""
    return IDset(string)
