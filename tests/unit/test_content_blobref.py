"""Blobrefs and digests (flux.services.content.blobref) against known hash vectors."""

import pytest

from flux.services.content import blobref

SHA1_EMPTY = "sha1-da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA1_ABC = "sha1-a9993e364706816aba3e25717850c26c9cd0d89d"
SHA256_EMPTY = "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA256_ABC = "sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("hashtype,data,expected", [
    ("sha1", b"", SHA1_EMPTY), ("sha1", b"abc", SHA1_ABC),
    ("sha256", b"", SHA256_EMPTY), ("sha256", b"abc", SHA256_ABC),
])
def test_vectors(hashtype, data, expected):
    assert blobref.hash_blobref(hashtype, data) == expected
    digest = blobref.hash_raw(hashtype, data)
    assert len(digest) == blobref.digest_size(hashtype)
    assert blobref.strtohash(expected) == digest
    assert blobref.hashtostr(hashtype, digest) == expected
    assert blobref.validate(expected)
    assert len(expected) < blobref.MAX_STRING_SIZE


def test_digest_sizes_and_names():
    assert blobref.digest_size("sha1") == 20
    assert blobref.digest_size("sha256") == 32
    assert blobref.digest_size(SHA256_ABC) == 32  # a blobref names its hash
    for name in ("md5", "sha", "sha1x", "", "SHA1"):
        with pytest.raises(ValueError):
            blobref.digest_size(name)


def test_invalid_blobrefs():
    bad = ["", "sha1", "sha1-", SHA1_ABC[:-1], SHA1_ABC + "0", "md5-" + "0" * 32,
           "sha1-" + "g" * 40, "sha1_" + "0" * 40, "sha256-" + "0" * 40, "sha1-" + "é" * 40]
    for ref in bad:
        assert not blobref.validate(ref), ref
        with pytest.raises(ValueError):
            blobref.strtohash(ref)


def test_upper_case_decodes_but_does_not_validate():
    upper = "sha1-" + SHA1_ABC[5:].upper()
    assert blobref.strtohash(upper) == blobref.strtohash(SHA1_ABC)
    assert not blobref.validate(upper)


def test_digest_of_wrong_size():
    with pytest.raises(ValueError):
        blobref.hashtostr("sha1", b"\0" * 32)
