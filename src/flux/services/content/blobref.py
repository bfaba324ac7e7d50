"""Blobrefs and raw digests (RFC 10): ``sha1-<40 hex>`` or ``sha256-<64 hex>``.

The wire carries raw digests; people and logs see blobrefs.  Like libflux, a
name matches a hash either exactly (``sha1``) or as a blobref prefix
(``sha1-...``), and only lower-case hex validates (upper case still decodes).
"""

from __future__ import annotations


__all__ = [
    "DIGEST_SIZES",
    "MAX_DIGEST_SIZE",
    "MAX_STRING_SIZE",
    "digest_size",
    "hash_blobref",
    "hash_raw",
    "hashtostr",
    "strtohash",
    "validate",
]

#: hash name -> digest size in bytes; the hashes an instance may choose
DIGEST_SIZES = {"sha1": 20, "sha256": 32}
MAX_STRING_SIZE = 72  # libflux's buffer size for a blobref, NUL included
MAX_DIGEST_SIZE = 32

_LOWER_HEX = frozenset("0123456789abcdef")


def _lookup(name: str) -> str:
    """The hash a hash name or a blobref names; ValueError if none."""
    for hashtype in DIGEST_SIZES:
        if name == hashtype or name.startswith(hashtype + "-"):
            return hashtype
    raise ValueError(f"unknown hash type: {name[:16]!r}")


def digest_size(hashtype: str) -> int:
    """The digest size of ``hashtype`` (e.g. ``content.hash``); ValueError if unknown."""
    return DIGEST_SIZES[_lookup(hashtype)]


def hash_raw(hashtype: str, data: bytes) -> bytes:
    """The raw digest of ``data``."""
    import hashlib  # loaded on first use: it costs broker start-up ~2 ms (OpenSSL)

    return hashlib.new(_lookup(hashtype), data).digest()


def hashtostr(hashtype: str, digest: bytes) -> str:
    """Raw digest -> blobref; ValueError if its size is not the hash's."""
    hashtype = _lookup(hashtype)
    if len(digest) != DIGEST_SIZES[hashtype]:
        raise ValueError(f"{hashtype} digest must be {DIGEST_SIZES[hashtype]} bytes")
    return f"{hashtype}-{digest.hex()}"


#: hash name -> constructor, filled on first use (the KVS hashes every blob it writes)
_CONSTRUCTORS: dict = {}


def hash_blobref(hashtype: str, data: bytes) -> str:
    """The blobref of ``data``."""
    ctor = _CONSTRUCTORS.get(hashtype)
    if ctor is None:
        import hashlib

        name = _lookup(hashtype)
        if name != hashtype:  # a blobref given for its hash: the long way
            return hashtostr(hashtype, hash_raw(hashtype, data))
        ctor = _CONSTRUCTORS[hashtype] = getattr(hashlib, name)
    return f"{hashtype}-{ctor(data).hexdigest()}"


def strtohash(blobref: str) -> bytes:
    """Blobref -> raw digest; ValueError if it is not one."""
    hashtype = _lookup(blobref)
    hexpart = blobref[len(hashtype) + 1:]
    if len(hexpart) != 2 * DIGEST_SIZES[hashtype] or not hexpart.isascii():
        raise ValueError(f"invalid blobref: {blobref[:MAX_STRING_SIZE]!r}")
    try:
        return bytes.fromhex(hexpart)
    except ValueError:
        raise ValueError(f"invalid blobref: {blobref[:MAX_STRING_SIZE]!r}") from None


def validate(blobref: str) -> bool:
    """True if ``blobref`` is well formed: a known hash, a hyphen, its digest in lower-case hex."""
    try:
        hashtype = _lookup(blobref)
    except ValueError:
        return False
    hexpart = blobref[len(hashtype) + 1:]
    return len(hexpart) == 2 * DIGEST_SIZES[hashtype] and _LOWER_HEX.issuperset(hexpart)
