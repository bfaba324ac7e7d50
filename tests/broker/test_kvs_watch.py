"""The ``kvs-watch`` service of a real instance, through raw RPCs (flux-core's wire protocol):
every lookup flag, cancel, disconnect, namespace removal, guests, many watchers."""

from __future__ import annotations

import errno
import os
import time
from typing import Any

import pytest
from conftest import start_instance
from guest import GUEST_UID, run_as_guest

import flux
from flux.constants import (
    FLUX_KVS_APPEND,
    FLUX_KVS_READDIR,
    FLUX_KVS_STREAM,
    FLUX_KVS_TREEOBJ,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_KVS_WATCH_UNIQ,
    FLUX_MSGFLAG_STREAMING,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
)
from flux.services.kvs import treeobj

W = FLUX_KVS_WATCH
TIMEOUT = 10.0


# -- helpers -----------------------------------------------------------------------------------


def val(data: bytes) -> dict:
    return treeobj.create_val(data)


def put(h: Any, key: str, value: bytes | dict | None, ns: str = "primary",
        append: bool = False) -> None:
    """One ``kvs.commit`` of one op (bytes are a val, a dict a tree object, None unlinks)."""
    dirent = val(value) if isinstance(value, bytes) else value
    op = {"key": key, "flags": FLUX_KVS_APPEND if append else 0, "dirent": dirent}
    h.rpc("kvs.commit", {"namespace": ns, "flags": 0, "ops": [op]}).wait_for(TIMEOUT).get()


def treeobj_of(h: Any, key: str, ns: str = "primary") -> dict:
    got = h.rpc("kvs.lookup", {"key": key, "namespace": ns, "flags": FLUX_KVS_TREEOBJ})
    return got.wait_for(TIMEOUT).get()["val"]


def watch(h: Any, key: str, flags: int = W, ns: str = "primary", streaming: bool = True) -> Any:
    payload = {"key": key, "namespace": ns, "flags": flags}
    return h.rpc("kvs-watch.lookup", payload, flags=FLUX_RPC_STREAMING if streaming else 0)


def nxt(f: Any) -> Any:
    """The next response's payload (None for an empty one)."""
    try:
        return f.wait_for(TIMEOUT).get()
    finally:
        f.reset()


def value(f: Any) -> bytes:
    """The next response's value."""
    return treeobj.decode_val(nxt(f)["val"])


def end(f: Any) -> tuple[int, str | None]:
    """(errno, text) of the response that ends the stream."""
    with pytest.raises(OSError) as info:
        nxt(f)
    text = info.value.strerror
    return info.value.errno, None if text == os.strerror(info.value.errno) else text


def cancel(h: Any, f: Any) -> None:
    h.rpc("kvs-watch.cancel", {"matchtag": f.get_matchtag()}, flags=FLUX_RPC_NORESPONSE)


def watchers(h: Any, ns: str) -> int:
    stats = h.rpc("kvs-watch.stats-get").wait_for(TIMEOUT).get()
    return stats["namespaces"].get(ns, {}).get("watchers", 0)


