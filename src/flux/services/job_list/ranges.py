"""The two compressed list forms job-list answers: rank idsets ("0", "[0-3,5]") and
hostlists ("node[0-3,5]"), as flux.idset and flux.hostlist (libidset's and
libhostlist's texts) write and read them, so `flux jobs` shows flux-core's text."""

from __future__ import annotations

__all__ = ["decode", "encode", "hosts_decode", "hosts_encode"]


def decode(text: str) -> list[int]:
    """The ids of an idset string ("1-3,7" or "[1-3,7]"); ValueError if malformed."""
    from flux.idset import IDset

    if not isinstance(text, str):
        raise TypeError("idset must be a string")
    return list(IDset(text))


def encode(ids: list[int]) -> str:
    """Sorted ids as ranges, in brackets when there is more than one id."""
    from flux.idset import IDSET_FLAG_BRACKETS, IDSET_FLAG_RANGE, IDset

    return IDset(sorted(set(ids))).encode(IDSET_FLAG_BRACKETS | IDSET_FLAG_RANGE)


def hosts_decode(text: str) -> list[str]:
    """The host names of a hostlist ("node[0-2,5],login"), in order; ValueError if
    malformed."""
    from flux.hostlist import Hostlist

    return Hostlist(text).expand()


def hosts_encode(hosts: list[str]) -> str:
    """Hosts in their order, neighbours with one prefix folded into brackets."""
    from flux.hostlist import Hostlist

    return str(Hostlist(hosts))
