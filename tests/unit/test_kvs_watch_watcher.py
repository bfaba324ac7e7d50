"""kvs-watch's sans-I/O parts: flag checks, one watcher's responses, the commit index."""

from __future__ import annotations

import errno
import time

import pytest

from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_KVS_STREAM,
    FLUX_KVS_TREEOBJ,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_KVS_WATCH_UNIQ,
)
from flux.services.content.blobref import hash_blobref
from flux.services.kvs import treeobj
from flux.services.kvs_watch.monitor import Monitor
from flux.services.kvs_watch.watcher import SENTINEL, VALUE, End, Watcher, check_flags

W = FLUX_KVS_WATCH
BLOBS = {"r0": b"abc", "r1": b"d", "r2": b"e", "r3": b"f"}
REFS = {name: hash_blobref("sha1", data) for name, data in BLOBS.items()}
REFS["gone"] = hash_blobref("sha1", b"not stored")
DATA = {REFS[name]: data for name, data in BLOBS.items()}


def load(ref: str) -> bytes:
    try:
        return DATA[ref]
    except KeyError:
        raise OSError(errno.ENOENT, "no blob") from None


def val(data: bytes) -> dict:
    return treeobj.create_val(data)


def valref(*names: str) -> dict:
    return treeobj.create_valref(*(REFS[n] for n in names))


def piece(data: bytes) -> bytes:
    return data  # one blob: the service sends {"val": val(data)}


def watcher(flags: int) -> Watcher:
    return Watcher(object(), "primary", "a.b", flags)


# -- flags ------------------------------------------------------------------------------


@pytest.mark.parametrize("flags,streaming,errnum,text", [
    (W, False, errno.EPROTO, "KVS watch request rejected without streaming RPC flag"),
    (FLUX_KVS_STREAM, False, errno.EPROTO,
     "KVS stream request rejected without streaming RPC flag"),
    (W | FLUX_KVS_STREAM, True, errno.EINVAL, "Cannot KVS watch and stream at the same time"),
    (FLUX_KVS_WATCH_UNIQ, False, errno.EINVAL, "Must set KVS watch flag with other watch flags"),
    (FLUX_KVS_WAITCREATE | FLUX_KVS_WATCH_FULL, False, errno.EINVAL,
     "Must set KVS watch flag with other watch flags"),
    (W | FLUX_KVS_WATCH_INITIAL_SENTINEL, True, errno.EINVAL,
     "Must set KVS watch append flag with initial sentinel flag"),
])
def test_bad_flags(flags, streaming, errnum, text):
    with pytest.raises(OSError) as info:
        check_flags(flags, streaming)
    assert (info.value.errno, info.value.strerror) == (errnum, text)


@pytest.mark.parametrize("flags,streaming", [
    (W, True), (FLUX_KVS_STREAM, True), (FLUX_KVS_WAITCREATE, False), (0, False),
    (W | FLUX_KVS_WATCH_APPEND | FLUX_KVS_WATCH_INITIAL_SENTINEL | FLUX_KVS_WAITCREATE, True),
    (W | FLUX_KVS_WATCH_FULL | FLUX_KVS_WATCH_UNIQ | FLUX_KVS_READDIR, True),
])
def test_good_flags(flags, streaming):
    check_flags(flags, streaming)


def test_lookup_flags_ask_for_the_stored_object_for_pieces():
    assert watcher(W | FLUX_KVS_WATCH_UNIQ).lookup_flags == 0
    assert watcher(W | FLUX_KVS_READDIR).lookup_flags == FLUX_KVS_READDIR
    assert watcher(W | FLUX_KVS_WATCH_APPEND).lookup_flags & FLUX_KVS_TREEOBJ
    assert watcher(FLUX_KVS_STREAM).lookup_flags & FLUX_KVS_TREEOBJ


# -- WATCH --------------------------------------------------------------------------------


def test_watch_sends_every_new_value():
    w = watcher(W)
    assert w.first(val(b"1"), 0, 3, load) == [VALUE]
    assert w.next(val(b"1"), 0, 4, load) == [VALUE]  # the same value again: sent (no UNIQ)
    assert w.next(val(b"2"), 0, 4, load) == []  # not a newer root: ignored
    assert w.next(val(b"2"), 0, 5, load) == [VALUE]
    assert not w.done


