"""``flux dump`` and ``flux restore`` as flux-core 0.88's: the archive's layout (files, symlinks,
times, no empty dirs), compression by suffix, stdout/stdin, progress and errors, restoring to a
key and the refusal of --checkpoint beside a running KVS; a flux-core archive restores to the
root flux-core built from it; ``content.restore`` at start and ``flux shutdown --dump/--gc``."""

from __future__ import annotations

import calendar
import io
import os
import shutil
import tarfile
import time

import pytest
from conftest import short_tmpdir, start_instance

pytestmark = pytest.mark.timeout(120)

T = 30
HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "data", "kvs-dump", "flux-core-0.88.tgz")
GOLDEN_ROOT = "sha1-be4478d76a27bb301e1d5df2f06f3a715222c84f"  # flux-core's restore of it

BIN = bytes(range(256))
BIG = os.urandom(200_000)


@pytest.fixture(scope="module")
def inst():
    with start_instance() as instance:
        yield instance


@pytest.fixture
def tmp():
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _ok(r) -> None:
    assert r.returncode == 0, r.stderr


def _put_raw(inst, key: str, data: bytes) -> None:
    _ok(inst.run("kvs", "put", "--raw", f"{key}=-", input=data, text=False))


def _members(data: bytes | str, prefix: str = "") -> dict[str, tuple]:
    """name -> (type, contents or link target, mtime) of an archive's members under prefix."""
    tar = (tarfile.open(data, "r:*") if isinstance(data, str)
           else tarfile.open(fileobj=io.BytesIO(data), mode="r:*"))
    out = {}
    with tar:
        for m in tar:
            if not m.name.startswith(prefix):
                continue
            if m.issym():
                out[m.name] = ("sym", m.linkname, m.mtime)
            else:
                out[m.name] = ("reg", tar.extractfile(m).read(), m.mtime)
    return out


def _treeobj(inst, key: str) -> str:
    r = inst.run("kvs", "get", "--treeobj", key)
    _ok(r)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def filled(inst):
    """Keys under ``d.``: small, binary, large and empty values, symlinks, an empty dir."""
    _ok(inst.run("kvs", "put", "d.small=hello", "d.sub.deep.key=deep"))
    _put_raw(inst, "d.bin", BIN)
    _put_raw(inst, "d.big", BIG)
    _put_raw(inst, "d.empty", b"")
    _ok(inst.run("kvs", "link", "d.small", "d.lnk"))
    _ok(inst.run("kvs", "link", "--target-namespace=other", "x.y", "d.nslnk"))
    _ok(inst.run("kvs", "mkdir", "d.emptydir"))
    return inst


def test_archive_layout_as_flux_core_writes_it(filled, tmp):
    path = os.path.join(tmp, "out.tar")
    before = int(time.time())
    r = filled.run("dump", path, text=False)  # bytes: text mode would turn \r into \n
    _ok(r)
    stderr = r.stderr.decode()
    members = _members(path, "d/")
    assert sorted(members) == ["d/big", "d/bin", "d/empty", "d/lnk", "d/nslnk", "d/small",
                               "d/sub/deep/key"]  # no d/emptydir
    assert members["d/small"] == ("reg", b"hello", 0)  # a val: mtime 0, as flux-core's
    assert members["d/empty"] == ("reg", b"", 0)
    assert members["d/sub/deep/key"] == ("reg", b"deep", 0)
    assert members["d/lnk"] == ("sym", "d.small", 0)
    assert members["d/nslnk"] == ("sym", "other::x.y", 0)
    for name, data in (("d/bin", BIN), ("d/big", BIG)):  # valrefs: the dump's time
        typ, got, mtime = members[name]
        assert (typ, got) == ("reg", data)
        assert before <= mtime <= time.time() + 1
    with tarfile.open(path) as tar:
        info = tar.getmember("d/bin")
        assert (info.mode, info.uid, info.gid) == (0o644, os.getuid(), os.getgid())
        assert tar.getmember("d/small").uid == 0
    # progress: each of the first keys, then the total on its own line
    total = sum(1 for _ in _members(path))
    assert stderr.endswith(f"\rflux-dump: archived {total} keys\n")
    assert stderr.startswith("\rflux-dump: archived 1 keys\rflux-dump: archived 2 keys")
    assert filled.run("dump", "-q", path).stderr == ""
    r = filled.run("dump", "-v", path)
    lines = r.stderr.splitlines()
    assert "d/nslnk" in lines and "d/sub/deep/key" in lines and len(lines) == total


