"""The two compressed list forms job-list answers: rank idsets ("0", "[0-3,5]") and
hostlists ("node[0-3,5]"), written as flux-core writes them so `flux jobs` shows
the same text; and read back from R, whose entries use the same forms."""

from __future__ import annotations

__all__ = ["decode", "encode", "hosts_decode", "hosts_encode"]


def decode(text: str) -> list[int]:
    """The ids of an idset string ("1-3,7" or "[1-3,7]"); ValueError if malformed."""
    if not isinstance(text, str):
        raise TypeError("idset must be a string")
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    ids: list[int] = []
    if not text:
        return ids
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"invalid idset {text!r}")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise ValueError(f"invalid idset {text!r}")
        ids.extend(range(first, last + 1))
    return sorted(set(ids))


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] + 1 == n:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def encode(ids: list[int]) -> str:
    """Sorted ids as ranges, in brackets when there is more than one id."""
    text = ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in _runs(sorted(set(ids))))
    return f"[{text}]" if len(ids) > 1 else text


def hosts_decode(text: str) -> list[str]:
    """The host names of a hostlist ("node[0-2,5],login"), in order."""
    hosts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text + ","):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            if i > start:
                hosts.extend(_expand(text[start:i]))
            start = i + 1
    if depth:
        raise ValueError(f"invalid hostlist {text!r}")
    return hosts


def _expand(item: str) -> list[str]:
    open_ = item.find("[")
    if open_ < 0:
        return [item]
    close = item.index("]", open_)
    prefix, body, rest = item[:open_], item[open_ + 1:close], item[close + 1:]
    out: list[str] = []
    for part in body.split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"invalid hostlist {item!r}")
        width = len(lo) if lo.startswith("0") else 0
        for n in range(int(lo), int(hi if dash else lo) + 1):
            for tail in _expand(rest) if rest else [""]:
                out.append(f"{prefix}{n:0{width}d}{tail}")
    return out


def _split(host: str) -> tuple[str, int, int]:
    """(prefix, number, digits) of a host name; number -1 if it ends in no digits."""
    i = len(host)
    while i > 0 and host[i - 1].isdigit():
        i -= 1
    if i == len(host):
        return host, -1, 0
    return host[:i], int(host[i:]), len(host) - i


def hosts_encode(hosts: list[str]) -> str:
    """Hosts in their order, neighbours with one prefix folded into brackets."""
    groups: list[tuple[str, int, list[int]]] = []  # prefix, width, numbers
    for host in hosts:
        prefix, number, digits = _split(host)
        if number < 0:
            groups.append((prefix, 0, []))
            continue
        width = digits if digits > len(str(number)) else 0
        last = groups[-1] if groups else None
        if last is not None and last[2] and last[0] == prefix and last[1] == width:
            last[2].append(number)
        else:
            groups.append((prefix, width, [number]))
    out = []
    for prefix, width, numbers in groups:
        if not numbers:
            out.append(prefix)
        elif len(numbers) == 1:
            out.append(f"{prefix}{numbers[0]:0{width}d}")
        else:
            body = ",".join(f"{a:0{width}d}" if a == b else f"{a:0{width}d}-{b:0{width}d}"
                            for a, b in _runs(numbers))
            out.append(f"{prefix}[{body}]")
    return ",".join(out)
