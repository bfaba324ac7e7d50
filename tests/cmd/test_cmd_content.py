"""``flux content load|store|flush|dropcache`` against an instance."""

from __future__ import annotations

import hashlib


def _run(inst, *args: str, data: bytes = b""):
    """``flux content ARGS`` with ``data`` on stdin; bytes out."""
    return inst.run("content", *args, input=data, text=False)


def test_store_then_load_gives_the_same_bytes(shared_instance):
    blob = bytes(range(256)) * 10 + b"\0"
    res = _run(shared_instance, "store", data=blob)
    assert res.returncode == 0, res.stderr
    ref = res.stdout.decode()
    assert ref == f"sha1-{hashlib.sha1(blob).hexdigest()}\n"
    res = _run(shared_instance, "load", ref.strip())
    assert (res.returncode, res.stdout) == (0, blob)
    res = _run(shared_instance, "load", data=ref.encode())  # blobrefs on stdin
    assert (res.returncode, res.stdout) == (0, blob)
    res = _run(shared_instance, "load", "--bypass-cache", ref.strip(), ref.strip())
    assert (res.returncode, res.stdout) == (0, blob + blob)


def test_chunks_and_empty_input(shared_instance):
    res = _run(shared_instance, "store", "--chunksize=3", data=b"abcdefgh")
    refs = res.stdout.decode().split()
    assert refs == [f"sha1-{hashlib.sha1(c).hexdigest()}" for c in (b"abc", b"def", b"gh")]
    assert _run(shared_instance, "load", *refs).stdout == b"abcdefgh"
    res = _run(shared_instance, "store")
    assert res.stdout == b"sha1-da39a3ee5e6b4b0d3255bfef95601890afd80709\n"  # empty blob
    assert _run(shared_instance, "load", res.stdout.decode().strip()).stdout == b""


def test_errors(shared_instance):
    missing = "sha1-" + "0" * 40
    res = _run(shared_instance, "load", missing)
    assert (res.returncode, res.stderr) == (
        1, b"flux-content: error loading blob: No such file or directory\n")
    res = _run(shared_instance, "load", "bogus")
    assert (res.returncode, res.stderr) == (1, b"flux-content: error loading blob: Invalid argument\n")
    res = _run(shared_instance, "load", "sha256-" + "0" * 64)  # not this instance's hash
    assert (res.returncode, res.stderr) == (1, b"flux-content: error loading blob: Protocol error\n")
    res = _run(shared_instance, "load")
    assert (res.returncode, res.stderr) == (1, b"flux-content: no blobrefs were specified\n")
    res = _run(shared_instance, "store", "extra")
    assert res.returncode == 1 and res.stderr.startswith(b"Usage: flux content store")
    assert _run(shared_instance, "store", "--chunksize=-1").returncode == 1
    assert _run(shared_instance, "nosuch").returncode == 1


def test_flush_and_dropcache(shared_instance):
    for sub in ("flush", "dropcache"):
        res = _run(shared_instance, sub)
        assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")


def test_checkpoint_list_and_update(shared_instance):
    import json
    import re

    shared_instance.run("kvs", "put", "cp.test=1")
    shared_instance.run("kvs", "sync")
    res = shared_instance.run("content", "checkpoint", "list")
    lines = res.stdout.splitlines()
    assert res.returncode == 0, res.stderr
    assert lines[0] == "Index      Sequence   Time                 Rootref"
    assert re.fullmatch(r"0 {10}\d+ +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ sha1-[0-9a-f]{40}", lines[1])
    res = shared_instance.run("content", "checkpoint", "list", "-j")
    checkpt = json.loads(res.stdout.splitlines()[0])
    assert checkpt["version"] == 1 and checkpt["rootref"] == lines[1].split()[-1]
    res = shared_instance.run("content", "checkpoint", "list", "-n")
    assert res.stdout.splitlines() == lines[1:]
    # the KVS runs (inside the broker): the checkpoint may not be moved under it
    res = shared_instance.run("content", "checkpoint", "update", "sha1-" + "0" * 40)
    assert (res.returncode, res.stderr) == (
        1, "flux-content: please unload kvs module before updating checkpoint\n")
    res = shared_instance.run("content", "checkpoint")
    assert res.returncode == 1
    assert res.stderr.startswith("flux content checkpoint: missing subcommand\n"
                                 "Usage: flux content checkpoint list [OPTIONS]\n")
    res = shared_instance.run("content")
    assert res.returncode == 1 and res.stderr.startswith("flux content: missing subcommand\n")
