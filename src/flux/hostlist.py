"""RFC 29 hostlists: flux-core's ``flux.hostlist`` in pure Python.

A :class:`Hostlist` is an ordered list of host names kept, as libhostlist keeps
it, as a list of ranges (prefix, lo, hi, zero-padding width, or a single name
without a numeric suffix).  Decoding, encoding, ``sort``/``uniq``/``delete``
and ``find`` follow libhostlist's rules, quirks included (``"n[1x-3]"`` is
``n[01-03]``, a range of width 2), so both libraries print the same strings.
"""

from __future__ import annotations

import errno
import functools
import numbers
import os
from collections.abc import Iterable

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any, Optional

__all__ = ["Hostlist", "HostlistIterator", "decode"]

_ULONG_MAX = 2**64 - 1
_MAX_RANGE = 1 << 20  # hosts in one bracketed range
_MAX_RANGES = 10240  # ranges in one bracket
_SEPARATORS = "\t, "
_INVALID_CHARS = ",[]\t "
_DIGITS = "0123456789"
_SPACES = " \t\n\v\f\r"


def _oserror(errnum: int) -> OSError:
    """An error worded as flux-core's C wrapper words it (``ENOENT: ...``)."""
    name = errno.errorcode.get(errnum, f"Errno{errnum}")
    return OSError(errnum, f"{name}: {os.strerror(errnum)}")


class _Invalid(Exception):
    """Text libhostlist would not decode; ``errnum`` is the errno it would set."""

    def __init__(self, errnum: int = errno.EINVAL) -> None:
        super().__init__(errnum)
        self.errnum = errnum


def _strtoul(text: str) -> tuple[int, int]:
    """C's ``strtoul(text, &end, 10)``: (value, end index); end 0 if no digits."""
    pos = 0
    while pos < len(text) and text[pos] in _SPACES:
        pos += 1
    negative = False
    if pos < len(text) and text[pos] in "+-":
        negative = text[pos] == "-"
        pos += 1
    start = pos
    while pos < len(text) and text[pos] in _DIGITS:
        pos += 1
    if pos == start:
        return 0, 0
    value = int(text[start:pos])
    if value > _ULONG_MAX:
        return _ULONG_MAX, pos
    return (-value) % 2**64 if negative else value, pos


def _zero_padded(num: int, width: int) -> int:
    return max(width - len(str(num)), 0)


def _width_equiv(n: int, wn: int, m: int, wm: int) -> tuple[bool, int, int]:
    """libhostlist's width_equiv(): can numbers n and m of widths wn, wm share a
    range, and with which widths (it adopts one width for both when it can)."""
    npad, nmpad = _zero_padded(n, wn), _zero_padded(n, wm)
    mpad, mnpad = _zero_padded(m, wm), _zero_padded(m, wn)
    if npad != nmpad and mpad != mnpad:
        return False, wn, wm
    if npad != nmpad:
        return True, wn, wn
    return True, wm, wm


class _Range:
    """One hostrange: ``prefix[lo-hi]`` zero-padded to ``width``, or one name."""

    __slots__ = ("prefix", "lo", "hi", "width", "single")

    def __init__(self, prefix: str, lo: int = 0, hi: int = 0, width: int = 0,
                 single: bool = False) -> None:
        self.prefix = prefix
        self.lo = lo
        self.hi = hi
        self.width = width
        self.single = single

    def copy(self) -> _Range:
        return _Range(self.prefix, self.lo, self.hi, self.width, self.single)

    def count(self) -> int:
        return 1 if self.single else self.hi - self.lo + 1

    def empty(self) -> bool:
        return self.hi < self.lo or self.hi == _ULONG_MAX

    def host(self, depth: int) -> str:
        if self.single:
            return self.prefix
        return f"{self.prefix}{self.lo + depth:0{self.width}d}"

    def numbers(self) -> str:
        text = f"{self.lo:0{self.width}d}"
        if self.lo < self.hi:
            text += f"-{self.hi:0{self.width}d}"
        return text


def _prefix_cmp(h1: _Range, h2: Optional[_Range]) -> int:
    if h2 is None:
        return 1
    if h1.prefix != h2.prefix:
        return -1 if h1.prefix < h2.prefix else 1
    return int(h2.single) - int(h1.single)


