"""``flux overlay status|errors|trace|parentof|disconnect``: the TBON's health, as
flux-core's.

``status`` walks the tree from a rank (default 0) with ``overlay.health``:
each broker reports its subtree status and its children's; lost or offline
children are shown with their subtree (from ``overlay.topology``) as
"ghosts" in the same status.  The picture uses flux-core's connectors
(``├─``, ``└─``, ``│``); ``--summary`` prints the top status only, ``--down``
only what is not full.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

SUMMARY = "Manage overlay network"

PROG = "flux-overlay"

_PIPE, _TEE, _ELBOW, _BLANK = "│  ", "├─ ", "└─ ", "   "


def _status_options() -> list:
    from ._optparse import OPTIONAL, REQUIRED, Option

    return [
        Option("r", "rank", REQUIRED, "NODEID", "Check health of subtree rooted at NODEID"),
        Option("v", "verbose", OPTIONAL, "[LEVEL]", "Increase reporting detail"),
        Option("t", "timeout", REQUIRED, "FSD", "Set RPC timeout (0=disable)"),
        Option(None, "summary", help="Show only the root subtree status"),
        Option(None, "down", help="Show only the partial/degraded subtrees"),
        Option(None, "no-pretty", help="Do not indent entries and use line drawing"),
        Option(None, "no-ghost", help="Do not fill in presumed state of unknowns"),
        Option("L", "color", OPTIONAL, "WHEN", "Use color; WHEN is never, always, or auto"),
        Option("H", "highlight", REQUIRED, "TARGET", "Highlight one or more targets"),
        Option("w", "wait", REQUIRED, "STATE", "Wait until subtree enters STATE"),
    ]


class _Walk:
    def __init__(self, h: Any, verbose: int, pretty: bool, ghosts: bool,
                 show: str) -> None:
        self.h = h
        self.verbose = verbose
        self.pretty = pretty
        self.ghosts = ghosts
        self.show = show  # all, down, summary
        self.stack: list[str] = []
        self._hosts: Optional[list[str]] = None
        self._topo: Optional[dict] = None

    def host(self, rank: int) -> str:
        if self._hosts is None:
            from ._resource_sets import hostlist_decode

            self._hosts = hostlist_decode(self.h.attr_get("hostlist"))
        return self._hosts[rank] if 0 <= rank < len(self._hosts) else "?"

    def topology(self) -> dict:
        if self._topo is None:
            self._topo = self.h.rpc("overlay.topology", {"rank": 0}, nodeid=0).get()
        return self._topo

    def subtree(self, rank: int) -> Optional[dict]:
        todo = [self.topology()]
        while todo:
            node = todo.pop()
            if node.get("rank") == rank:
                return node
            todo.extend(node.get("children", []))
        return None

    def size(self, rank: int) -> int:
        node = self.subtree(rank)
        return node["size"] if node else 1

    def indent(self) -> str:
        if not self.pretty or len(self.stack) <= 1:
            return ""
        return "".join(self.stack[:-1])

    def line(self, connector: str, rank: int, status: str, duration: float,
             error: str = "") -> None:
        from flux.fsd import format_duration

        dur = f" for {format_duration(duration)}" if self.verbose >= 1 and duration > 0 else ""
        err = f" {error}" if error else ""
        conn = connector if self.pretty else ""
        print(f"{self.indent()}{conn}{rank} {self.host(rank)}: {status}{dur}{err}")

    def wants(self, status: str, parent: bool, rank: int) -> tuple[bool, bool]:
        """(print it, follow it) as flux-core's show_all / show_badtrees."""
        if self.show == "down" and status == "full":
            return False, False
        have_children = self.size(rank) > 1
        show = parent or status in ("lost", "offline") or (not have_children
                                                             and self.verbose < 2)
        return show, have_children or self.verbose >= 2

    def health(self, rank: int, level: int, connector: str) -> bool:
        try:
            resp = self.h.rpc("overlay.health", None, nodeid=rank).get()
        except OSError as exc:
            if level == 0:
                from .util import die, oserror_text

                die(PROG, oserror_text(exc))
            print(f"{self.indent()}{connector if self.pretty else ''}{rank} {self.host(rank)}: "
                  f"{exc.strerror}")
            return False
        if self.show == "summary":
            print(resp["status"])
            return True
        show, follow = self.wants(resp["status"], True, rank)
        if show:
            self.line(connector, resp["rank"], resp["status"], resp.get("duration", 0.0))
        if not follow:
            return True
        children = resp.get("children", [])
        for i, child in enumerate(children):
            last = i == len(children) - 1
            self.stack.append(_BLANK if last else _PIPE)
            conn = _ELBOW if last else _TEE
            cshow, cfollow = self.wants(child["status"], False, child["rank"])
            if cshow:
                self.line(conn, child["rank"], child["status"], child.get("duration", 0.0),
                          child.get("error", ""))
            if cfollow:
                if child["status"] in ("lost", "offline") \
                        or not self.health(child["rank"], level + 1, conn):
                    if self.ghosts:
                        self.ghost(child["rank"], child["status"], level + 1)
            self.stack.pop()
        return True

    def ghost(self, rank: int, status: str, level: int) -> None:
        node = self.subtree(rank)
        children = node.get("children", []) if node else []
        for i, child in enumerate(children):
            last = i == len(children) - 1
            self.stack.append(_BLANK if last else _PIPE)
            show, follow = self.wants(status, False, child["rank"])
            if show:
                self.line(_ELBOW if last else _TEE, child["rank"], status, -1.0)
            if follow:
                self.ghost(child["rank"], status, level + 1)
            self.stack.pop()


