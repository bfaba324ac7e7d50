"""The broker's KVS service through real instances, with raw RPCs (flux-core's payloads).

What flux.kvs and `flux kvs` build on: lookups, commits and their merging,
fences, namespaces, wait-version, setroot events, guests, bad input, and
durability (a clean restart and ``kill -9``) with a statedir.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import subprocess
import time

import pytest
from conftest import base_env, flux_exe, short_tmpdir, start_instance, wait_for_socket
from guest import GUEST_UID, run_as_guest

import flux
from flux.constants import (
    FLUX_KVS_APPEND,
    FLUX_KVS_NO_MERGE,
    FLUX_KVS_READDIR,
    FLUX_KVS_READLINK,
    FLUX_KVS_TREEOBJ,
)

EMPTY_DIR_REF = "sha1-" + __import__("hashlib").sha1(b'{"data":{},"type":"dir","ver":1}').hexdigest()


def val(data: bytes | str) -> dict:
    if isinstance(data, str):
        data = data.encode()
    return {"data": base64.b64encode(data).decode(), "type": "val", "ver": 1}


def put(key: str, data: bytes | str, flags: int = 0) -> dict:
    return {"key": key, "flags": flags, "dirent": val(data)}


def commit(h, *ops: dict, ns: str = "primary", flags: int = 0) -> dict:
    return h.rpc("kvs.commit", {"namespace": ns, "flags": flags, "ops": list(ops)}).get()


def lookup(h, key: str, flags: int = 0, ns: str = "primary") -> dict:
    return h.rpc("kvs.lookup", {"key": key, "flags": flags, "namespace": ns}).get()["val"]


def get(h, key: str, ns: str = "primary") -> bytes:
    return base64.b64decode(lookup(h, key, 0, ns)["data"])


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(OSError) as info:
        fn(*args, **kw)
    return info.value.errno


def getroot(h, ns: str = "primary") -> dict:
    return h.rpc("kvs.getroot", {"namespace": ns}).get()


@pytest.fixture(scope="module")
def kvs_instance():
    with start_instance() as inst:
        yield inst


@pytest.fixture
def h(kvs_instance):
    return flux.Flux(kvs_instance.uri)


def test_empty_store(h):
    root = h.rpc("kvs.getroot", {"namespace": "primary"}).get()
    assert set(root) == {"owner", "rootseq", "rootref", "flags", "namespace"}
    assert root["namespace"] == "primary" and root["owner"] == os.getuid()
    assert lookup(h, ".", FLUX_KVS_READDIR)["type"] == "dir"
    # the initial root is the empty directory's blob, as flux-core's: it is in the content
    # store (the primary namespace holds resource.R once the instance runs, as flux-core's
    # after rc1, so its current root is another)
    fresh = start_instance()
    with fresh as inst:
        fh = flux.Flux(inst.uri)
        digest = bytes.fromhex(EMPTY_DIR_REF.split("-", 1)[1])
        blob = fh.rpc("content.load", digest).get_message().payload_bytes
        assert blob == b'{"data":{},"type":"dir","ver":1}'


def test_put_get_and_the_answer(h):
    before = getroot(h)
    res = commit(h, put("t1.a.b", "1"), put("t1.a.c", "two"))
    assert set(res) == {"rootref", "rootseq"}
    assert res["rootseq"] == before["rootseq"] + 1
    root = getroot(h)
    assert (root["rootref"], root["rootseq"]) == (res["rootref"], res["rootseq"])
    assert get(h, "t1.a.b") == b"1"
    assert get(h, "t1.a.c") == b"two"
    assert get(h, "..t1..a.c.") == b"two"  # keys are normalized
    d = lookup(h, "t1.a", FLUX_KVS_READDIR)
    assert sorted(d["data"]) == ["b", "c"]
    # the directory is stored as a dirref; TREEOBJ shows it
    assert lookup(h, "t1.a", FLUX_KVS_TREEOBJ)["type"] == "dirref"


def test_lookup_errors(h):
    commit(h, put("t2.v", "x"), {"key": "t2.l", "flags": 0,
                                 "dirent": {"data": {"target": "t2.v"}, "type": "symlink",
                                            "ver": 1}})
    assert errno_of(lookup, h, "t2.nosuch") == errno.ENOENT
    assert errno_of(lookup, h, "t2") == errno.EISDIR
    assert errno_of(lookup, h, "t2.v", FLUX_KVS_READDIR) == errno.ENOTDIR
    assert errno_of(lookup, h, "t2.v", FLUX_KVS_READLINK) == errno.EINVAL
    assert lookup(h, "t2.l", FLUX_KVS_READLINK)["data"] == {"target": "t2.v"}
    assert get(h, "t2.l") == b"x"  # followed
    assert errno_of(lookup, h, "t2.v", 0, "nosuch") == errno.EOPNOTSUPP
    for bad in ({}, {"key": 1, "flags": 0, "namespace": "primary"},
                {"key": "a", "flags": 0}, {"key": "a", "namespace": "primary"}):
        assert errno_of(lambda p: h.rpc("kvs.lookup", p).get(), bad) == errno.EPROTO
    assert errno_of(lambda: h.rpc("kvs.lookup", b"\xff").get()) == errno.EPROTO
    for topic in ("kvs.lookup", "kvs.commit", "kvs.getroot", "kvs.wait-version", "kvs.fence",
                  "kvs.namespace-create", "kvs.namespace-remove", "kvs.lookup-plus"):
        for bad in ([1, 2], "text", 5, None):
            assert errno_of(lambda: h.rpc(topic, bad).get()) == errno.EPROTO, (topic, bad)


def test_lookup_at_a_snapshot_and_lookup_plus(h):
    first = commit(h, put("t3.k", "old"))
    commit(h, put("t3.k", "new"))
    rootdir = {"data": [first["rootref"]], "type": "dirref", "ver": 1}
    old = h.rpc("kvs.lookup", {"key": "t3.k", "flags": 0, "rootdir": rootdir}).get()["val"]
    assert base64.b64decode(old["data"]) == b"old"
    bad = {"data": {}, "type": "dir", "ver": 1}
    assert errno_of(lambda: h.rpc("kvs.lookup", {"key": "t3.k", "flags": 0,
                                                 "rootdir": bad}).get()) == errno.EINVAL
    root = getroot(h)
    plus = h.rpc("kvs.lookup-plus", {"key": "t3.k", "flags": 0, "namespace": "primary"}).get()
    assert plus["rootseq"] == root["rootseq"] and plus["rootref"] == root["rootref"]
    assert base64.b64decode(plus["val"]["data"]) == b"new"
    missing = h.rpc("kvs.lookup-plus", {"key": "t3.nope", "flags": 0,
                                        "namespace": "primary"}).get()
    assert missing["errno"] == errno.ENOENT and "val" not in missing


def test_large_values_append_unlink_mkdir(h):
    big = b"x" * 5000
    commit(h, put("t4.big", big))
    assert get(h, "t4.big") == big
    assert lookup(h, "t4.big", FLUX_KVS_TREEOBJ)["type"] == "valref"
    commit(h, put("t4.log", "a"))
    commit(h, put("t4.log", "b", FLUX_KVS_APPEND))
    commit(h, put("t4.log", "c", FLUX_KVS_APPEND))
    assert get(h, "t4.log") == b"abc"
    commit(h, {"key": "t4.big", "flags": 0, "dirent": None})
    assert errno_of(lookup, h, "t4.big") == errno.ENOENT
    commit(h, {"key": "t4.d", "flags": 0, "dirent": {"data": {}, "type": "dir", "ver": 1}})
    assert lookup(h, "t4.d", FLUX_KVS_READDIR)["data"] == {}


def test_bad_commits_change_nothing(h):
    root = getroot(h)
    bad_ops = [
        [{"key": ".", "flags": 0, "dirent": val("x")}],  # the root cannot be set
        [{"key": "t5.a", "flags": 0, "dirent": {"type": "val", "ver": 1}}],  # bad treeobj
        [{"key": "t5.a", "flags": 0, "dirent": {"data": 5, "type": "bogus", "ver": 1}}],
        [{"key": 7, "flags": 0, "dirent": None}],
        ["not an op"],
    ]
    for ops in bad_ops:
        err = errno_of(lambda: h.rpc("kvs.commit", {"namespace": "primary", "flags": 0,
                                                    "ops": ops}).get())
        assert err in (errno.EINVAL, errno.EPROTO), ops
    for payload in ({"namespace": "primary", "flags": 0}, {"flags": 0, "ops": []},
                    {"namespace": "primary", "ops": []}):
        assert errno_of(lambda: h.rpc("kvs.commit", payload).get()) == errno.EPROTO
    assert errno_of(commit, h, put("a", "b"), ns="nosuch") == errno.EOPNOTSUPP
    assert getroot(h) == root


def _commit_together(inst, ops_list: list[list]) -> list:
    """Send one kvs.commit per ops list in a single write; the responses in order."""
    from rawclient import request

    from flux.codec import encode_stream

    data = b"".join(encode_stream(request("kvs.commit", {"namespace": "primary", "flags": 0,
                                                         "ops": o}, matchtag=i + 1))
                    for i, o in enumerate(ops_list))
    with inst.client() as c:
        c.send(data)
        answers = {}
        for _ in ops_list:
            msg = c.recv()
            answers[msg.matchtag] = msg
    return [answers[i + 1] for i in range(len(ops_list))]


def test_concurrent_commits_merge(h, kvs_instance):
    """Commits that arrive together (here: in one write) are applied as one, in order."""
    answers = _commit_together(kvs_instance, [[put(f"t6.k{i}", str(i))] for i in range(30)])
    assert all(a.errnum == 0 for a in answers)
    seqs = [json.loads(a.payload_str)["rootseq"] for a in answers]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) < len(seqs)  # merged: fewer versions than commits
    for i in range(30):
        assert get(h, f"t6.k{i}") == str(i).encode()


def test_a_bad_commit_among_merged_ones_fails_alone(h, kvs_instance):
    ops = [[put(f"t6.a{i}", str(i))] for i in range(5)]
    ops.append([{"key": ".", "flags": 0, "dirent": val("x")}])  # EINVAL
    ops += [[put(f"t6.b{i}", str(i))] for i in range(5)]
    answers = _commit_together(kvs_instance, ops)
    assert [a.errnum for a in answers] == [0] * 5 + [errno.EINVAL] + [0] * 5
    for i in range(5):
        assert get(h, f"t6.a{i}") == get(h, f"t6.b{i}") == str(i).encode()


def test_no_merge_commits_each_get_a_version(h):
    futures = [h.rpc("kvs.commit", {"namespace": "primary", "flags": FLUX_KVS_NO_MERGE,
                                    "ops": [put(f"t7.k{i}", "v")]}) for i in range(5)]
    seqs = [f.get()["rootseq"] for f in futures]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_fence(h):
    name = f"fence-{time.monotonic_ns()}"
    futures = [h.rpc("kvs.fence", {"name": name, "nprocs": 3, "flags": 0,
                                   "namespace": "primary", "ops": [put(f"t8.k{i}", "v")]})
               for i in range(3)]
    answers = [f.get() for f in futures]
    assert len({(a["rootref"], a["rootseq"]) for a in answers}) == 1
    assert [get(h, f"t8.k{i}") for i in range(3)] == [b"v"] * 3


def test_wait_version_and_setroot_event(h, kvs_instance):
    h2 = flux.Flux(kvs_instance.uri)
    h2.event_subscribe("kvs.namespace-primary-setroot")
    seq = getroot(h)["rootseq"]
    waiter = h.rpc("kvs.wait-version", {"rootseq": seq + 1, "namespace": "primary"})
    assert h.rpc("kvs.wait-version", {"rootseq": seq, "namespace": "primary"}).get()[
        "rootseq"] == seq
    time.sleep(0.05)
    assert not waiter.is_ready()
    res = commit(h, put("t9.a", "1"), put("t9.b.c", "2"))
    assert waiter.get() == {"rootseq": res["rootseq"], "rootref": res["rootref"]}
    msg = h2.event_recv()
    assert msg.topic == "kvs.namespace-primary-setroot"
    body = json.loads(msg.payload_str)
    assert body["rootseq"] == res["rootseq"] and body["rootref"] == res["rootref"]
    assert body["namespace"] == "primary" and body["owner"] == os.getuid()
    assert sorted(body["keys"]) == ["t9.a", "t9.b.c"]
    assert len(body["names"]) == 1


def test_namespaces(h, kvs_instance):
    h.event_subscribe("kvs.namespace-")
    ns = f"ns{time.monotonic_ns()}"
    h.rpc("kvs.namespace-create", {"namespace": ns, "rootref": EMPTY_DIR_REF,
                                   "owner": -1, "flags": 0}).get()
    ev = h.event_recv()
    assert ev.topic == f"kvs.namespace-{ns}-created"
    assert json.loads(ev.payload_str) == {"namespace": ns, "rootseq": 0,
                                          "rootref": EMPTY_DIR_REF, "owner": os.getuid()}
    listed = h.rpc("kvs.namespace-list").get()["namespaces"]
    assert {"namespace": ns, "owner": os.getuid(), "flags": 0} in listed
    assert {"namespace": "primary", "owner": os.getuid(), "flags": 0} in listed
    assert errno_of(lambda: h.rpc("kvs.namespace-create", {
        "namespace": ns, "rootref": EMPTY_DIR_REF, "owner": -1, "flags": 0}).get()) == errno.EEXIST
    commit(h, put("x", "in ns"), ns=ns)
    assert get(h, "x", ns) == b"in ns"
    assert errno_of(lookup, h, "x") == errno.ENOENT  # not in primary
    # a symlink into the namespace from primary
    commit(h, {"key": "t10.link", "flags": 0, "dirent": {
        "data": {"target": "x", "namespace": ns}, "type": "symlink", "ver": 1}})
    assert get(h, "t10.link") == b"in ns"
    waiter = h.rpc("kvs.wait-version", {"rootseq": 100, "namespace": ns})
    h.rpc("kvs.namespace-remove", {"namespace": ns}).get()
    assert errno_of(waiter.get) == errno.EOPNOTSUPP
    assert errno_of(getroot, h, ns) == errno.EOPNOTSUPP
    assert errno_of(get, h, "t10.link") == errno.EOPNOTSUPP
    h.rpc("kvs.namespace-remove", {"namespace": ns}).get()  # again: silently fine
    assert errno_of(lambda: h.rpc("kvs.namespace-remove",
                                  {"namespace": "primary"}).get()) == errno.EOPNOTSUPP


def test_stats_and_dropcache(h):
    commit(h, put("t11.a", "1"))
    stats = h.rpc("kvs.stats-get").get()
    assert "primary" in stats["namespace"]
    h.rpc("kvs.dropcache").get()
    h.event_send("kvs.dropcache")
    assert get(h, "t11.a") == b"1"  # read back from the content store


def test_checkpoint_follows_commits(h):
    res = commit(h, put("t12.a", "1"))
    newest = h.rpc("content.checkpoint-get").get()["value"][0]
    assert newest["version"] == 1
    assert (newest["rootref"], newest["sequence"]) == (res["rootref"], res["rootseq"])


def test_oversized_blob_is_efbig_and_changes_nothing():
    with start_instance("content.blob-size-limit=1000") as inst:
        h = flux.Flux(inst.uri)
        commit(h, put("small", "ok"))
        root = getroot(h)
        assert errno_of(commit, h, put("big", b"x" * 2000)) == errno.EFBIG
        assert getroot(h) == root
        assert errno_of(lookup, h, "big") == errno.ENOENT


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guests():
    with start_instance("access.allow-guest-user=true") as inst:
        h = flux.Flux(inst.uri)
        commit(h, put("secret", "owner's"))
        assert get(h, "secret") == get(h, "secret")  # the answer is kept: still refused below
        h.rpc("kvs.namespace-create", {"namespace": "guestns", "rootref": EMPTY_DIR_REF,
                                       "owner": GUEST_UID, "flags": 0}).get()

        def work() -> list:
            g = flux.Flux(inst.uri)
            out = []

            def attempt(fn):
                try:
                    r = fn()
                    out.append(r if isinstance(r, (int, str)) else 0)
                except OSError as exc:
                    out.append(exc.errno)

            attempt(lambda: get(g, "secret"))
            attempt(lambda: commit(g, put("x", "y")))
            attempt(lambda: getroot(g)["owner"])
            attempt(lambda: commit(g, put("mine", "v"), ns="guestns") and 0)
            attempt(lambda: get(g, "mine", "guestns").decode())
            attempt(lambda: getroot(g, "guestns")["owner"])
            attempt(lambda: commit(g, {"key": "l", "flags": 0, "dirent": {
                "data": {"target": "secret"}, "type": "symlink", "ver": 1}}, ns="guestns"))
            attempt(lambda: g.rpc("kvs.namespace-create", {
                "namespace": "g2", "rootref": EMPTY_DIR_REF, "owner": -1, "flags": 0}).get())
            attempt(lambda: g.rpc("kvs.namespace-list").get())
            return out

        assert run_as_guest(work) == [errno.EPERM, errno.EPERM, errno.EPERM, 0, "v",
                                      GUEST_UID, errno.EPERM, errno.EPERM, errno.EPERM]
        assert errno_of(lookup, h, "x") == errno.ENOENT


def _flux_start(statedir: str, tmp: str) -> tuple[subprocess.Popen, str]:
    """``flux start`` (its broker, its initial program) in a session of its own."""
    rundir = os.path.join(tmp, "run")
    proc = subprocess.Popen([flux_exe(), "start", "-S", f"rundir={rundir}",
                             "-S", f"statedir={statedir}", "sleep", "300"], env=base_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    path = os.path.join(rundir, "local-0")
    wait_for_socket(path, proc)
    return proc, f"local://{path}"


def test_statedir_clean_restart_and_kill_9():
    tmp = short_tmpdir()
    statedir = os.path.join(tmp, "state")
    try:
        with start_instance(f"statedir={statedir}") as inst:
            h = flux.Flux(inst.uri)
            commit(h, put("kept.a", "1"), put("kept.big", b"z" * 3000))
            root = getroot(h)
            del h
        with start_instance(f"statedir={statedir}") as inst:
            h = flux.Flux(inst.uri)
            # the restored root goes on from the checkpointed one (the resource service
            # posts its resource-define event at each start, as flux-core's)
            assert getroot(h)["rootseq"] >= root["rootseq"]
            assert get(h, "kept.a") == b"1" and get(h, "kept.big") == b"z" * 3000
            del h
        # a commit that returned survives kill -9 of every process of the instance
        proc, uri = _flux_start(statedir, tmp)
        try:
            h = flux.Flux(uri)
            for i in range(20):
                res = commit(h, put(f"killed.k{i}", str(i)))
            # every process of the session: flux start, its broker, the initial program
            subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                subprocess.run(["pkill", "-KILL", "-s", str(proc.pid)], check=False)
                proc.wait()
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "processes of the killed instance remain"
            time.sleep(0.05)
        import shutil

        shutil.rmtree(os.path.join(tmp, "run"), ignore_errors=True)
        with start_instance(f"statedir={statedir}") as inst:
            h = flux.Flux(inst.uri)
            assert getroot(h)["rootseq"] >= res["rootseq"]
            assert [get(h, f"killed.k{i}") for i in range(20)] == [
                str(i).encode() for i in range(20)]
            assert get(h, "kept.a") == b"1"
            del h
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def test_sha256_instance():
    with start_instance("content.hash=sha256") as inst:
        h = flux.Flux(inst.uri)
        empty = "sha256-" + __import__("hashlib").sha256(
            b'{"data":{},"type":"dir","ver":1}').hexdigest()
        digest = bytes.fromhex(empty.split("-", 1)[1])  # the initial root, stored
        assert h.rpc("content.load", digest).get_message().payload_bytes == \
            b'{"data":{},"type":"dir","ver":1}'
        assert getroot(h)["rootref"].startswith("sha256-")
        res = commit(h, put("a.b", "1"), put("big", b"y" * 500))
        assert res["rootref"].startswith("sha256-")
        assert get(h, "a.b") == b"1" and get(h, "big") == b"y" * 500
        assert lookup(h, "big", FLUX_KVS_TREEOBJ)["data"][0].startswith("sha256-")


def test_lookup_answers_values_in_the_stored_key_order(h):
    """A value committed with its keys in another order comes back as flux-core answers it:
    in the stored blob's order (the bytes of the response, not only the decoded dict)."""
    commit(h, {"key": "t13.v", "flags": 0, "dirent": {"ver": 1, "type": "val", "data": "MQ=="}},
           {"key": "t13.r", "flags": 0,
            "dirent": {"ver": 1, "type": "valref", "data": [EMPTY_DIR_REF]}})
    raw = h.rpc("kvs.lookup", {"key": "t13.v", "flags": 0, "namespace": "primary"}).get_str()
    assert raw == '{"val":{"data":"MQ==","type":"val","ver":1}}'
    raw = h.rpc("kvs.lookup", {"key": "t13.r", "flags": FLUX_KVS_TREEOBJ,
                               "namespace": "primary"}).get_str()
    assert raw == '{"val":{"data":["%s"],"type":"valref","ver":1}}' % EMPTY_DIR_REF