def test_restore_to_a_key_round_trip(filled, tmp):
    path = os.path.join(tmp, "out.tar")
    _ok(filled.run("dump", "-q", path))
    r = filled.run("restore", "--key=copy", path, text=False)
    _ok(r)
    total, _, writing = r.stderr.decode().split("\r")[-1].partition("\n")
    assert total.startswith("flux-restore: restored") and total.endswith(" blobs)")
    assert writing.startswith("flux-restore: writing snapshot sha1-")
    assert writing.endswith(" to KVS key 'copy'\n")
    assert len(writing.split()[3]) == len("sha1-") + 8  # a short blobref
    assert filled.run("kvs", "get", "copy.d.small").stdout == "hello\n"
    assert filled.run("kvs", "get", "--raw", "copy.d.bin", text=False).stdout == BIN
    assert filled.run("kvs", "get", "--raw", "copy.d.big", text=False).stdout == BIG
    assert filled.run("kvs", "get", "--raw", "copy.d.empty", text=False).stdout == b""
    assert filled.run("kvs", "readlink", "copy.d.lnk").stdout == "d.small\n"
    assert filled.run("kvs", "readlink", "copy.d.nslnk").stdout == "other::x.y\n"
    # the same archive restored twice is the same tree
    _ok(filled.run("restore", "-q", "--key=copy2", path))
    assert _treeobj(filled, "copy") == _treeobj(filled, "copy2")
    # -v names each key, symlinks with their target
    r = filled.run("restore", "-v", "--key=copy3", path)
    _ok(r)
    assert "d/nslnk -> other::x.y\n" in r.stderr and "d/big\n" in r.stderr
    assert "flux-restore: restored" not in r.stderr


@pytest.mark.parametrize("suffix,magic", [
    (".tar", None), (".tgz", b"\x1f\x8b"), (".tar.gz", b"\x1f\x8b"), (".tar.bz2", b"BZh"),
    (".tar.xz", b"\xfd7zXZ\x00")])
def test_compression_follows_the_suffix(filled, tmp, suffix, magic):
    path = os.path.join(tmp, "out" + suffix)
    _ok(filled.run("dump", "-q", path))
    with open(path, "rb") as f:
        head = f.read(512)
    if magic is None:
        assert head[257:262] == b"ustar"
    else:
        assert head.startswith(magic)
    assert _members(path, "d/")["d/big"][1] == BIG
    key = "sfx" + suffix.replace(".", "_")
    _ok(filled.run("restore", "-q", f"--key={key}", path))
    assert filled.run("kvs", "get", "--raw", f"{key}.d.bin", text=False).stdout == BIN


def test_stdout_and_stdin(filled, tmp):
    r = filled.run("dump", "-q", "-", text=False)
    _ok(r)
    assert r.stdout[257:262] == b"ustar"  # plain tar on stdout
    assert _members(r.stdout, "d/")["d/small"][1] == b"hello"
    r2 = filled.run("restore", "-q", "--key=fromstdin", "-", input=r.stdout, text=False)
    _ok(r2)
    assert filled.run("kvs", "get", "fromstdin.d.small").stdout == "hello\n"
    # compressed on stdin works too (flux-core's libarchive detects it)
    path = os.path.join(tmp, "x.tgz")
    _ok(filled.run("dump", "-q", path))
    with open(path, "rb") as f:
        _ok(filled.run("restore", "-q", "--key=fromstdin2", "-", input=f.read(), text=False))
    assert filled.run("kvs", "get", "--raw", "fromstdin2.d.big", text=False).stdout == BIG
    # an empty input is an empty archive
    _ok(filled.run("restore", "-q", "--key=nothing", "-", input=b"", text=False))
    assert filled.run("kvs", "ls", "nothing").stdout == ""


def test_checkpoint_dump_and_restore_refused_while_the_kvs_runs(filled, tmp):
    path = os.path.join(tmp, "ck.tar")
    _ok(filled.run("kvs", "put", "ck.marker=1"))
    r = filled.run("content", "checkpoint", "list", "-n")
    _ok(r)
    newest = r.stdout.splitlines()[0].split()
    stamp = calendar.timegm(time.strptime(newest[2], "%Y-%m-%dT%H:%M:%SZ"))
    _ok(filled.run("dump", "-q", "--checkpoint", path))
    members = _members(path)
    assert members["ck/marker"][1] == b"1"
    assert members["d/big"][2] == stamp  # valrefs carry the checkpoint's time
    _ok(filled.run("dump", "-q", "--checkpoint", "--no-cache", path))
    assert _members(path)["ck/marker"][1] == b"1"
    r = filled.run("restore", "--checkpoint", path)
    assert (r.returncode, r.stderr) == (
        1, "flux-restore: please unload kvs module before using --checkpoint\n")