def test_missing_key_is_enoent_and_removal_ends_the_watch():
    w = watcher(W)
    assert w.first(None, errno.ENOENT, 1, load) == [End(errno.ENOENT)]
    assert w.done
    w = watcher(W)
    w.first(val(b"1"), 0, 1, load)
    assert w.next(None, errno.ENOENT, 2, load) == [End(errno.ENOENT)] and w.done
    assert w.next(val(b"1"), 0, 3, load) == []


def test_other_errors_end_the_watch():
    w = watcher(W)
    assert w.first(None, errno.EISDIR, 1, load) == [End(errno.EISDIR)] and w.done


def test_waitcreate_waits_for_the_key():
    w = watcher(W | FLUX_KVS_WAITCREATE)
    assert w.first(None, errno.ENOENT, 1, load) == [] and not w.done
    assert w.next(val(b"1"), 0, 2, load) == [VALUE]
    assert w.next(val(b"2"), 0, 3, load) == [VALUE]
    assert not w.done


def test_waitcreate_without_watch_answers_once():
    w = watcher(FLUX_KVS_WAITCREATE)
    assert w.first(None, errno.ENOENT, 1, load) == []
    assert w.next(val(b"1"), 0, 2, load) == [VALUE] and w.done
    w = watcher(FLUX_KVS_WAITCREATE)
    assert w.first(val(b"1"), 0, 1, load) == [VALUE] and w.done
    w = watcher(0)  # a plain lookup sent here: one answer too
    assert w.first(val(b"1"), 0, 1, load) == [VALUE] and w.done


def test_cancel_ends_with_enodata_once():
    w = watcher(W)
    w.first(val(b"1"), 0, 1, load)
    assert w.cancel() == [End(errno.ENODATA)] and w.done
    assert w.cancel() == []


# -- UNIQ and FULL ----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [FLUX_KVS_WATCH_UNIQ, FLUX_KVS_WATCH_FULL])
def test_uniq_and_full_skip_repeats(flag):
    w = watcher(W | flag)
    assert w.full == (flag == FLUX_KVS_WATCH_FULL)
    assert w.first(val(b"1"), 0, 1, load) == [VALUE]
    assert w.next(val(b"1"), 0, 2, load) == []
    assert w.next(val(b"2"), 0, 3, load) == [VALUE]
    assert w.next(val(b"1"), 0, 4, load) == [VALUE]
    assert w.next(val(b"1"), 0, 5, load) == []


def test_uniq_after_waitcreate_sends_the_first_value():
    w = watcher(W | FLUX_KVS_WATCH_UNIQ | FLUX_KVS_WAITCREATE)
    assert w.first(None, errno.ENOENT, 1, load) == []
    assert w.next(val(b"1"), 0, 2, load) == [VALUE]
    assert w.next(val(b"1"), 0, 3, load) == []


# -- APPEND --------------------------------------------------------------------------------------

A = W | FLUX_KVS_WATCH_APPEND


def test_append_sends_blob_by_blob():
    w = watcher(A)
    assert w.first(valref("r0", "r1"), 0, 1, load) == [piece(b"abc"), piece(b"d")]
    assert w.next(valref("r0", "r1", "r2", "r3"), 0, 2, load) == [piece(b"e"), piece(b"f")]
    assert w.next(valref("r0", "r1", "r2", "r3"), 0, 3, load) == []  # nothing appended
    assert not w.done


def _follow_appends(commits: int) -> float:
    """Seconds an APPEND watcher takes to follow ``commits`` commits of one blob each."""
    refs = [REFS["r0"]]
    value = {"data": refs, "type": "valref", "ver": 1}
    w = watcher(A)
    w.first(value, 0, 1, load)
    start = time.perf_counter()
    for seq in range(2, commits + 2):
        refs.append(REFS["r1"])  # the value grows as a job's output does
        assert len(w.next(value, 0, seq, load)) == 1
    return time.perf_counter() - start


def test_following_appends_is_linear_in_the_commits():
    """Each commit costs what it appended, not what the value holds (a watcher that
    re-read or compared the whole value took ~100 times as long for 10 times the commits)."""
    small = min(_follow_appends(2000) for _ in range(3))
    large = min(_follow_appends(20000) for _ in range(2))
    assert large < 30 * small, (small, large)


def test_append_starting_from_a_val():
    w = watcher(A)
    assert w.first(val(b"abc"), 0, 1, load) == [VALUE]
    # appending to a val makes a valref of the val's blob and the new one
    assert w.next(valref("r0", "r1"), 0, 2, load) == [piece(b"d")]