def test_repeated_lookups_follow_new_roots_and_permissions(h, kvs_instance):
    """Answers kept for repeated lookups are per root: a commit changes what comes back,
    a removed namespace fails, a guest is still refused."""
    commit(h, put("t14.k", "one"))
    for _ in range(3):
        assert get(h, "t14.k") == b"one"
    commit(h, put("t14.k", "two"))
    for _ in range(3):
        assert get(h, "t14.k") == b"two"
    ns = f"ns14-{time.monotonic_ns()}"
    h.rpc("kvs.namespace-create", {"namespace": ns, "rootref": EMPTY_DIR_REF,
                                   "owner": -1, "flags": 0}).get()
    commit(h, put("k", "in ns"), ns=ns)
    assert get(h, "k", ns) == get(h, "k", ns) == b"in ns"
    h.rpc("kvs.namespace-remove", {"namespace": ns}).get()
    assert errno_of(get, h, "k", ns) == errno.EOPNOTSUPP
    # a link into another namespace is followed anew each time (its root may move)
    ns2 = f"ns14b-{time.monotonic_ns()}"
    h.rpc("kvs.namespace-create", {"namespace": ns2, "rootref": EMPTY_DIR_REF,
                                   "owner": -1, "flags": 0}).get()
    commit(h, put("v", "1"), ns=ns2)
    commit(h, {"key": "t14.link", "flags": 0, "dirent": {
        "data": {"target": "v", "namespace": ns2}, "type": "symlink", "ver": 1}})
    assert get(h, "t14.link") == b"1"
    commit(h, put("v", "2"), ns=ns2)
    assert get(h, "t14.link") == b"2"