def _status(argv: list[str]) -> int:
    from ._optparse import Parser, get_int
    from .util import die, open_handle

    parser = Parser("flux overlay status", "[OPTIONS]", _status_options())
    opts, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    verbose = 0
    if opts.has("verbose"):
        verbose = int(opts.verbose) if opts.verbose else 1
    wait = opts.wait
    if wait and wait not in ("full", "partial", "degraded", "lost", "offline"):
        die(PROG, "invalid --wait state")
    h = open_handle(PROG)
    rank = get_int(PROG, opts, "rank", 0)
    show = "summary" if opts.has("summary") else "down" if opts.has("down") else "all"
    walk = _Walk(h, verbose, not opts.has("no_pretty"), not opts.has("no_ghost"), show)
    walk.stack.append("")
    walk.health(rank, 0, "")
    return 0


def _find_parent(tree: dict, rank: int) -> Optional[int]:
    """The rank whose child ``rank`` is in the topology ``tree`` (``overlay.topology``)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        for child in node.get("children", []):
            if child["rank"] == rank:
                return int(node["rank"])
            todo.append(child)
    return None


def _lookup_parentof(walk: "_Walk", rank: int) -> int:
    """The parent of ``rank``, or the command's end with flux-core's words."""
    from .util import die

    tree = walk.topology()
    if not 0 <= rank < int(tree.get("size", 0)):
        die(PROG, f"{rank} is not a valid rank in this instance")
    if rank == 0:
        die(PROG, f"{rank} has no parent")
    parent = _find_parent(tree, rank)
    if parent is None:
        die(PROG, f"{rank} is not a valid rank in this instance")
    return parent


def _leading_int(text: str) -> int:
    """strtoul's reading of ``text``: its leading digits (0 if none), as flux-core's."""
    digits = ""
    for ch in text.strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def _parentof(argv: list[str]) -> int:
    from ._optparse import Parser
    from .util import die, open_handle

    parser = Parser("flux overlay parentof", "RANK", [])
    _, args = parser.parse(argv)
    if len(args) != 1:
        die(PROG, "RANK is required")
    h = open_handle(PROG)
    print(_lookup_parentof(_Walk(h, 0, True, True, "all"), _leading_int(args[0])))
    return 0


def _disconnect(argv: list[str]) -> int:
    """``flux overlay disconnect [-r PARENT] TARGET``: the parent drops TARGET's
    subtree (``overlay.disconnect-subtree``); TARGET is a rank or a hostname."""
    import sys

    from ._optparse import REQUIRED, Option, Parser, get_int
    from .util import die, oserror_text, open_handle

    parser = Parser("flux overlay disconnect", "[OPTIONS] TARGET", [
        Option("r", "parent", REQUIRED, "NODEID",
               "Set parent rank to NODEID (default: determine from topology)")])
    opts, args = parser.parse(argv)
    if len(args) != 1:
        die(PROG, "TARGET is required")
    h = open_handle(PROG)
    walk = _Walk(h, 0, True, True, "all")
    target = args[0]
    if target.isdigit():
        rank = int(target)
    else:
        walk.host(0)  # loads the host list
        hosts = walk._hosts or []
        if target not in hosts:
            die(PROG, "TARGET must be a valid rank or hostname")
        rank = hosts.index(target)
    parent = get_int(PROG, opts, "parent", -1)
    if parent == -1:
        parent = _lookup_parentof(walk, rank)
    print(f"{PROG}: asking {walk.host(parent)} (rank {parent}) to disconnect child "
          f"{walk.host(rank)} (rank {rank})", file=sys.stderr)
    try:
        h.rpc("overlay.disconnect-subtree", {"rank": rank}, nodeid=parent).get()
    except OSError as exc:
        die(PROG, f"overlay.disconnect-subtree: {oserror_text(exc)}")
    return 0


def _errors(argv: list[str]) -> int:
    """``flux overlay errors``: each error a lost (or offline) peer's parent reports,
    with the hosts it concerns (``HOSTS: ERROR`` lines); the ranks below a lost peer
    count as ``lost parent``, a broker that does not answer in time gets the error of
    its request.  Walks ``overlay.health`` from rank 0, as flux-core's."""
    from ._optparse import REQUIRED, Option, Parser, get_duration
    from .util import open_handle

    parser = Parser("flux overlay errors", "[OPTIONS]", [
        Option("t", "timeout", REQUIRED, "FSD", "Set RPC timeout, 0=disable (default 0.5s)")])
    opts, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    timeout = get_duration(PROG, opts, "timeout", 0.5)
    if timeout == 0:
        timeout = -1.0  # disabled
    h = open_handle(PROG)
    walk = _Walk(h, 0, True, True, "all")
    errors: dict[str, set[int]] = {}

    def add(text: str, ranks: set[int]) -> None:
        if ranks:
            errors.setdefault(text, set()).update(ranks)

    def below(rank: int) -> set[int]:
        node = walk.subtree(rank)
        out: set[int] = set()
        todo = list(node.get("children", [])) if node else []
        while todo:
            child = todo.pop()
            out.add(child["rank"])
            todo.extend(child.get("children", []))
        return out

    todo = [0]
    while todo:
        rank = todo.pop(0)
        try:
            resp = h.rpc("overlay.health", None, nodeid=rank).wait_for(timeout).get()
        except OSError as exc:
            from .util import oserror_text

            add(oserror_text(exc), {rank})
            add("lost parent", below(rank))
            continue
        for child in resp.get("children", []):
            status, text = child.get("status"), child.get("error")
            if status == "lost":
                add(text or "unknown error", {child["rank"]})
                add("lost parent", below(child["rank"]))
            elif status == "offline":
                if text:
                    add(text, {child["rank"]})
            else:
                todo.append(child["rank"])
    from flux.hostlist import Hostlist

    for text, ranks in errors.items():
        print(f"{Hostlist([walk.host(r) for r in sorted(ranks)])}: {text}")
    return 0


def _trace(argv: list[str]) -> int:
    from ._overlay_trace import main as trace_main

    return trace_main(argv)


_SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "status": _status,
    "errors": _errors,
    "trace": _trace,
    "parentof": _parentof,
    "disconnect": _disconnect,
}


def main(argv: list[str]) -> int:
    from .util import die

    if not argv or argv[0] in ("-h", "--help"):
        print("Usage: flux-overlay COMMAND [OPTIONS]\n"
              "  status      Display overlay subtree health status\n"
              "  errors      Summarize errors of lost or offline peers\n"
              "  trace       Trace overlay messages\n"
              "  parentof    Show the parent of RANK\n"
              "  disconnect  Disconnect a subtree rooted at TARGET")
        return 0 if argv else 1
    fn = _SUBCOMMANDS.get(argv[0])
    if fn is None:
        die(PROG, f"unknown command '{argv[0]}'")
    return fn(argv[1:])
