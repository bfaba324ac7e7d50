"""Pieces both bootstraps need: business cards, hostlists, a TCP address."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

__all__ = ["bizcard", "parse_bizcard", "hostlist_encode", "hostlist_decode", "primary_address"]


def bizcard(host: str, pubkey: str, uris: list[str]) -> str:
    """The business card a broker puts in the PMI KVS under its rank (flux-core's
    ``bizcard.c``): ``{"host":s,"pubkey":s,"uri":[s...]}``, compact."""
    return json.dumps({"host": host, "pubkey": pubkey, "uri": uris}, separators=(",", ":"))


def parse_bizcard(text: str) -> dict[str, Any]:
    obj = json.loads(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("host"), str) \
            or not isinstance(obj.get("uri", []), list):
        raise ValueError("malformed business card")
    return obj


_NUM = re.compile(r"^(.*?)(\d+)$")


def hostlist_encode(hosts: list[str]) -> str:
    """``["foo0","foo1","foo2","bar"]`` -> ``"foo[0-2],bar"`` (runs of consecutive
    numeric suffixes of one prefix, in order, as RFC 29 hostlists)."""
    out: list[str] = []
    i = 0
    while i < len(hosts):
        m = _NUM.match(hosts[i])
        if not m:
            out.append(hosts[i])
            i += 1
            continue
        prefix, digits = m.group(1), m.group(2)
        ranges: list[tuple[str, str]] = [(digits, digits)]
        j = i + 1
        while j < len(hosts):
            m2 = _NUM.match(hosts[j])
            if not m2 or m2.group(1) != prefix:
                break
            lo, hi = ranges[-1]
            d = m2.group(2)
            if int(d) == int(hi) + 1 and len(d) == len(hi):
                ranges[-1] = (lo, d)
            else:
                ranges.append((d, d))
            j += 1
        if j == i + 1:
            out.append(hosts[i])
        else:
            body = ",".join(lo if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)
            out.append(f"{prefix}[{body}]")
        i = j
    return ",".join(out)


def hostlist_decode(text: str) -> list[str]:
    """``"foo[0-2],bar"`` -> the host names."""
    hosts: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\])?[^,]*", text):
        m = re.match(r"^([^\[]*)\[([^\]]*)\](.*)$", part)
        if not m:
            hosts.append(part)
            continue
        prefix, body, suffix = m.groups()
        for item in body.split(","):
            lo, _, hi = item.partition("-")
            if hi:
                for n in range(int(lo), int(hi) + 1):
                    hosts.append(f"{prefix}{str(n).zfill(len(lo))}{suffix}")
            else:
                hosts.append(f"{prefix}{lo}{suffix}")
    return hosts


def primary_address() -> str:
    """This host's address on its default route (no packet is sent), else loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
