"""``flux resource status`` and ``drain`` with no targets: node states, as flux-core 0.88's.

The states combine ``resource.status`` (online/offline/exclude/torpid/drain),
the scheduler's allocated ranks and the ranks in housekeeping from
``job-manager.stats-get`` (none when that has no ``housekeeping``).  A drained
rank that is allocated is *draining*; *avail* is every rank not excluded,
drained, draining or torpid.  Lines with the same text apart from the node
columns are merged into one.
"""

from __future__ import annotations

from ._resource_sets import RankSet, idset_decode, idset_encode, include_ranks

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from ._job_outputformat import OutputFormat

VALID_STATES = ["all", "online", "avail", "offline", "exclude", "drain", "draining",
                "drained", "torpid", "allocated", "housekeeping"]
DEFAULT_STATES = "avail,exclude,draining,drained,torpid,housekeeping"

STATUS_FORMATS = {
    "default": ("Default flux-resource status format string",
                "{state:>12} {color_up}{up:>2}{color_off} {nnodes:>6} {nodelist}"),
    "long": ("Long flux-resource status format string",
             ("{state:>12} {color_up}{up:>2}{color_off} "
              "{nnodes:>6} +:{reason:<30.30} {nodelist}")),
}
DRAIN_FORMATS = {
    "long": ("Long flux-resource drain format string",
             ("{timestamp!d:%b%d %R::<12} {state:<8.8} {ranks:<8.8+} "
              "+:{reason:<30.30} {nodelist}")),
    "default": ("Default flux-resource drain format string",
                "{timestamp!d:%b%d %R::<12} {state:<8.8} {reason:<30.30+} {nodelist}"),
}

HEADINGS = {
    "state": "STATE", "statex": "STATE", "nnodes": "NNODES", "ranks": "RANKS",
    "nodelist": "NODELIST", "reason": "REASON", "timestamp": "TIME",
    "status": "STATUS", "up": "UP", "up.ascii": "UP", "color_up": "", "color_off": "",
}


class UpMark(str):
    """``✔``/``✗``, with ``.ascii`` ``y``/``n`` for ``{up.ascii}``."""

    ascii: str


def _up_mark(online: bool) -> UpMark:
    mark = UpMark("✔" if online else "✗")
    mark.ascii = "y" if online else "n"
    return mark


class StatusLine:
    """One line of output: a state, online or not, its ranks and drain details."""

    color_off = "\033[0;0m"

    def __init__(self, state: str, online: bool, ranks: set[int], hosts: RankSet,
                 reason: str = "", timestamp: float | str = "") -> None:
        self.statex = state
        self.online = online
        self.rank_ids = set(ranks)
        self._hosts = hosts
        self.reason = reason
        self.timestamp = timestamp

    @property
    def state(self) -> str:
        return self.statex if self.online else self.statex + "*"

    @property
    def offline(self) -> bool:
        return not self.online

    @property
    def status(self) -> str:
        return "online" if self.online else "offline"

    @property
    def color_up(self) -> str:
        return "\033[01;32m" if self.online else "\033[01;31m"

    @property
    def up(self) -> UpMark:
        return _up_mark(self.online)

    @property
    def nodelist(self) -> str:
        return self._hosts.nodelist(self.rank_ids)

    @property
    def ranks(self) -> str:
        return idset_encode(self.rank_ids)

    @property
    def nnodes(self) -> int:
        return len(self.rank_ids)


class NodeStates:
    """Every state's ranks, from the three RPCs' answers."""

    def __init__(self, rstatus: dict, allocated: set[int], housekeeping: set[int]) -> None:
        self.hosts = RankSet(rstatus.get("R"))
        self.sets: dict[str, set[int]] = {
            "all": self.hosts.rank_ids(),
            "online": idset_decode(rstatus.get("online", "")),
            "offline": idset_decode(rstatus.get("offline", "")),
            "exclude": idset_decode(rstatus.get("exclude", "")),
            "torpid": idset_decode(rstatus.get("torpid", "") or ""),
            "allocated": set(allocated),
            "housekeeping": set(housekeeping),
        }
        self.drain_info: dict[int, tuple[float, str]] = {}
        for text, entry in (rstatus.get("drain") or {}).items():
            for rank in idset_decode(text):
                self.drain_info[rank] = (entry.get("timestamp", 0.0), entry.get("reason", ""))
        self._derive()

    def restrict(self, ranks: set[int]) -> None:
        """``-i``: keep only ``ranks`` (housekeeping stays as flux-core leaves it)."""
        for name in ("all", "offline", "online", "exclude", "allocated", "torpid"):
            self.sets[name] &= ranks
        self.drain_info = {r: v for r, v in self.drain_info.items() if r in ranks}
        self._derive()

    def _derive(self) -> None:
        drained = set(self.drain_info)
        self.sets["draining"] = drained & self.sets["allocated"]
        self.sets["drained"] = drained - self.sets["draining"]
        self.sets["avail"] = self.sets["all"] - (self.sets["exclude"] | drained
                                                 | self.sets["torpid"])