def _width_combine(h0: _Range, h1: _Range) -> bool:
    if h0 is h1:
        return True
    ok, h0.width, h1.width = _width_equiv(h0.lo, h0.width, h1.lo, h1.width)
    return ok


def _range_cmp(h1: _Range, h2: _Range) -> int:
    """hostrange_cmp(): prefix, then lo (widths permitting), else width."""
    result = _prefix_cmp(h1, h2)
    if result == 0:
        if _width_combine(h1, h2):
            diff = (h1.lo - h2.lo) & 0xFFFFFFFF  # C stores the difference in an int
            result = diff - 2**32 if diff >= 2**31 else diff
        else:
            result = h1.width - h2.width
    return (result > 0) - (result < 0)


def _within_range(h1: _Range, h2: Optional[_Range]) -> bool:
    """True if h1 and h2 can be written in one bracket (same prefix, both numeric)."""
    return _prefix_cmp(h1, h2) == 0 and not h1.single and h2 is not None and not h2.single


def _join(h1: _Range, h2: _Range) -> int:
    """hostrange_join(): merge h2 into h1; duplicates dropped, or -1 if not joinable."""
    _range_cmp(h1, h2)  # libhostlist asserts the order, which may settle widths
    if _prefix_cmp(h1, h2) == 0 and _width_combine(h1, h2):
        if h1.single and h2.single:
            return 1
        if h1.hi == (h2.lo - 1) % 2**64:
            h1.hi = h2.hi
            return 0
        if h1.hi >= h2.lo:
            if h1.hi < h2.hi:
                dup = h1.hi - h2.lo + 1
                h1.hi = h2.hi
                return dup
            return h2.count()
    return -1


def _intersect(h1: _Range, h2: _Range) -> Optional[_Range]:
    if h1.single or h2.single:
        return None
    _range_cmp(h1, h2)  # as _join
    if _prefix_cmp(h1, h2) == 0 and h1.hi > h2.lo and _width_combine(h1, h2):
        new = h1.copy()
        new.lo = h2.lo
        new.hi = min(h2.hi, h1.hi)
        return new
    return None


class _Hostname:
    """A name split as libhostlist splits it: prefix and trailing decimal suffix."""

    __slots__ = ("hostname", "len_prefix", "suffix", "width", "num")

    def __init__(self, hostname: str) -> None:
        if any(c in _INVALID_CHARS for c in hostname):
            raise _oserror(errno.EINVAL)
        idx = len(hostname) - 1
        while idx >= 0 and hostname[idx] in _DIGITS:
            idx -= 1
        self.hostname = hostname
        self.len_prefix = idx + 1
        self.suffix: Optional[int] = None  # index of the numeric suffix
        self.width = 0
        self.num = 0
        if idx != len(hostname) - 1:
            self.suffix = self.len_prefix
            self.num = min(int(hostname[self.len_prefix:]), _ULONG_MAX)
            self.width = len(hostname) - self.len_prefix

    def one_less_digit(self) -> Optional[_Hostname]:
        """The same name with the suffix's first digit moved to the prefix."""
        new = object.__new__(_Hostname)
        new.hostname, new.suffix = self.hostname, self.suffix
        new.width, new.num = self.width, self.num
        new.len_prefix = self.len_prefix + 1
        if self.len_prefix == len(self.hostname) - 1:
            return new
        new.suffix = new.len_prefix
        new.width = len(self.hostname) - new.len_prefix
        if not 0 <= new.width < 10:
            return None
        new.num = self.num % 10**new.width
        return new


def _within(hr: _Range, hn: Optional[_Hostname]) -> int:
    """hostrange_hn_within(): the offset of ``hn`` in ``hr``, or -1."""
    if hr.single:
        return 0 if hn is not None and hn.hostname == hr.prefix else -1
    if hn is None or hn.suffix is None:
        return -1
    if len(hr.prefix) < hn.len_prefix:
        return -1
    if hr.prefix[:hn.len_prefix] != hn.hostname[:hn.len_prefix]:
        return -1
    if (hn.len_prefix < len(hr.prefix) and hn.width > 1
            and hr.prefix[-1] in _DIGITS
            and hr.prefix[hn.len_prefix] == hn.hostname[hn.suffix]):
        return _within(hr, hn.one_less_digit())
    if len(hr.prefix) == hn.len_prefix and hr.lo <= hn.num <= hr.hi:
        ok, hr.width, _ = _width_equiv(hr.lo, hr.width, hn.num, hn.width)
        return hn.num - hr.lo if ok else -1
    return -1


