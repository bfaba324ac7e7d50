"""``flux resource list`` and ``info``: the scheduler's view, one line per state.

As flux-core 0.88's: ``resource.sched-status`` (``sched.resource-status`` when
that is ENOSYS) gives the all/allocated/down sets; free is all minus allocated
minus down and up is all minus down, at core level.  Lines follow the order of
``-s``; ``-i`` keeps only the given ranks or hosts and implies ``--skip-empty``.
"""

from __future__ import annotations

from ._resource_sets import RankSet, include_ranks

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse

    import flux

VALID_STATES = ["up", "down", "allocated", "free", "all"]

FORMATS = {
    "default": ("Default flux-resource list format string",
                ("{state:>10} ?+:{queue:<5} ?:{propertiesx:<10.10+} {nnodes:>6} "
                 "+:{ncores:>6} ?+:{ngpus:>5} {nodelist}")),
    "rlist": ("Format including resource list details",
              ("{state:>10} ?+:{queue:<5} ?:{propertiesx:<10.10+} {nnodes:>6} "
               "+:{ncores:>6} ?:+{ngpus:>5} {rlist}")),
}

HEADINGS = {
    "state": "STATE", "queue": "QUEUE", "properties": "PROPERTIES",
    "propertiesx": "PROPERTIES", "nnodes": "NNODES", "ncores": "NCORES",
    "ngpus": "NGPUS", "ranks": "RANKS", "nodelist": "NODELIST", "rlist": "LIST",
}


class ListLine:
    """One state's resources, with the attributes the list formats name."""

    properties = ""
    propertiesx = ""

    def __init__(self, state: str, rset: RankSet, queue: str = "") -> None:
        self.state = state
        self.rset = rset
        self.queue = queue

    @property
    def nnodes(self) -> int:
        return len(self.rset.ranks)

    @property
    def ncores(self) -> int:
        return self.rset.count("core")

    @property
    def ngpus(self) -> int:
        return self.rset.count("gpu")

    @property
    def ranks(self) -> str:
        from ._resource_sets import idset_encode

        return idset_encode(self.rset.ranks)

    @property
    def nodelist(self) -> str:
        return self.rset.nodelist()

    @property
    def rlist(self) -> str:
        return self.rset.dump()


def sched_sets(handle: flux.Flux) -> dict[str, RankSet]:
    """The scheduler's all/allocated/down sets and the derived up/free."""
    try:
        payload = handle.rpc("resource.sched-status", nodeid=0).get()
    except OSError as exc:
        import errno

        if exc.errno != errno.ENOSYS:
            raise
        payload = handle.rpc("sched.resource-status", nodeid=0).get()
    everything = RankSet(payload.get("all"))
    hosts = everything.hosts
    allocated = RankSet(payload.get("allocated"), hosts)
    down = RankSet(payload.get("down"), hosts)
    return {"all": everything, "allocated": allocated, "down": down,
            "up": everything.minus(down), "free": everything.minus(allocated).minus(down)}


def format_string(name: str, formats: dict[str, tuple[str, str]], prog: str) -> str:
    """A ``-o`` argument: a format, or the name of a builtin one (``help`` lists them)."""
    if "{" in name:
        return name
    if name == "help":
        import sys

        print(f"\nConfigured {prog} output formats:\n")
        for fname, (description, _) in formats.items():
            print(f"  {fname:<12} {description}")
        sys.exit(0)
    try:
        return formats[name][1]
    except KeyError:
        raise ValueError(f"--format: No such format {name} (Did you mean '{{{name}}}'?)") \
            from None


def list_lines(args: argparse.Namespace, fmt: str) -> int:
    """Print one line per requested state; 1 if a state is not one of VALID_STATES."""
    import flux

    from ._job_outputformat import OutputFormat
    from ._resource_log import error

    states = args.states.split(",")
    for state in states:
        if state not in VALID_STATES:
            error(f"Invalid resource state {state} specified")
            return 1
    formatter = OutputFormat(fmt, headings=HEADINGS)
    from ._resource_queue import queue_names, queue_ranks

    h = flux.Flux()
    sets = sched_sets(h)
    config = h.rpc("config.get").get()
    wanted = queue_names(getattr(args, "queue", None) or [])
    if wanted:
        ranks = queue_ranks(config, wanted, sets["all"].rank_ids())
        sets = {name: rset.only(ranks) for name, rset in sets.items()}
    if args.include:
        ranks = include_ranks(args.include, sets["all"].hosts)
        sets = {name: rset.only(ranks) for name, rset in sets.items()}
    configured = config.get("queues") if isinstance(config.get("queues"), dict) else {}
    queues: list = wanted or list(configured) or [None]
    # resources without properties are in every queue that requires none (flux-core's
    # ResourceSetExtra.queue); an empty state gets a line per queue
    member = ",".join(q for q in queues if q is not None
                      and "requires" not in (configured.get(q) or {}))
    # states print on separate lines only when the format shows the state (queues when
    # it shows the queue); otherwise their resources are summed into one line, as flux-core's
    by_state = "state" in formatter.fields
    by_queue = "queue" in formatter.fields
    lines: dict[tuple, ListLine] = {}
    for state in states:
        if sets[state].ranks:
            parts = [(member, sets[state])]
        else:
            parts = [(q or "", sets[state]) for q in queues]
        for queue, rset in parts:
            key = (state if by_state else "", queue if by_queue else "")
            if key in lines:
                lines[key].rset = lines[key].rset.plus(rset)
            else:
                lines[key] = ListLine(state, rset, queue)
    items = list(lines.values())
    if args.skip_empty or (args.include and not args.no_skip_empty):
        items = [line for line in items if line.rset.ranks]
    formatter.print_items(items, no_header=args.no_header)
    return 0


def list_main(args: argparse.Namespace) -> int:
    return list_lines(args, format_string(args.format, FORMATS, "flux-resource"))


def info_main(args: argparse.Namespace) -> int:
    """``info``: ``list`` of the given states (default all) as one summary line each."""
    args.states = args.states or "all"
    args.no_header = True
    args.skip_empty = False
    args.no_skip_empty = False
    return list_lines(args, "{nnodes} Nodes, {ncores} Cores, {ngpus} GPUs")
