"""``flux ping [OPTIONS] TARGET``: round-trip latency to a service's ping method.

TARGET is ``SERVICE``, ``NODEID!SERVICE`` or a bare ``NODEID`` (meaning the
broker); NODEID is a rank, ``any``, ``upstream`` or a host name from the
``hostlist`` attribute.  Each request is ``SERVICE.ping`` with payload
``{"seq","time.tv_sec","time.tv_nsec","pad"}``; the reply must echo it and
add exactly ``route``, ``userid``, ``rolemask`` and ``rank``.  Output is a
header line, then one line per reply, as flux-core's ``flux ping`` prints.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from flux.message import compact_json  # flux-core's flux-ping is C: compact JSON

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

SUMMARY = "Measure round-trip latency to a Flux service"

PROG = "flux-ping"

NODEID_ANY = 0xFFFFFFFF
NODEID_UPSTREAM = 0xFFFFFFFE

REPLY_KEYS = {
    "seq": int, "time.tv_sec": int, "time.tv_nsec": int, "pad": str,
    "route": str, "userid": int, "rolemask": int, "rank": int,
}


def _options() -> Any:
    from ._optparse import REQUIRED, Option

    return [
        Option("r", "rank", REQUIRED, "RANK", "Find target on a specific broker rank"),
        Option("p", "pad", REQUIRED, "N", "Include in the payload a string of length N bytes"),
        Option("i", "interval", REQUIRED, "N",
               "Specify the delay, in seconds, between successive requests"),
        Option("c", "count", REQUIRED, "N", "Specify the number of requests to send"),
        Option("b", "batch", help="Begin processing responses after all requests are sent"),
        Option("u", "userid", help="Include userid and rolemask in ping output"),
    ]


def expand_hostlist(text: str) -> list[str]:
    """``"vm[0-2,5],login"`` -> ``["vm0", "vm1", "vm2", "vm5", "login"]``."""
    hosts: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        # one comma-separated term, commas inside brackets don't split
        depth = 0
        j = i
        while j < n and not (text[j] == "," and depth == 0):
            if text[j] == "[":
                depth += 1
            elif text[j] == "]":
                depth -= 1
            j += 1
        term = text[i:j].strip()
        i = j + 1
        if not term:
            continue
        hosts.extend(_expand_term(term))
    return hosts


def _expand_term(term: str) -> list[str]:
    lb = term.find("[")
    if lb < 0:
        return [term]
    rb = term.find("]", lb)
    if rb < 0:
        return [term]
    prefix, ranges, rest = term[:lb], term[lb + 1:rb], term[rb + 1:]
    out: list[str] = []
    for suffix in _expand_term(rest) if rest else [""]:
        for part in ranges.split(","):
            lo, dash, hi = part.partition("-")
            if not dash:
                out.append(f"{prefix}{lo}{suffix}")
                continue
            width = len(lo) if lo.startswith("0") else 0
            try:
                a, b = int(lo), int(hi)
            except ValueError:
                return [term]
            for k in range(a, b + 1):
                out.append(f"{prefix}{k:0{width}d}{suffix}")
    return out


def rank_by_host(h: Any, name: str) -> int:
    """The rank of host ``name`` in the ``hostlist`` attribute, or -1."""
    try:
        hosts = expand_hostlist(h.attr_get("hostlist"))
    except OSError:
        return -1
    try:
        return hosts.index(name)
    except ValueError:
        return -1


def parse_nodeid(h: Any, text: str) -> Optional[tuple[int, str, str]]:
    """(nodeid, nodeid text, header suffix) for TEXT, or None if it is not a nodeid."""
    if text == "any":
        return NODEID_ANY, "any", ""
    if text == "upstream":
        return NODEID_UPSTREAM, "upstream", ""
    rank = rank_by_host(h, text)
    if rank >= 0:
        return rank, text, f" (rank {rank})"
    if text.isdigit() and text.isascii():
        return int(text), str(int(text)), ""
    return None


def parse_target(h: Any, target: str) -> tuple[int, str, str]:
    """(nodeid, topic, header) for TARGET."""
    from .util import die

    if "!" in target:
        node, _, service = target.partition("!")
        parsed = parse_nodeid(h, node)
        if parsed is None:
            die(PROG, f"invalid nodeid/host: '{node}'")
    else:
        parsed = parse_nodeid(h, target)
        if parsed is None:
            service = target
            parsed = (NODEID_ANY, "any", "")
        else:
            service = "broker"
    nodeid, nodestr, suffix = parsed
    return nodeid, f"{service}.ping", f"flux-ping {nodestr}!{service}{suffix}"


def rank_bang(rank: int) -> str:
    if rank == NODEID_ANY:
        return ""
    if rank == NODEID_UPSTREAM:
        return "upstream!"
    return f"{rank}!"


class Pinger:
    def __init__(self, h: Any, nodeid: int, topic: str, pad: str, count: int,
                 interval: float, userid: bool) -> None:
        self.h = h
        self.nodeid = nodeid
        self.topic = topic
        self.pad = pad
        self.count = count
        self.interval = interval
        self.userid = userid
        self.sent = 0
        self.timer: Any = None
        self.rtts: list[float] = []

    def send(self) -> None:
        t0 = time.monotonic_ns()
        payload = {
            "seq": self.sent,
            "time.tv_sec": t0 // 1_000_000_000,
            "time.tv_nsec": t0 % 1_000_000_000,
            "pad": self.pad,
        }
        try:
            f = self.h.rpc(self.topic, compact_json(payload), nodeid=self.nodeid)
        except OSError as exc:
            from .util import die, oserror_text

            die(PROG, f"flux_rpc_pack: {oserror_text(exc)}")
        f.then(self.on_reply)
        self.sent += 1

    def on_reply(self, f: Any) -> None:
        from .util import die

        what = f"{rank_bang(self.nodeid)}{self.topic}"
        try:
            reply = f.get()
        except OSError as exc:
            die(PROG, f"{what}: {os.strerror(exc.errno or errno.EPROTO)}")
        if not _reply_ok(reply):
            die(PROG, f"{what}: {os.strerror(errno.EPROTO)}")
        if reply["pad"] != self.pad:
            die(PROG, f"{what}: padding contents invalid")
        t0 = reply["time.tv_sec"] * 1_000_000_000 + reply["time.tv_nsec"]
        ms = (time.monotonic_ns() - t0) / 1e6
        self.rtts.append(ms)
        cred = ""
        if self.userid:
            cred = f" userid={reply['userid']} rolemask=0x{reply['rolemask']:x}"
        sys.stdout.write(
            f"{rank_bang(reply['rank'])}{self.topic} pad={len(self.pad)}{cred}"
            f" seq={reply['seq']} time={ms:0.3f} ms ({reply['route']})\n"
        )
        sys.stdout.flush()

    def summary(self) -> str:
        """One line of totals (on stderr: stdout stays exactly flux-core's)."""
        n = len(self.rtts)
        text = f"{self.sent} requests, {n} replies"
        if n:
            avg = sum(self.rtts) / n
            text += (f", round-trip min/avg/max = {min(self.rtts):0.3f}/{avg:0.3f}/"
                     f"{max(self.rtts):0.3f} ms")
        return f"{PROG}: {text}"

    def on_timer(self, h: Any, watcher: Any, revents: int, args: Any) -> None:
        self.send()
        if self.count and self.sent >= self.count:
            watcher.stop()
        elif self.interval == 0:
            watcher.reset(0.0, 0.0)


def _reply_ok(reply: Any) -> bool:
    if not isinstance(reply, dict) or set(reply) != set(REPLY_KEYS):
        return False
    for key, typ in REPLY_KEYS.items():
        value = reply[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            return False
    return True


def main(argv: list[str]) -> int:
    from ._optparse import Parser, get_duration, get_int
    from .util import die, open_handle

    parser = Parser(PROG, "[OPTIONS] TARGET", _options())
    opts, args = parser.parse(argv)
    if len(args) != 1:
        parser.fatal_usage()
    target = args[0]
    pad_bytes = get_int(PROG, opts, "pad", 0)
    if pad_bytes < 0:
        die(PROG, "pad must be >= 0")
    if opts.has("rank"):
        if "!" in target:
            die(PROG, "--rank and TARGET both try to specify a nodeid")
        target = f"{opts.rank}!{target}"
    interval = get_duration(PROG, opts, "interval", 1.0)
    if interval < 0:
        die(PROG, "interval must be >= 0")
    count = get_int(PROG, opts, "count", 0)
    if count < 0:
        die(PROG, "count must be >= 0")
    batch = opts.has("batch")
    if batch and count == 0:
        die(PROG, "--batch should only be used with --count")

    h = open_handle(PROG)
    nodeid, topic, header = parse_target(h, target)
    print(header)
    sys.stdout.flush()
    pinger = Pinger(h, nodeid, topic, "p" * pad_bytes, count, interval, opts.has("userid"))
    if batch:
        while pinger.sent < count:
            pinger.send()
            if interval > 0 and pinger.sent < count:
                time.sleep(interval)
    else:
        timer = h.timer_watcher_create(0.0, pinger.on_timer, repeat=interval)
        pinger.timer = timer
        timer.start()
    try:
        h.reactor_run()
    except KeyboardInterrupt:
        sys.stdout.flush()
        print(pinger.summary(), file=sys.stderr)
        return 130
    print(pinger.summary(), file=sys.stderr)
    return 0