def _next_token(text: str, pos: int) -> tuple[Optional[str], int]:
    """The next separator-delimited token at or after ``pos``; brackets nest."""
    while pos < len(text) and text[pos] in _SEPARATORS:
        pos += 1
    if pos >= len(text):
        return None, pos
    start, level = pos, 0
    while pos < len(text) and (level != 0 or text[pos] not in _SEPARATORS):
        if text[pos] == "[":
            level += 1
        elif text[pos] == "]":
            level -= 1
        pos += 1
    return text[start:pos], pos


def _parse_range(text: str) -> tuple[int, int, int]:
    """``"01-10"`` -> (lo, hi, width) as parse_next_range() reads it."""
    high: Optional[str] = None
    if "-" in text:
        text, high = text.split("-", 1)
        if high.startswith("-"):
            raise _Invalid  # no negative numbers
    lo, end = _strtoul(text)
    if end == 0:
        raise _Invalid
    if high:
        hi, end = _strtoul(high)
        if end == 0 or end != len(high):
            raise _Invalid
    else:
        hi = lo
        if end != len(text):
            raise _Invalid
    if lo > hi:
        raise _Invalid
    if hi - lo + 1 > _MAX_RANGE:
        raise _Invalid(errno.ERANGE)
    return lo, hi, len(text)


