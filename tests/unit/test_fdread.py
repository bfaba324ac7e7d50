"""flux._fdread.read_ready: the one pipe read the broker, the shell and the commands share."""

from __future__ import annotations

import os

from flux._fdread import read_ready


def test_bytes_nothing_yet_and_end_of_stream():
    r, w = os.pipe()
    try:
        os.set_blocking(r, False)
        assert read_ready(r) is None  # a spurious wakeup: nothing to read, not EOF
        os.write(w, b"abc")
        assert read_ready(r) == b"abc"
        os.close(w)
        w = -1
        assert read_ready(r) == b""
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_an_error_ends_the_stream():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    assert read_ready(r) == b""  # EBADF: the writer is gone as far as the reader cares