def until(predicate: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def h(shared_instance: Any) -> Any:
    return flux.Flux(shared_instance.uri)


# -- WATCH, WAITCREATE ------------------------------------------------------------------------


def test_watch_sends_the_value_then_each_change(h):
    put(h, "w1.a", b"1")
    f = watch(h, "w1.a")
    assert value(f) == b"1"
    put(h, "w1.a", b"2")
    assert value(f) == b"2"
    put(h, "w1.a", b"2")  # the same value again: sent (no UNIQ)
    assert value(f) == b"2"
    put(h, "w1.other", b"x")  # another key: nothing
    put(h, "w1.a", b"3")
    assert value(f) == b"3"
    cancel(h, f)
    assert end(f) == (errno.ENODATA, None)


def test_normalized_key_matching(h):
    h.rpc("kvs.namespace-create", {"namespace": "norm", "rootref": treeobj_of(h, ".")["data"][0],
                                   "owner": -1, "flags": 0}).get()
    put(h, "k.a", b"1", ns="norm")
    f = watch(h, "k...a.", ns="norm")
    assert value(f) == b"1"
    put(h, "k.....a", b"2", ns="norm")
    assert value(f) == b"2"
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA


def test_missing_key_and_removed_key(h):
    assert end(watch(h, "w2.none")) == (errno.ENOENT, None)
    put(h, "w2.a", b"1")
    f = watch(h, "w2.a")
    assert value(f) == b"1"
    put(h, "w2.a", None)  # unlinked: the stream ends with ENOENT, as flux-core's
    assert end(f) == (errno.ENOENT, None)


def test_waitcreate(h):
    f = watch(h, "w3.a", W | FLUX_KVS_WAITCREATE)
    once = watch(h, "w3.a", FLUX_KVS_WAITCREATE, streaming=False)  # a lookup that waits
    until(lambda: watchers(h, "primary") >= 2)
    put(h, "w3.b", b"other")
    put(h, "w3.a", b"1")
    assert value(f) == b"1"
    assert value(once) == b"1"
    put(h, "w3.a", b"2")
    assert value(f) == b"2"
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA


def test_waitcreate_can_be_canceled(h):
    f = watch(h, "w4.never", FLUX_KVS_WAITCREATE, streaming=False)
    until(lambda: watchers(h, "primary") >= 1)
    cancel(h, f)
    assert end(f) == (errno.ENODATA, None)


def test_bad_requests(h):
    assert end(watch(h, "a", W, streaming=False)) == (
        errno.EPROTO, "KVS watch request rejected without streaming RPC flag")
    assert end(watch(h, "a", W | FLUX_KVS_STREAM)) == (
        errno.EINVAL, "Cannot KVS watch and stream at the same time")
    assert end(watch(h, "a", FLUX_KVS_WATCH_UNIQ)) == (
        errno.EINVAL, "Must set KVS watch flag with other watch flags")
    assert end(watch(h, "a", W | FLUX_KVS_WATCH_INITIAL_SENTINEL)) == (
        errno.EINVAL, "Must set KVS watch append flag with initial sentinel flag")
    with pytest.raises(OSError) as info:
        h.rpc("kvs-watch.lookup", {"key": "a", "flags": W},
              flags=FLUX_RPC_STREAMING).wait_for(TIMEOUT).get()
    assert info.value.errno == errno.EPROTO
    assert end(watch(h, ".", W)) == (errno.EISDIR, None)
    f = watch(h, ".", W | FLUX_KVS_READDIR)
    assert nxt(f)["val"]["type"] == "dir"
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA


# -- UNIQ, FULL --------------------------------------------------------------------------------


def test_uniq_suppresses_repeats(h):
    put(h, "w5.a", b"1")
    f = watch(h, "w5.a", W | FLUX_KVS_WATCH_UNIQ)
    assert value(f) == b"1"
    put(h, "w5.a", b"1")
    put(h, "w5.a", b"2")
    assert value(f) == b"2"
    put(h, "w5.a", b"2")
    put(h, "w5.a", b"3")
    assert value(f) == b"3"
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA


def test_full_sees_a_replaced_directory(h):
    put(h, "w6.orig.a", b"abc")
    put(h, "w6.new.a", b"xyz")
    plain = watch(h, "w6.orig.a")
    full = watch(h, "w6.orig.a", W | FLUX_KVS_WATCH_FULL)
    assert value(plain) == value(full) == b"abc"
    put(h, "w6.orig", treeobj_of(h, "w6.new"))  # w6.orig.a changes without being named
    assert value(full) == b"xyz"
    put(h, "w6.orig.a", b"def")  # named: both see it
    assert value(plain) == b"def"
    assert value(full) == b"def"
    put(h, "w6.unrelated", b"1")  # FULL looks, but the value did not change
    put(h, "w6.empty.x", b"1")
    put(h, "w6.empty.x", None)
    put(h, "w6.orig", treeobj_of(h, "w6.empty"))  # w6.orig.a is gone
    assert end(full) == (errno.ENOENT, None)
    cancel(h, plain)
    assert end(plain)[0] == errno.ENODATA


def test_full_with_waitcreate(h):
    f = watch(h, "w7.a", W | FLUX_KVS_WATCH_FULL | FLUX_KVS_WAITCREATE)
    until(lambda: watchers(h, "primary") >= 1)
    put(h, "w7.a", b"abc")
    put(h, "w7.a", b"def")
    assert [value(f), value(f)] == [b"abc", b"def"]
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA


# -- APPEND, STREAM, INITIAL_SENTINEL ----------------------------------------------------------


def test_append_sends_only_what_was_appended(h):
    put(h, "w8.log", b"abc")
    f = watch(h, "w8.log", W | FLUX_KVS_WATCH_APPEND)
    assert value(f) == b"abc"
    put(h, "w8.log", b"d", append=True)
    put(h, "w8.log", b"e", append=True)
    assert [value(f), value(f)] == [b"d", b"e"]
    put(h, "w8.log", b"abcdef")  # rewritten
    assert end(f) == (errno.EINVAL, "value of key watched with WATCH_APPEND overwritten")


def test_append_of_an_initial_valref_and_a_shortened_value(h):
    put(h, "w9.log", b"a")
    put(h, "w9.log", b"b", append=True)
    put(h, "w9.log", b"c", append=True)
    f = watch(h, "w9.log", W | FLUX_KVS_WATCH_APPEND)
    assert [value(f), value(f), value(f)] == [b"a", b"b", b"c"]
    put(h, "w9.log", b"x" * 100)  # a valref again, of one blob
    assert end(f) == (errno.EINVAL, "key watched with WATCH_APPEND shortened")
    assert end(watch(h, "w9", W | FLUX_KVS_WATCH_APPEND)) == (
        errno.EISDIR, "dirref cannot be watched with WATCH_APPEND")


def test_append_with_waitcreate_and_initial_sentinel(h):
    flags = W | FLUX_KVS_WATCH_APPEND | FLUX_KVS_WATCH_INITIAL_SENTINEL
    put(h, "w10.log", b"1")
    put(h, "w10.log", b"2", append=True)
    f = watch(h, "w10.log", flags)
    assert [value(f), value(f)] == [b"1", b"2"]
    assert nxt(f) is None  # the sentinel: the initial value is complete
    put(h, "w10.log", b"42", append=True)
    assert value(f) == b"42"
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA
    g = watch(h, "w10.later", flags | FLUX_KVS_WAITCREATE)
    assert nxt(g) is None  # nothing there yet: the sentinel at once
    put(h, "w10.later", b"1")
    put(h, "w10.later", b"2", append=True)
    assert [value(g), value(g)] == [b"1", b"2"]
    cancel(h, g)
    assert end(g)[0] == errno.ENODATA


def test_stream(h):
    put(h, "w11.a", b"42")
    f = watch(h, "w11.a", FLUX_KVS_STREAM)
    assert value(f) == b"42"
    assert end(f) == (errno.ENODATA, None)
    for piece in (b"event1\n", b"event2\n", b"event3\n"):
        put(h, "w11.log", piece, append=True)
    f = watch(h, "w11.log", FLUX_KVS_STREAM)
    assert [value(f), value(f), value(f)] == [b"event1\n", b"event2\n", b"event3\n"]
    assert end(f) == (errno.ENODATA, None)
    assert end(watch(h, "w11", FLUX_KVS_STREAM)) == (errno.EISDIR, "dirref cannot be streamed")
    assert end(watch(h, "w11.none", FLUX_KVS_STREAM)) == (errno.ENOENT, None)
    f = watch(h, "w11.b", FLUX_KVS_STREAM | FLUX_KVS_WAITCREATE)
    until(lambda: watchers(h, "primary") >= 1)
    put(h, "w11.b", b"43")
    assert value(f) == b"43"
    assert end(f) == (errno.ENODATA, None)


# -- disconnect, namespaces, stats -------------------------------------------------------------


def test_disconnect_ends_the_clients_watches(shared_instance, h):
    from rawclient import request

    before = watchers(h, "primary")
    with shared_instance.client() as raw:
        for i in range(5):
            raw.send(request("kvs-watch.lookup", {"key": f"w12.k{i}", "namespace": "primary",
                                                  "flags": W | FLUX_KVS_WAITCREATE},
                             matchtag=i + 1, flags=FLUX_MSGFLAG_STREAMING))
        until(lambda: watchers(h, "primary") == before + 5)
    # the connection is closed: the connector sends kvs-watch.disconnect for it
    until(lambda: watchers(h, "primary") == before)


def test_namespace_waitcreate_then_removal(h):
    f = watch(h, "a", W | FLUX_KVS_WAITCREATE, ns="w13")
    g = watch(h, "a", FLUX_KVS_WAITCREATE, ns="w13", streaming=False)
    assert end(watch(h, "a", W, ns="w13")) == (errno.EOPNOTSUPP, None)
    until(lambda: watchers(h, "w13") == 2)
    stats = h.rpc("kvs-watch.stats-get").get()["namespaces"]["w13"]
    assert stats == {"owner": -1, "rootseq": -1, "rootref": "(null)", "watchers": 2}
    h.rpc("kvs.namespace-create", {"namespace": "w13", "rootref": treeobj_of(h, ".")["data"][0],
                                   "owner": -1, "flags": 0}).get()
    put(h, "a", b"1", ns="w13")
    assert value(f) == b"1"
    assert value(g) == b"1"
    other = watch(h, "b", W | FLUX_KVS_WAITCREATE, ns="w13")
    until(lambda: watchers(h, "w13") == 2)
    h.rpc("kvs.namespace-remove", {"namespace": "w13"}).get()
    assert end(f) == (errno.EOPNOTSUPP, None)
    assert end(other) == (errno.EOPNOTSUPP, None)
    until(lambda: watchers(h, "w13") == 0)


def test_stats(h):
    stats = h.rpc("kvs-watch.stats-get").get()
    assert set(stats) == {"watchers", "namespace-count", "namespaces"}
    f = watch(h, "w14.a", W | FLUX_KVS_WAITCREATE)
    until(lambda: watchers(h, "primary") >= 1)
    stats = h.rpc("kvs-watch.stats-get").get()
    primary = stats["namespaces"]["primary"]
    root = h.rpc("kvs.getroot", {"namespace": "primary", "flags": 0}).get()
    assert primary["rootref"] == root["rootref"] and primary["rootseq"] == root["rootseq"]
    assert primary["owner"] == os.getuid()
    assert stats["watchers"] >= 1 and stats["namespace-count"] >= 1
    cancel(h, f)
    assert end(f)[0] == errno.ENODATA


# -- many watchers -----------------------------------------------------------------------------


def test_many_watchers(shared_instance, h):
    clients = [flux.Flux(shared_instance.uri) for _ in range(4)]
    for key in ("w15.hot", "w15.k0", "w15.k1"):
        put(h, key, b"0")
    hot = [watch(c, "w15.hot", W | (FLUX_KVS_WATCH_UNIQ if i % 2 else 0))
           for c in clients for i in range(50)]
    cold0 = [watch(c, "w15.k0") for c in clients for _ in range(10)]
    cold1 = [watch(c, "w15.k1") for c in clients for _ in range(10)]
    cold = cold0 + cold1
    assert all(value(f) == b"0" for f in hot + cold)
    start = time.monotonic()
    for n in range(1, 6):
        put(h, "w15.hot", str(n).encode())
        assert all(value(f) == str(n).encode() for f in hot)
    elapsed = time.monotonic() - start
    put(h, "w15.k1", b"1")
    put(h, "w15.k0", b"2")
    assert all(value(f) == b"1" for f in cold1)
    assert all(value(f) == b"2" for f in cold0)  # nothing from the k1 commit came first
    assert elapsed < 10, f"5 commits to 200 watchers took {elapsed:.2f}s"
    for f in hot + cold:
        cancel(f.flux_handle, f)
    for f in hot + cold:
        assert end(f)[0] == errno.ENODATA


# -- guests ------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guest_sees_only_what_it_may_look_up():
    with start_instance("access.allow-guest-user=true") as gi:
        h = flux.Flux(gi.uri)
        put(h, "secret", b"s")
        root = treeobj_of(h, ".")["data"][0]
        h.rpc("kvs.namespace-create", {"namespace": "guestns", "rootref": root,
                                       "owner": GUEST_UID, "flags": 0}).get()
        put(h, "mine", b"1", ns="guestns")
        put(h, "link", treeobj.create_symlink("secret", "primary"), ns="guestns")

        def work() -> list:
            g = flux.Flux(gi.uri)
            out: list = []
            f = watch(g, "mine", ns="guestns")
            out.append(value(f).decode())
            put(g, "mine", b"2", ns="guestns")
            out.append(value(f).decode())
            cancel(g, f)
            out.append(end(f)[0])
            out.append(end(watch(g, "secret"))[0])  # primary is the owner's
            out.append(end(watch(g, "secret", W | FLUX_KVS_WAITCREATE))[0])
            out.append(end(watch(g, "link", ns="guestns"))[0])  # a way into primary
            return out

        assert run_as_guest(work) == ["1", "2", errno.ENODATA, errno.EPERM, errno.EPERM,
                                      errno.EPERM]
        f = watch(h, "link", ns="guestns")  # the owner may follow it
        assert value(f) == b"s"
        cancel(h, f)
        assert end(f)[0] == errno.ENODATA
