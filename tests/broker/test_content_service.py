"""The broker's content service (content.load/store/flush) through real instances."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest
from conftest import base_env, flux_exe, short_tmpdir, start_instance
from guest import run_as_guest

import flux
from proctree import run_tree


def _raw(h, topic: str, data: bytes | None) -> bytes:
    """One raw RPC; the response's exact payload (b"" for none)."""
    return h.rpc(topic, data).get_message().payload_bytes or b""


def _errno(h, topic: str, data: bytes | None) -> int:
    with pytest.raises(OSError) as info:
        h.rpc(topic, data).get()
    return info.value.errno


def test_store_load_round_trip(tmp_path):
    tmp = short_tmpdir()
    try:
        with start_instance(env={"TMPDIR": tmp}) as inst:
            h = flux.Flux(inst.uri)
            assert h.attr_get("content.hash") == "sha1"
            blobs = [b"hello", b"ends with NUL\0", b"\0" * 5000, b""]
            digests = [_raw(h, "content.store", b or None) for b in blobs]
            assert digests == [hashlib.sha1(b).digest() for b in blobs]
            assert [_raw(h, "content.load", d) for d in digests] == blobs
            assert _raw(h, "content.store", b"hello") == digests[0]  # idempotent
            assert _raw(h, "content-backing.load", digests[0]) == b"hello"  # --bypass-cache
            assert _errno(h, "content.load", hashlib.sha1(b"nope").digest()) == errno.ENOENT
            assert _errno(h, "content.load", b"short") == errno.EPROTO
            assert _errno(h, "content.load", None) == errno.EPROTO
            h.rpc("content.flush").get()  # written through: nothing to flush
            h.rpc("content.dropcache").get()
            # the throw-away database lives on in the broker's open descriptor only:
            # nothing of it in $TMPDIR, even while the instance runs (or if it is killed)
            assert os.listdir(tmp) == []
            fds = os.path.join("/proc", str(inst.proc.pid), "fd")
            links = [os.readlink(os.path.join(fds, fd)) for fd in os.listdir(fds)]
            open_db = [link for link in links if "content.sqlite" in link]
            assert len(open_db) == 1 and open_db[0].startswith(tmp + "/pureflux-content-") \
                and open_db[0].endswith(" (deleted)"), links
            # and it keeps working past what sqlite caches in memory (~24 MB of blobs)
            big = [os.urandom(8192) for _ in range(3000)]
            stored = [_raw(h, "content.store", b) for b in big]
            assert [_raw(h, "content.load", d) for d in stored[::97]] == big[::97]
            del h
        assert os.listdir(tmp) == []
    finally:
        os.rmdir(tmp)


def test_size_limit_and_sha256():
    with start_instance("content.hash=sha256", "content.blob-size-limit=16") as inst:
        h = flux.Flux(inst.uri)
        assert h.attr_get("content.hash") == "sha256"
        assert h.attr_get("content.blob-size-limit") == "16"
        digest = _raw(h, "content.store", b"x" * 16)
        assert digest == hashlib.sha256(b"x" * 16).digest()
        assert _raw(h, "content.load", digest) == b"x" * 16
        assert _errno(h, "content.store", b"x" * 17) == errno.EFBIG
        assert _errno(h, "content.load", hashlib.sha1(b"x").digest()) == errno.EPROTO
        del h


@pytest.mark.parametrize("setattr,text", [
    ("content.hash=md5", "content.hash: unknown hash type"),
    ("content.blob-size-limit=lots", "content.blob-size-limit: invalid value"),
])
def test_bad_content_attributes_stop_the_broker(setattr, text):
    tmp = short_tmpdir()
    try:
        res = run_tree([flux_exe(), "broker", "-S", f"rundir={tmp}/run", "-S", setattr],
                       env=base_env(), capture_output=True, text=True, timeout=30)
        assert res.returncode == 1
        assert text in res.stderr
        assert not os.path.exists(f"{tmp}/run")
    finally:
        os.rmdir(tmp)


def test_statedir_persists_across_restarts(tmp_path):
    statedir = tmp_path / "state"
    with start_instance(f"statedir={statedir}") as inst:
        h = flux.Flux(inst.uri)
        digest = _raw(h, "content.store", b"survives a restart")
        del h
    assert (statedir / "content.sqlite").exists()
    assert not (statedir / "content.sqlite-wal").exists()  # checkpointed at exit
    with start_instance(f"statedir={statedir}") as inst:
        h = flux.Flux(inst.uri)
        assert _raw(h, "content.load", digest) == b"survives a restart"
        assert h.attr_get("statedir") == str(statedir)
        del h


def test_statedir_in_use_is_refused(tmp_path):
    statedir = tmp_path / "state"
    with start_instance(f"statedir={statedir}"):
        tmp = short_tmpdir()
        try:
            res = run_tree([flux_exe(), "broker", "-S", f"rundir={tmp}/run",
                            "-S", f"statedir={statedir}"],
                           env=base_env(), capture_output=True, text=True, timeout=30)
            assert res.returncode == 1
            assert "content store:" in res.stderr
        finally:
            os.rmdir(tmp)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guest_is_refused():
    with start_instance("access.allow-guest-user=true") as inst:
        def work() -> list:
            h = flux.Flux(inst.uri)
            out = []
            for topic, data in (("content.store", b"guest"), ("content.load", b"\0" * 20),
                                ("content.flush", None)):
                try:
                    h.rpc(topic, data).get()
                    out.append(0)
                except OSError as exc:
                    out.append(exc.errno)
            return out

        assert run_as_guest(work) == [errno.EPERM] * 3


def test_get_raw_keeps_a_trailing_zero_byte(instance):
    """A blob ending in NUL comes back whole through RPC.get_raw (nothing stripped)."""
    import flux

    h = flux.Flux(instance.uri)
    blob = b"ends in a zero byte\0"
    digest = h.rpc("content.store", blob).get_raw()
    assert h.rpc("content.load", digest).get_raw() == blob
