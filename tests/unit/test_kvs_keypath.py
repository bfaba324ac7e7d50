"""KVS key normalization and path components, checked against flux-core's rules."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux import codec
from flux.services.kvs import keypath

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"


def reference_normalize(key: str) -> tuple[str, bool]:
    """flux-core's rules, character by character: collapse dot runs, then drop one
    leading and one trailing dot from a key longer than one character."""
    out: list[str] = []
    for ch in key:
        if not (ch == "." and out and out[-1] == "."):
            out.append(ch)
    s = "".join(out)
    want_dir = False
    if len(s) > 1 and s.startswith("."):
        s = s[1:]
    if len(s) > 1 and s.endswith("."):
        s = s[:-1]
        want_dir = True
    if s.startswith("."):
        want_dir = True
    return s, want_dir


VECTORS = [
    ("", "", False),
    (".", ".", True),
    ("..", ".", True),
    ("....", ".", True),
    ("a", "a", False),
    ("a.", "a", True),
    (".a", "a", False),
    (".a.", "a", True),
    ("a..b", "a.b", False),
    ("..a...b..", "a.b", True),
    ("a.b.c", "a.b.c", False),
    ("ns:foo/a.b", "ns:foo/a.b", False),  # no prefix form in flux-core 0.88
]


@pytest.mark.parametrize("key,norm,want_dir", VECTORS)
def test_vectors(key, norm, want_dir):
    assert keypath.normalize_dir(key) == (norm, want_dir)
    assert keypath.normalize(key) == norm
    assert reference_normalize(key) == (norm, want_dir)


@given(st.text(alphabet=".ab", max_size=20) | st.text(max_size=20))
def test_matches_reference(key):
    assert keypath.normalize_dir(key) == reference_normalize(key)


@given(st.text(alphabet=".ab", max_size=20))
def test_idempotent(key):
    norm = keypath.normalize(key)
    assert keypath.normalize(norm) == norm
    assert ".." not in norm
    if norm != ".":
        assert not norm.startswith(".") and not norm.endswith(".")


def test_split():
    assert keypath.split(".") == []
    assert keypath.split("..") == []
    assert keypath.split("a") == ["a"]
    assert keypath.split(".a..b.c.") == ["a", "b", "c"]
    assert keypath.split("") == [""]


@given(st.lists(st.text(alphabet="abc:/-_", min_size=1, max_size=5), min_size=1, max_size=5))
def test_split_join_round_trip(parts):
    assert keypath.split(".".join(parts)) == parts
    assert keypath.split("..".join(parts) + ".") == parts


def test_split_parent():
    assert keypath.split_parent("a.b.c") == (["a", "b"], "c")
    assert keypath.split_parent("a") == ([], "a")
    for root in (".", "..", "..."):
        with pytest.raises(OSError) as info:
            keypath.split_parent(root)
        assert info.value.errno == errno.EINVAL


def test_join_through_symlink():
    assert keypath.join("a.b", "c.d") == "a.b.c.d"
    assert keypath.join("a.b", "") == "a.b"


def test_errors_carry_errno_and_key():
    for num in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EINVAL, errno.ELOOP):
        err = keypath.error(num, "a.b")
        assert isinstance(err, OSError)
        assert err.errno == num and err.filename == "a.b"
    assert keypath.SYMLINK_CYCLE_LIMIT == 10
    with pytest.raises(OSError) as info:
        keypath.normalize(None)  # type: ignore[arg-type]
    assert info.value.errno == errno.EINVAL


def test_captured_keys_normalized():
    for name in ("kvs-commit-request.bin", "kvs-lookup-request.bin"):
        payload = codec.decode((DATA / name).read_bytes()[8:]).payload
        keys = [op["key"] for op in payload["ops"]] if "ops" in payload else [payload["key"]]
        for key in keys:
            assert keypath.normalize(key) == key == "golden.key"
            assert keypath.split(key) == ["golden", "key"]