def test_append_rewritten_value_is_einval():
    w = watcher(A)
    w.first(val(b"abc"), 0, 1, load)
    assert w.next(val(b"abcdef"), 0, 2, load) == [
        End(errno.EINVAL, "value of key watched with WATCH_APPEND overwritten")]
    w = watcher(A)
    w.first(valref("r0", "r1", "r2"), 0, 1, load)
    assert w.next(valref("r3"), 0, 2, load) == [
        End(errno.EINVAL, "key watched with WATCH_APPEND shortened")]


@pytest.mark.parametrize("obj,errnum,name", [
    (treeobj.create_dir(), errno.EISDIR, "dir"),
    (treeobj.create_dirref("sha1-" + "0" * 40), errno.EISDIR, "dirref"),
    (treeobj.create_symlink("x"), errno.EINVAL, "symlink"),
])
def test_append_of_a_non_value(obj, errnum, name):
    w = watcher(A)
    assert w.first(obj, 0, 1, load) == [End(errnum, f"{name} cannot be watched with WATCH_APPEND")]
    w = watcher(FLUX_KVS_STREAM)
    assert w.first(obj, 0, 1, load) == [End(errnum, f"{name} cannot be streamed")]


def test_append_missing_blob():
    w = watcher(A)
    assert w.first(valref("r0", "gone"), 0, 1, load) == [
        piece(b"abc"), End(errno.ENOENT, "failed to load content data")]
    assert w.done


def test_append_initial_sentinel():
    S = A | FLUX_KVS_WATCH_INITIAL_SENTINEL
    w = watcher(S)
    assert w.first(valref("r0", "r1"), 0, 1, load) == [piece(b"abc"), piece(b"d"), SENTINEL]
    assert w.next(valref("r0", "r1", "r2"), 0, 2, load) == [piece(b"e")]
    w = watcher(S)
    assert w.first(val(b"1"), 0, 1, load) == [VALUE, SENTINEL]
    w = watcher(S | FLUX_KVS_WAITCREATE)  # nothing there yet: the sentinel at once
    assert w.first(None, errno.ENOENT, 1, load) == [SENTINEL]
    assert w.next(val(b"1"), 0, 2, load) == [VALUE]
    assert w.next(valref("r0", "r1"), 0, 3, load) == [piece(b"d")]


# -- STREAM -------------------------------------------------------------------------------------


def test_stream_sends_the_pieces_then_enodata():
    w = watcher(FLUX_KVS_STREAM)
    assert w.first(valref("r0", "r1", "r2"), 0, 1, load) == [
        piece(b"abc"), piece(b"d"), piece(b"e"), End(errno.ENODATA)]
    w = watcher(FLUX_KVS_STREAM)
    assert w.first(val(b"42"), 0, 1, load) == [VALUE, End(errno.ENODATA)]
    w = watcher(FLUX_KVS_STREAM)
    assert w.first(None, errno.ENOENT, 1, load) == [End(errno.ENOENT)]


def test_stream_waitcreate():
    w = watcher(FLUX_KVS_STREAM | FLUX_KVS_WAITCREATE)
    assert w.first(None, errno.ENOENT, 1, load) == []
    assert w.next(valref("r0", "r1"), 0, 2, load) == [
        piece(b"abc"), piece(b"d"), End(errno.ENODATA)]


# -- the index a commit goes through ---------------------------------------------------------------


def test_monitor_finds_the_watchers_a_commit_concerns():
    mon = Monitor("primary")
    a1 = Watcher(None, "primary", "a", W)
    a2 = Watcher(None, "primary", "a", W | FLUX_KVS_WATCH_UNIQ)
    b = Watcher(None, "primary", "b", W)
    full = Watcher(None, "primary", "c.d", W | FLUX_KVS_WATCH_FULL)
    for w in (a1, a2, b, full):
        mon.add(w)
    assert len(mon) == 4
    assert mon.concerned(["x"]) == [full]
    assert mon.concerned(["a", "x"]) == [full, a1, a2]
    assert set(mon.concerned({"a": None, "b": None})) == {full, a1, a2, b}
    mon.remove(a1)
    mon.remove(full)
    assert mon.concerned(["a", "b"]) == [a2, b]
    mon.remove(a2)
    mon.remove(b)
    assert not mon and mon.by_key == {} and mon.full == {}