def test_size_limit_skips_big_values(filled, tmp):
    path = os.path.join(tmp, "out.tar")
    _ok(filled.run("dump", "-q", path))
    r = filled.run("restore", "-q", "--size-limit=1k", "--key=lim", path)
    _ok(r)
    lines = r.stderr.splitlines()  # copies made by other tests are skipped too
    assert "d/big size 200000 exceeds 1024 limit, skipping" in lines
    assert all(line.endswith("big size 200000 exceeds 1024 limit, skipping") for line in lines)
    assert filled.run("kvs", "get", "--raw", "lim.d.bin", text=False).stdout == BIN
    assert filled.run("kvs", "get", "lim.d.big").returncode == 1
    r = filled.run("restore", "--size-limit=abc", "--key=x", path)
    assert (r.returncode, r.stderr) == (
        1, "flux restore: restore: invalid argument for option 'size-limit': abc:"
           " Invalid argument\n")
    r = filled.run("restore", "--size-limit=3G", "--key=x", path)
    assert (r.returncode, r.stderr) == (
        1, "flux restore: restore: size-limit: value 3G too large (must be < 2G)\n")


def test_errors_are_one_line_and_exit_1(inst, tmp):
    cases = [
        (("dump", os.path.join(tmp, "out.bogus")),
         f"flux-dump: No such format '{tmp}/out.bogus'\n"),
        (("dump", "/nonexistent-dir/out.tar"),
         "flux-dump: Failed to open '/nonexistent-dir/out.tar'\n"),
        (("dump", "--maxreqs=0", "x.tar"), "flux-dump: invalid value for maxreqs\n"),
        (("restore", "--key=x", "/nonexistent.tar"),
         "flux-restore: Failed to open '/nonexistent.tar'\n"),
        (("restore", os.path.join(tmp, "any.tar")), None),
    ]
    bad = os.path.join(tmp, "bad.tar")
    with open(bad, "w") as f:
        f.write("this is not an archive\n")
    cases.append((("restore", "--key=x", bad), "flux-restore: Unrecognized archive format\n"))
    # cut in a value's data, and in a header
    full = os.path.join(tmp, "full.tar")
    _ok(inst.run("kvs", "put", "t.v=" + "y" * 5000))
    _ok(inst.run("dump", "-q", full))
    with tarfile.open(full) as tar:
        member = tar.getmember("t/v")
    for name, size in (("cut-data.tar", member.offset_data + 100),
                       ("cut-header.tar", member.offset + 100)):
        with open(full, "rb") as f:
            data = f.read(size)
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(data)
        cases.append((("restore", "-q", "--key=x", os.path.join(tmp, name)),
                      "flux-restore: Truncated tar archive\n"))
    # no target: the archive must exist, then the target is asked for
    with open(os.path.join(tmp, "any.tar"), "wb") as f:
        f.write(b"")
    cases[4] = (cases[4][0], "flux-restore: Please specify a restore target with"
                             " --checkpoint or --key\n")
    for args, err in cases:
        r = inst.run(*args, cwd=tmp)
        assert (r.returncode, r.stderr) == (1, err), args
    for cmd in ("dump", "restore"):
        r = inst.run(cmd)
        assert r.returncode == 1
        assert r.stderr.startswith(f"Usage: flux {cmd} [OPTIONS] ")


def test_flux_core_archive_restores_to_flux_cores_root(inst):
    _ok(inst.run("restore", "-q", "--key=golden", GOLDEN))
    assert _treeobj(inst, "golden") == (
        '{"data":["%s"],"type":"dirref","ver":1}' % GOLDEN_ROOT)
    assert inst.run("kvs", "get", "--raw", "golden.golden.bin", text=False).stdout == BIN
    assert inst.run("kvs", "get", "golden.golden.sp ace").stdout == "with space\n"
    assert inst.run("kvs", "readlink", "golden.golden.nslink").stdout == "other::x.y\n"


def test_instance_started_from_an_archive_dumps_it_back(tmp):
    """-S content.restore=PATH: the KVS starts at the archive's root; a dump gives back the
    same entries (bytes, targets, val/valref times aside)."""
    with start_instance(f"content.restore={GOLDEN}") as inst:
        path = os.path.join(tmp, "again.tar")
        _ok(inst.run("dump", "-q", path))
        got = _members(path, "golden/")
    want = _members(GOLDEN, "golden/")
    assert {k: v[:2] for k, v in got.items()} == {k: v[:2] for k, v in want.items()}