def fetch_states() -> NodeStates:
    """Ask the resource service, the scheduler and the job manager."""
    import flux

    from ._resource_list import sched_sets

    handle = flux.Flux()
    rstatus = handle.rpc("resource.status", nodeid=0).get()
    try:
        allocated = sched_sets(handle)["allocated"].rank_ids()
    except OSError:
        allocated = set()
    housekeeping: set[int] = set()
    try:
        stats = handle.rpc("job-manager.stats-get", nodeid=0).get()
        for job in stats.get("housekeeping", {}).get("running", {}).values():
            housekeeping |= idset_decode(job.get("allocated", ""))
    except (OSError, AttributeError):
        pass
    return NodeStates(rstatus, allocated, housekeeping)


def requested_states(text: str | None) -> list[str] | None:
    """The states ``-s`` names, with defaults added and ``drain`` expanded; None if bad."""
    from ._resource_log import error, info

    states = (text or DEFAULT_STATES).split(",")
    for state in states:
        if state not in VALID_STATES:
            error(f"Invalid resource state {state} specified")
            info(f"valid states: {','.join(VALID_STATES)}")
            return None
    if all(state in ("offline", "online") for state in states):
        states.extend(DEFAULT_STATES.split(","))
    if "drain" in states:
        states.remove("drain")
        states.extend(("draining", "drained"))
    return states


def build_lines(nodes: NodeStates, states: list[str], include_online: bool,
                include_offline: bool) -> list[StatusLine]:
    """Lines per state and online status, drained ranks one per rank before merging."""
    wanted = set(states)
    lines: list[StatusLine] = []
    sets = nodes.sets
    for state in ("avail", "exclude", "allocated", "torpid", "housekeeping"):
        if not wanted & {state, "all"}:
            continue
        for online in (True, False):
            if not (include_online if online else include_offline):
                continue
            ranks = sets[state] & sets["online" if online else "offline"]
            lines.append(StatusLine(state, online, ranks, nodes.hosts))
    for state in ("draining", "drained"):
        if not wanted & {state, "all"}:
            continue
        if not sets[state] and include_online:
            lines.append(StatusLine(state, True, set(), nodes.hosts))
        for rank in sorted(sets[state]):
            online = rank in sets["online"]
            if not (include_online if online else include_offline):
                continue
            timestamp, reason = nodes.drain_info[rank]
            lines.append(StatusLine(state, online, {rank}, nodes.hosts,
                                    reason=reason, timestamp=timestamp))
    return lines


def merge_lines(lines: list[StatusLine], formatter: OutputFormat) -> list[StatusLine]:
    """Lines whose text differs only in nodelist/ranks/nnodes become one (flux-core's
    Deduplicator, keyed on the format without those fields)."""
    from flux.util import Deduplicator

    def combine(line: StatusLine, other: StatusLine) -> None:
        line.rank_ids |= other.rank_ids

    merged = Deduplicator(formatter, except_fields=["nodelist", "ranks", "nnodes"],
                          combine=combine)
    for line in lines:
        merged.append(line)
    return list(merged)


def show(args: argparse.Namespace, fmt: str) -> int:
    """Print the status lines for ``args.states`` in format ``fmt``."""
    from ._job_outputformat import OutputFormat

    states = requested_states(args.states)
    if states is None:
        return 1
    formatter = OutputFormat(fmt, headings=HEADINGS)
    nodes = fetch_states()
    if getattr(args, "queue", None):
        import flux

        from ._resource_queue import queue_names, queue_ranks

        nodes.restrict(queue_ranks(flux.Flux().rpc("config.get").get(),
                                   queue_names(args.queue), set(nodes.sets["all"])))
    if args.include:
        nodes.restrict(include_ranks(args.include, nodes.hosts.hosts))
    # no color: output is never a terminal here (flux-core's -L auto/never)
    formatter = formatter.copy(except_fields=["color_up", "color_off"])
    skip_empty = args.skip_empty or not args.states
    skip_empty_offline = "offline" not in states
    include_online = "online" in states or "offline" not in states
    include_offline = "offline" in states or "online" not in states
    for drain_state in ("draining", "drained"):
        if "all" in states or drain_state in states:
            nodes.sets["torpid"] -= nodes.sets[drain_state]
    lines = [line for line in merge_lines(build_lines(nodes, states, include_online,
                                                      include_offline), formatter)
             if line.nnodes or not (skip_empty or (line.offline and skip_empty_offline))]
    formatter.print_items(lines, no_header=args.no_header)
    return 0


def status_main(args: argparse.Namespace) -> int:
    from ._resource_list import format_string

    if args.states == "help":
        from ._resource_log import info

        info(f"valid states: {','.join(VALID_STATES)}")
        return 0
    return show(args, format_string(args.format, STATUS_FORMATS, "flux-resource"))


def drain_list_main(args: argparse.Namespace) -> int:
    """``drain`` with no targets: the drained and draining nodes."""
    from ._resource_list import format_string

    fmt = format_string(args.format, DRAIN_FORMATS, "flux-resource")
    args.states = "drain"
    args.skip_empty = True
    return show(args, fmt)
