"""``flux resource eventlog``: the resource journal (``resource.journal``) printed as
flux-core 0.88's: the events so far, or with ``-F``/``--follow`` (``-w EVENT`` implies
it) the new ones too, until EVENT (with ``-m KEY=VAL`` in its context) or the
``-t`` timeout; ``-i`` keeps the events naming those ranks or hosts."""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, Optional

__all__ = ["eventlog_main"]


class _Targets:
    """``-i TARGETS``: ranks (an idset) or hosts; None matches every event."""

    def __init__(self, hosts: list[str], targets: Optional[str]) -> None:
        from ._resource_sets import hostlist_decode, idset_decode

        self.all = targets is None
        self.ranks: set[int] = set()
        self.hosts: set[str] = set()
        self.by_rank = False
        if targets is None:
            return
        try:
            self.ranks = idset_decode(targets)
            self.by_rank = True
        except ValueError:
            try:
                self.hosts = set(hostlist_decode(targets))
            except ValueError:
                raise ValueError(f"invalid targets {targets}") from None
        if self.by_rank:
            if any(rank >= len(hosts) for rank in self.ranks):
                raise ValueError("Hostlist index out of range")
            self.hosts = {hosts[rank] for rank in self.ranks}
        else:
            self.ranks = {i for i, host in enumerate(hosts) if host in self.hosts}

    def _idset(self, context: dict) -> bool:
        from ._resource_sets import idset_decode

        key = "ranks" if "ranks" in context else "idset"
        if key not in context:
            return False
        try:
            return bool(self.ranks & idset_decode(context[key]))
        except ValueError:
            return False

    def match(self, entry: dict) -> bool:
        from ._resource_sets import hostlist_decode

        if self.all:
            return True
        context = entry.get("context") or {}
        if self.by_rank:
            return self._idset(context)
        if "nodelist" in context:
            try:
                if self.hosts & set(hostlist_decode(context["nodelist"])):
                    return True
            except ValueError:
                pass
        return self._idset(context)


def _match_context(pairs: list[str], context: dict) -> bool:
    import json

    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        if context.get(key) != value and str(context.get(key)) != text:
            return False
    return True


def eventlog_main(args: argparse.Namespace) -> int:
    import errno
    import sys
    import time

    import flux
    from flux.constants import FLUX_RPC_STREAMING
    from flux.job.Jobspec import parse_fsd

    from ._eventlog_format import EventlogFormatter
    from ._resource_sets import hostlist_decode

    if args.human:
        args.format, args.time_format = "text", "human"
    follow = args.follow or bool(args.wait)
    deadline = parse_fsd(args.timeout) + time.time() if args.timeout else None
    h = flux.Flux()
    targets = _Targets(hostlist_decode(h.attr_get("hostlist")), args.include)
    fmt = EventlogFormatter()
    fmt.set_format(args.format)
    fmt.set_timestamp_format(args.time_format)
    color = args.color or "auto"
    fmt.set_color(color == "always" or (color == "auto" and sys.stdout.isatty()))
    future = h.rpc("resource.journal", {}, nodeid=0, flags=FLUX_RPC_STREAMING)
    try:
        while True:
            if deadline is not None:
                future.wait_for(max(0.0, deadline - time.time()))
            events = future.get()["events"]
            future.reset()
            if not events:
                if not follow:
                    return 0
                continue
            for entry in events:
                if not targets.match(entry):
                    continue
                sys.stdout.write(fmt.format(entry))
                sys.stdout.flush()
                if args.wait and entry.get("name") == args.wait \
                        and _match_context(args.match_context, entry.get("context") or {}):
                    return 0
    except OSError as exc:
        if exc.errno == errno.ETIMEDOUT:
            raise ValueError("ETIMEDOUT: Connection timed out") from None
        raise