def test_shutdown_dump_path_then_restore_at_start(tmp):
    path = os.path.join(tmp, "sd.tar.gz")
    with start_instance() as inst:
        _put_raw(inst, "sd.bin", BIN)
        _ok(inst.run("kvs", "put", "sd.small=1"))
        r = inst.run("shutdown", f"--dump={path}", timeout=T)
        _ok(r)
        assert f"flux-shutdown: shutdown will dump KVS to {path} (this may take some time)\n" \
            in r.stderr
        assert f"rc3.0: dumping content to {path}" in r.stderr  # the rc3 command's log
        assert inst.proc.wait(timeout=T) == 0
    assert _members(path, "sd/")["sd/bin"][1] == BIN
    with start_instance(f"content.restore={path}") as inst:
        assert inst.run("kvs", "get", "--raw", "sd.bin", text=False).stdout == BIN
        assert inst.run("kvs", "get", "sd.small").stdout == "1\n"
        assert inst.run("getattr", "content.restore").stdout == f"{path}\n"


def test_shutdown_gc_dumps_to_statedir_and_the_next_start_restores_it(tmp):
    statedir = os.path.join(tmp, "state")
    dumpdir = os.path.join(statedir, "dump")
    with start_instance(f"statedir={statedir}") as inst:
        _ok(inst.run("kvs", "put", "gc.key=before"))
        # a blob no key refers to: gone once the store is rebuilt from the dump
        r = inst.run("content", "store", input="garbage-blob")
        _ok(r)
        garbage = r.stdout.strip()
        r = inst.run("shutdown", "--gc", timeout=T)
        _ok(r)
        assert (f"flux-shutdown: shutdown will dump KVS to {statedir}/dump/"
                " (this may take some time)\n") in r.stderr
        assert inst.proc.wait(timeout=T) == 0
    link = os.path.join(dumpdir, "RESTORE")
    assert os.path.islink(link)
    target = os.readlink(link)
    assert target.endswith(".tgz") and "/" not in target  # a name beside it, as flux-core's
    assert _members(os.path.join(dumpdir, target), "gc/")["gc/key"][1] == b"before"
    with start_instance(f"statedir={statedir}", "content.restore=auto") as inst:
        assert inst.run("kvs", "get", "gc.key").stdout == "before\n"
        r = inst.run("content", "load", garbage)
        assert r.returncode == 1 and "No such file or directory" in r.stderr
        r = inst.run("dmesg")
        assert f"restoring content from {os.path.join(dumpdir, target)}" in r.stdout
        assert not os.path.lexists(link)  # followed once, then removed
        assert os.path.exists(os.path.join(dumpdir, target))
    # content.restore=auto without a RESTORE link: the statedir is used as it is
    with start_instance(f"statedir={statedir}", "content.restore=auto") as inst:
        assert inst.run("kvs", "get", "gc.key").stdout == "before\n"


def test_a_bad_archive_at_start_stops_the_broker(tmp):
    from conftest import base_env, flux_exe
    from proctree import run_tree

    bad = os.path.join(tmp, "bad.tar")
    with open(bad, "w") as f:
        f.write("not an archive\n")
    r = run_tree([flux_exe(), "start", f"-Scontent.restore={bad}", "true"], env=base_env(),
                 capture_output=True, text=True, timeout=T)
    assert r.returncode != 0
    assert f"content.restore {bad}: Unrecognized archive format" in r.stderr


def test_missing_blobs_are_fatal_unless_ignored(tmp):
    """A valref or dirref to a blob the store lacks: flux-core's line and exit 1, or with
    --ignore-failed-read the same lines and the key (or directory) left out."""
    missing = "sha1-" + "0" * 40
    with start_instance() as inst:
        _ok(inst.run("kvs", "put", "--treeobj",
                     'bad={"data":["%s"],"type":"valref","ver":1}' % missing))
        _ok(inst.run("kvs", "put", "--treeobj",
                     'baddir={"data":["%s1"],"type":"dirref","ver":1}' % missing[:-1]))
        _ok(inst.run("kvs", "put", "ok=1"))
        path = os.path.join(tmp, "x.tar")
        r = inst.run("dump", "-q", path)
        assert (r.returncode, r.stderr) == (1, "bad: missing blobref 0: No such file or directory\n")
        r = inst.run("dump", "-q", "--ignore-failed-read", path)
        assert (r.returncode, r.stderr) == (
            0, "bad: missing blobref 0: No such file or directory\n"
               "baddir: could not load content: No such file or directory\n")
        members = _members(path)
        assert members["ok"][1] == b"1" and "bad" not in members
