"""The text ``flux kvs`` prints, as flux-core's ``flux-kvs`` lays it out.

Pure functions over bytes (flux-core measures and cuts with ``strlen``, so
widths count UTF-8 bytes, and values are printed as the C strings they
are: up to their first NUL): ``dir``'s ``key = value`` lines cut to the
terminal width, ``ls``'s columns, symlink targets, the namespace table,
and the width ``dir``/``ls`` lay out for.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable, Mapping


def to_bytes(text: str | bytes) -> bytes:
    """A key or name as the bytes flux-core prints (command-line bytes survive unchanged)."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogateescape")
    return bytes(text)


def c_string(data: bytes | None) -> bytes | None:
    """A value as ``printf("%s")`` sees it: up to the first NUL; None for an empty value."""
    if not data:
        return None
    return bytes(data).split(b"\0", 1)[0]


def window_width(width: int | None, fd: int = 1, environ: Mapping[str, str] | None = None) -> int:
    """The width ``dir`` and ``ls`` lay out for: ``-w`` if given and >= 0, the terminal's,
    ``$COLUMNS`` read as C's ``strtol`` (text that is no number gives 0: no limit), else 80."""
    from ._kvs_options import c_strtol

    if width is not None and width >= 0:
        return width
    try:
        return os.get_terminal_size(fd).columns
    except OSError:
        pass
    env = os.environ if environ is None else environ
    value = env.get("COLUMNS")
    if value is not None:
        number, _, _ = c_strtol(value)
        number = max(min(number, (1 << 31) - 1), -(1 << 31))
        if number >= 0:
            return number
    return 80


def kv_line(key: bytes | None, value: bytes, maxcol: int) -> bytes:
    """``key = value`` (or ``value`` alone) cut to ``maxcol`` columns with ``...``, and at the
    first newline; ``maxcol`` 0 (or 1 to 3) means no limit."""
    if 0 < maxcol <= 3:
        maxcol = 0
    kv = (key + b" = " if key is not None else b"") + value
    overflow = False
    if maxcol:
        if len(kv) > maxcol - 3:
            kv = kv[:maxcol - 3]
            overflow = True
        cut = kv.find(b"\n")
        if cut >= 0:
            if cut + 1 < len(kv):
                overflow = True
            kv = kv[:cut]
    return kv + (b"..." if overflow else b"") + b"\n"


def key_at(dirkey: str, name: str) -> str:
    """The key of entry ``name`` in the directory looked up as ``dirkey`` (flux_kvsdir_key_at)."""
    if dirkey == ".":
        return name
    if dirkey.endswith("."):
        return dirkey + name
    return f"{dirkey}.{name}"


def link_target(namespace: str | None, target: str) -> str:
    """A symlink's target as flux-core prints it: ``NS::TARGET`` or ``TARGET``."""
    return f"{namespace}::{target}" if namespace is not None else target


def columns(names: Iterable[bytes], width: int, col_width: int | None = None) -> bytes:
    """``ls``'s layout: names in columns of ``col_width`` (longest name + 4 by default),
    as many per line as fit ``width`` (0: one line); never an empty line."""
    names = list(names)
    if col_width is None:
        col_width = max((len(n) for n in names), default=0) + 4
    out = bytearray()
    col = 0
    last_len = 0
    for name in names:
        if width != 0 and col + col_width > width and col > 0:
            out += b"\n"
            col = 0
        elif last_len > 0:
            out += b" " * (col_width - last_len)
        out += name
        last_len = len(name)
        col += col_width
    if col > 0:
        out += b"\n"
    return bytes(out)


NAMESPACE_HEADER = "NAMESPACE                                 OWNER      FLAGS\n"


def namespace_line(namespace: str, owner: int, flags: int) -> str:
    """One row of ``namespace list``: owner as a C ``uint32_t``, flags as ``0x%08X``
    (the name padded to 36 bytes, as ``%-36s`` pads)."""
    pad = " " * max(0, 36 - len(to_bytes(namespace)))
    return "%s%s %10u 0x%08X\n" % (namespace, pad, owner & 0xFFFFFFFF, flags & 0xFFFFFFFF)
