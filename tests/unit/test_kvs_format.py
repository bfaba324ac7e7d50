"""flux kvs's text layout: dir lines, ls columns, symlinks, the namespace table, widths."""

from __future__ import annotations

import pytest

from flux.cmd._kvs_format import (
    NAMESPACE_HEADER,
    c_string,
    columns,
    key_at,
    kv_line,
    link_target,
    namespace_line,
    window_width,
)


@pytest.mark.parametrize("key, value, maxcol, line", [
    (b"a.b", b"1", 80, b"a.b = 1\n"),
    (b"a", b"x" * 100, 20, b"a = " + b"x" * 13 + b"...\n"),  # at most maxcol columns
    (b"a", b"x" * 13, 20, b"a = " + b"x" * 13 + b"\n"),  # 17 = maxcol - 3 fits
    (b"a", b"x" * 14, 20, b"a = " + b"x" * 13 + b"...\n"),
    (b"a", b"line1\nline2", 80, b"a = line1...\n"),  # cut at the first newline
    (b"a", b"line1\n", 80, b"a = line1\n"),  # nothing after it: no ellipsis
    (b"a", b"line1\nline2", 0, b"a = line1\nline2\n"),  # 0: no limit at all
    (b"a", b"x" * 100, 3, b"a = " + b"x" * 100 + b"\n"),  # 1..3 mean no limit
    (b"a", b"", 80, b"a = \n"),
    (None, b"v", 80, b"v\n"),
    (b"k", "é".encode() * 10, 10, b"k = \xc3\xa9\xc3...\n"),  # bytes, as strlen counts
])
def test_kv_line(key, value, maxcol, line):
    assert kv_line(key, value, maxcol) == line


def test_c_string():
    assert c_string(b"abc\0def") == b"abc"
    assert c_string(b"") is None
    assert c_string(None) is None


def test_key_at():
    assert key_at(".", "b") == "b"
    assert key_at("a", "b") == "a.b"
    assert key_at("a.", "b") == "a.b"
    assert key_at("a.b", "c") == "a.b.c"


def test_link_target():
    assert link_target(None, "a.b") == "a.b"
    assert link_target("ns", "a.b") == "ns::a.b"
    assert link_target("", "a") == "::a"


def test_columns_fill_the_width():
    names = [b"a", b"bb", b"ccc", b"dddd", b"e"]
    # longest is 4: columns of 8
    assert columns(names, 80) == b"a       bb      ccc     dddd    e\n"
    assert columns(names, 24) == b"a       bb      ccc\ndddd    e\n"
    assert columns(names, 25) == b"a       bb      ccc\ndddd    e\n"
    assert columns(names, 1) == b"a\nbb\nccc\ndddd\ne\n"  # -1
    assert columns(names, 0) == b"a       bb      ccc     dddd    e\n"  # 0: no limit
    assert columns([], 80) == b""
    assert columns([b"b", b"c"], 80, col_width=6) == b"b     c\n"
    assert columns([b"x."], 80, col_width=5) == b"x.\n"


def test_sample_from_flux_core():
    # flux kvs put a.b=1 a.c=two; flux kvs ls a  ->  "b    c"
    assert columns([b"b", b"c"], 80) == b"b    c\n"


def test_namespace_table():
    assert NAMESPACE_HEADER == "NAMESPACE                                 OWNER      FLAGS\n"
    assert namespace_line("primary", 1000, 0) == \
        "primary                                    1000 0x00000000\n"
    assert namespace_line("ns", -1, 255) == "ns                                   4294967295 0x000000FF\n"
    line = namespace_line("é", 0, 0).encode()  # padded to 36 bytes, not characters
    assert line == "é".encode() + b" " * 34 + b"          0 0x00000000\n"


def test_window_width(monkeypatch):
    assert window_width(40) == 40
    assert window_width(0) == 0
    assert window_width(-1, fd=-1, environ={"COLUMNS": "100"}) == 100
    assert window_width(None, fd=-1, environ={"COLUMNS": "abc"}) == 0  # strtol: 0, no limit
    assert window_width(None, fd=-1, environ={"COLUMNS": "-5"}) == 80
    assert window_width(None, fd=-1, environ={}) == 80


def test_window_width_of_a_terminal():
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 37, 0, 0))
        assert window_width(None, fd=slave, environ={"COLUMNS": "100"}) == 37  # the tty wins
        assert window_width(12, fd=slave) == 12  # -w wins over the tty
    finally:
        os.close(master)
        os.close(slave)