class _List:
    """The ranges and host count of one hostlist (libhostlist's struct hostlist)."""

    __slots__ = ("ranges", "nhosts")

    def __init__(self) -> None:
        self.ranges: list[_Range] = []
        self.nhosts = 0

    def copy(self) -> _List:
        new = _List()
        new.ranges = [hr.copy() for hr in self.ranges]
        new.nhosts = self.nhosts
        return new

    # -- building ---------------------------------------------------------

    def append_range(self, hr: _Range) -> int:
        tail = self.ranges[-1] if self.ranges else None
        if (tail is not None and _prefix_cmp(tail, hr) == 0
                and tail.hi == (hr.lo - 1) % 2**64 and _width_combine(tail, hr)):
            tail.hi = hr.hi
        else:
            self.ranges.append(hr.copy())
        count = hr.count()
        self.nhosts += count
        return count

    def append_list(self, other: _List) -> int:
        return sum(self.append_range(hr) for hr in list(other.ranges))

    def _append_host(self, name: str) -> None:
        try:
            hn = _Hostname(name)
        except OSError:
            return
        if hn.suffix is None:
            self.append_range(_Range(name, single=True))
        elif int(name[hn.suffix:]) <= _ULONG_MAX:  # else strtoul fails: name dropped
            self.append_range(_Range(name[:hn.suffix], hn.num, hn.num, hn.width))

    @classmethod
    def decode(cls, text: str) -> _List:
        """hostlist_decode(); _Invalid where it fails."""
        new = cls()
        text = text.split("\0", 1)[0]  # C sees the string up to its first NUL
        pos = 0
        while True:
            token, pos = _next_token(text, pos)
            if token is None:
                return new
            if "[" in token:
                prefix, _, rest = token.partition("[")
                if "]" not in rest:
                    raise _Invalid  # unbalanced
                body, _, suffix = rest.partition("]")
                items = body.split(",")
                if len(items) > _MAX_RANGES:
                    raise _Invalid
                ranges = [_parse_range(item) for item in items]
                for lo, hi, width in ranges:
                    if suffix:
                        for j in range(lo, hi + 1):
                            new.append_range(_Range(f"{prefix}{j:0{width}d}{suffix}",
                                                    single=True))
                    else:
                        new.append_range(_Range(prefix, lo, hi, width))
            elif "]" in token:
                raise _Invalid  # unbalanced
            else:
                new._append_host(token[:1023])

    # -- queries ----------------------------------------------------------

    def nth(self, n: int) -> str:
        count = 0
        for hr in self.ranges:
            num = hr.count()
            if n < count + num:
                return hr.host(n - count)
            count += num
        raise _oserror(errno.ENOENT)

    def hosts(self) -> Iterator[str]:
        for hr in self.ranges:
            if hr.single:
                yield hr.prefix
            else:
                for i in range(hr.lo, hr.hi + 1):
                    yield f"{hr.prefix}{i:0{hr.width}d}"

    def find_at(self, hn: _Hostname) -> tuple[int, int, int]:
        """(position, range index, depth) of ``hn``; position -1 if absent."""
        count = 0
        for index, hr in enumerate(self.ranges):
            offset = _within(hr, hn)
            if offset >= 0:
                return count + offset, index, offset
            count += hr.count()
        return -1, -1, -1

    def encode(self) -> str:
        parts: list[str] = []
        ranges = self.ranges
        i = 0
        while i < len(ranges):
            nxt = ranges[i + 1] if i < len(ranges) - 1 else None
            bracket = ranges[i].count() > 1 or _within_range(ranges[i], nxt)
            text = [ranges[i].prefix, "[" if bracket else ""]
            while True:
                if not ranges[i].single:
                    text.append(ranges[i].numbers())
                i += 1
                if i >= len(ranges) or not _within_range(ranges[i], ranges[i - 1]):
                    break
                if bracket:
                    text.append(",")
            if bracket:
                text.append("]")
            parts.append("".join(text))
        return ",".join(parts)

    # -- editing ----------------------------------------------------------

    def _remove_at(self, index: int, depth: int) -> None:
        hr = self.ranges[index]
        n = hr.lo + depth
        if n == hr.lo:
            hr.lo += 1
        elif n == hr.hi:
            hr.hi -= 1
        else:
            new = hr.copy()
            hr.hi = n - 1
            new.lo = n + 1
            self.ranges.insert(index + 1, new)
            self.nhosts -= 1
            return
        if hr.empty():
            del self.ranges[index]
        self.nhosts -= 1

    def delete(self, hosts: str) -> int:
        """hostlist_delete(): remove each host of ``hosts`` once; the number removed."""
        removed = 0
        for name in _List.decode(hosts).hosts():
            try:
                hn = _Hostname(name)
            except OSError:
                removed -= 1  # libhostlist counts a name it cannot parse as -1
                continue
            pos, index, depth = self.find_at(hn)
            if pos >= 0:
                self._remove_at(index, depth)
                removed += 1
        return removed

    def _sort_ranges(self) -> None:
        self.ranges.sort(key=functools.cmp_to_key(_range_cmp))

    def _collapse(self) -> None:
        ranges = self.ranges
        for i in range(len(ranges) - 1, 0, -1):
            prev, nxt = ranges[i - 1], ranges[i]
            if (_prefix_cmp(prev, nxt) == 0 and prev.hi == (nxt.lo - 1) % 2**64
                    and _width_combine(prev, nxt)):
                prev.hi = nxt.hi
                del ranges[i]

    def _coalesce(self) -> None:
        ranges = self.ranges
        i = len(ranges) - 1
        while i > 0:
            prev, nxt = ranges[i - 1], ranges[i]
            new = _intersect(prev, nxt)
            if new is not None:
                j = i
                if new.hi < prev.hi:
                    nxt.hi = prev.hi
                prev.hi = new.lo
                nxt.lo = new.hi
                while new.lo <= new.hi:
                    hr = _Range(new.prefix, new.lo, new.lo, new.width)
                    if new.lo > prev.hi:
                        ranges.insert(j, hr.copy())
                        j += 1
                    if new.lo < nxt.lo:
                        ranges.insert(j, hr.copy())
                        j += 1
                    new.lo += 1
                i = len(ranges)
            i -= 1
        self._collapse()

    def sort(self) -> None:
        if len(self.ranges) > 1:
            self._sort_ranges()
            self._coalesce()

    def uniq(self) -> None:
        if len(self.ranges) <= 1:
            return
        self._sort_ranges()
        i = 1
        while i < len(self.ranges):
            dup = _join(self.ranges[i - 1], self.ranges[i])
            if dup >= 0:
                del self.ranges[i]
                self.nhosts -= dup
            else:
                i += 1


def _decode_or_valueerror(text: str) -> _List:
    try:
        return _List.decode(text)
    except _Invalid:
        raise ValueError(f"Invalid hostlist: '{text}'") from None


class HostlistIterator:
    """Iterates the host names of a :class:`Hostlist` in order."""

    def __init__(self, hostlist: Hostlist) -> None:
        self._hosts = hostlist._list.hosts()

    def __iter__(self) -> HostlistIterator:
        return self

    def __next__(self) -> str:
        return next(self._hosts)


