"""A client connection spins before sleeping only while answers come within the window."""

from __future__ import annotations

import socket
import threading
import time

import flux.core.connection as fconn
from flux.core.connection import Connection


def test_a_slow_answer_turns_the_client_spin_off_and_a_quick_one_on(monkeypatch):
    monkeypatch.setattr(fconn, "SPIN_SECONDS", 150e-6)
    monkeypatch.setattr(fconn, "_ADAPTIVE", True)
    a, b = socket.socketpair()
    conn = Connection(a, "test://")
    try:
        assert conn._spin_now()  # nothing known yet: spin
        t = threading.Timer(0.02, lambda: b.send(b"x"))
        t.start()
        assert conn.wait_readable(5.0)
        t.join()
        assert not conn._spin_now()  # answered after 20 ms: the next wait sleeps at once
        assert conn.wait_readable(5.0)  # the byte is still there: answered at once
        assert conn._spin_now()
    finally:
        conn.close()
        b.close()


def test_always_policy_spins_after_a_slow_answer(monkeypatch):
    monkeypatch.setattr(fconn, "SPIN_SECONDS", 150e-6)
    monkeypatch.setattr(fconn, "_ADAPTIVE", False)
    a, b = socket.socketpair()
    conn = Connection(a, "test://")
    try:
        t = threading.Timer(0.02, lambda: b.send(b"x"))
        t.start()
        assert conn.wait_readable(5.0)
        t.join()
        assert conn._spin_now()
    finally:
        conn.close()
        b.close()


def test_read_wait_records_how_fast_the_answer_came(monkeypatch):
    monkeypatch.setattr(fconn, "SPIN_SECONDS", 150e-6)
    monkeypatch.setattr(fconn, "_ADAPTIVE", True)
    a, b = socket.socketpair()
    conn = Connection(a, "test://")
    from flux.codec import encode_stream
    from flux.message import Message

    data = encode_stream(Message())
    try:
        t = threading.Timer(0.02, lambda: b.sendall(data))
        t.start()
        assert len(conn.read_wait()) == 1
        t.join()
        assert not conn._spin_now()
        b.sendall(data)
        time.sleep(0.01)
        assert len(conn.read_wait()) == 1
        assert conn._spin_now()
    finally:
        conn.close()
        b.close()
