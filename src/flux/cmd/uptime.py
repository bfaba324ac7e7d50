"""``flux uptime``: one line on the instance, like uptime(1), as flux-core prints it::

     14:30:52 run 3.2s,  owner alice,  depth 0,  size 1

The time of day; the broker's state (``state-machine.get``); how long the
instance has run (now minus ``broker.starttime``) or, outside the run state,
how long the broker has been in its current state; the owner
(``security.owner``), the depth (``instance-level``) and ``size``; then
``, N drained`` / ``, N offline`` when nonzero, and a second line
``  submit disabled,  scheduler stopped`` when those hold.

In the run state flux-core's command also asks the ``resource``, ``groups``
and ``job-manager`` services for drained and offline nodes and the queues; an
instance without those services (ENOSYS) has nothing drained, offline, disabled
or stopped to report.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn

SUMMARY = "Show how long this Flux instance has been running"

PROG = "flux-uptime"

_ENOSYS = 38


def main(argv: list[str]) -> int:
    import time

    from ._optparse import Parser
    from .util import open_handle

    parser = Parser("flux uptime", "[OPTIONS]...", [],
                    doc="Show how long this Flux instance has been running")
    _, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    h = open_handle(PROG)
    now = time.time()
    owner = _attr_int(h, "security.owner")
    size = _attr_int(h, "size")
    level = _attr_int(h, "instance-level")
    try:
        resp = h.rpc("state-machine.get").get()
        state = resp["state"]
        duration = float(resp["duration"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        _fail("Error fetching broker state", exc)
    drained = offline = 0
    disabled = stopped = False
    if state == "run":
        duration = now - _starttime(h)
        drained = _drained(h)
        offline = size - _online(h, size)
        disabled, stopped = _queues(h)
    from flux.fsd import format_duration

    extra = ""
    if drained > 0:
        extra += f",  {drained} drained"
    if offline > 0:
        extra += f",  {offline} offline"
    clock = time.strftime("%H:%M:%S", time.localtime(now))
    print(f" {clock} {state} {format_duration(duration, 2)},  owner {_user(owner)},  "
          f"depth {level},  size {size}{extra}")
    notes = [text for text, on in (("submit disabled", disabled),
                                    ("scheduler stopped", stopped)) if on]
    if notes:
        print("  " + ",  ".join(notes))
    return 0


def _fail(what: str, exc: BaseException) -> NoReturn:
    """flux-core's ``log_err_exit``: WHAT and the errno's text (EPROTO for a bad answer)."""
    import os

    from .util import die

    errnum = exc.errno if isinstance(exc, OSError) and exc.errno else 71
    die(PROG, f"{what}: {os.strerror(errnum)}")


def _attr_int(h: Any, name: str) -> int:
    return _attr(h, name, int)


def _starttime(h: Any) -> float:
    """``broker.starttime`` of rank 0 (where the instance started)."""
    return _attr(h, "broker.starttime", float, nodeid=0)


def _attr(h: Any, name: str, convert: Any, nodeid: Any = None) -> Any:
    """Attribute ``name`` (of rank ``nodeid``, else the local broker) through ``convert``;
    flux-core's error lines when it cannot be fetched or parsed."""
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from .util import die

    try:
        if nodeid is None:
            text = h.attr_get(name)
        else:
            text = h.rpc("attr.get", compact_json({"name": name}), nodeid=nodeid).get()["value"]
    except (OSError, KeyError, TypeError) as exc:
        _fail(f"Error fetching {name} attribute", exc)
    try:
        return convert(text)
    except ValueError:
        die(PROG, f"Error parsing {name}")


def _absent(exc: OSError) -> bool:
    """The service is not loaded in this instance."""
    return exc.errno == _ENOSYS


def _drained(h: Any) -> int:
    try:
        drain = h.rpc("resource.status", nodeid=0).get()["drain"]
        return sum(_idset_count(key) for key in drain)
    except OSError as exc:
        if _absent(exc):
            return 0
        _fail("Error fetching resource status", exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _fail("Error fetching resource status", exc)


def _online(h: Any, size: int) -> int:
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    try:
        resp = h.rpc("groups.get", compact_json({"name": "broker.online"}), nodeid=0).get()
        return _idset_count(resp["members"])
    except OSError as exc:
        if _absent(exc):
            return size
        _fail("Error fetching broker.online group", exc)
    except (KeyError, TypeError, ValueError) as exc:
        _fail("Error fetching broker.online group", exc)


def _queues(h: Any) -> tuple[bool, bool]:
    """(submission disabled on every queue, scheduling stopped on every queue)."""
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    try:
        queues = h.rpc("job-manager.queue-list", nodeid=0).get()["queues"]
        names = queues if queues else [None]
        disabled = stopped = True
        for name in names:
            payload = {"name": name} if name is not None else {}
            st = h.rpc("job-manager.queue-status", compact_json(payload), nodeid=0).get()
            disabled = disabled and not st["enable"]
            stopped = stopped and not st["start"]
            if not disabled and not stopped:
                break
        return disabled, stopped
    except OSError as exc:
        if _absent(exc):
            return False, False
        _fail("Error fetching queue status", exc)
    except (KeyError, TypeError) as exc:
        _fail("Error fetching queue status", exc)


def _idset_count(text: str) -> int:
    """Members of an RFC 22 idset string such as ``"0-3,7"``."""
    count = 0
    for part in text.replace("[", "").replace("]", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