class Hostlist:
    """An ordered list of host names with the RFC 29 text form (``"node[0-3,7]"``).

    >>> Hostlist("foo[1-3]")[1]
    'foo2'
    """

    def __init__(self, arg: Any = "", handle: Optional[Any] = None) -> None:
        if handle is not None:
            self._list: _List = handle.copy() if isinstance(handle, _List) else handle
            return
        if isinstance(arg, str):
            self._list = _decode_or_valueerror(arg)
        elif isinstance(arg, Iterable):
            self._list = _List()
            for hosts in arg:
                if not isinstance(hosts, str):
                    raise TypeError(f"Hostlist(): expected string or Iterable, got {type(hosts)}")
                self._list.append_list(_decode_or_valueerror(hosts))
        else:
            raise TypeError(f"Hostlist(): expected string or Iterable, got {type(arg)}")

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"Hostlist('{self}')"

    def __len__(self) -> int:
        return self._list.nhosts

    def __getitem__(self, index: Any) -> Any:
        """``hl[0]`` is a name; ``hl[1:3]`` and ``hl[[0, 2]]`` are new Hostlists."""
        if isinstance(index, numbers.Integral):
            if index < 0:
                index = len(self) + index
            if 0 <= index < len(self):
                return self._list.nth(int(index))
            raise IndexError("Hostlist index out of range")
        if isinstance(index, slice):
            hl = Hostlist()
            for n in range(len(self))[index]:
                hl.append(self[n])
            return hl
        if isinstance(index, Iterable):
            hl = Hostlist()
            for n in index:
                if not isinstance(n, numbers.Integral):
                    raise TypeError(f"Invalid Hostlist index '{n}'")
                hl.append(self[n])
            return hl
        raise TypeError("Hostlist index must be integer or slice")

    def __iter__(self) -> HostlistIterator:
        return HostlistIterator(self)

    def __contains__(self, name: str) -> bool:
        try:
            self.find(name)
        except FileNotFoundError:
            return False
        return True

    def encode(self) -> str:
        """The RFC 29 string."""
        return self._list.encode()

    def count(self) -> int:
        """The number of hosts."""
        return self._list.nhosts

    def append(self, *args: Any) -> int:
        """Append Hostlists, hostlist strings or iterables of them; the number added."""
        count = 0
        for arg in args:
            if not isinstance(arg, Hostlist):
                arg = Hostlist(arg)
            count += self._list.append_list(arg._list)
        return count

    def delete(self, hosts: Any) -> int:
        """Remove the first occurrence of each host in ``hosts``; the number removed."""
        text = str(hosts)
        try:
            return self._list.delete(text)
        except _Invalid as exc:
            raise _oserror(exc.errnum) from None

    def sort(self) -> Hostlist:
        """Sort in place (duplicates kept); returns self."""
        self._list.sort()
        return self

    def uniq(self) -> Hostlist:
        """Sort in place and drop duplicates; returns self."""
        self._list.uniq()
        return self

    def expand(self) -> list[str]:
        """The host names as a list."""
        return list(self)

    def copy(self) -> Hostlist:
        return Hostlist(handle=self._list)

    def find(self, host: str) -> int:
        """The position of ``host``; FileNotFoundError if absent."""
        if isinstance(host, bytes):
            host = host.decode("utf-8", "surrogateescape")
        if not isinstance(host, str):
            raise TypeError(f"initializer for ctype 'char *' must be a bytes or str, not "
                            f"{type(host).__name__}")
        pos, _, _ = self._list.find_at(_Hostname(host))
        if pos < 0:
            raise _oserror(errno.ENOENT)
        return pos

    def index(self, hosts: Any, ignore_nomatch: bool = False) -> list[int]:
        """Positions of each of ``hosts``; FileNotFoundError naming the missing ones
        unless ``ignore_nomatch``."""
        if not isinstance(hosts, Hostlist):
            hosts = Hostlist(hosts)
        ids = []
        notfound = Hostlist()
        for host in hosts:
            try:
                ids.append(self.find(host))
            except FileNotFoundError:
                notfound.append(host)
        if notfound and not ignore_nomatch:
            suffix = "s" if len(notfound) > 1 else ""
            raise FileNotFoundError(f"host{suffix} '{notfound}' not found")
        return ids


def decode(arg: Any) -> Hostlist:
    """A Hostlist from an RFC 29 string or an iterable of them."""
    return Hostlist(arg)
