"""Answers about the manager as a whole: ``getinfo``, ``stats-get`` and
``history.get`` (flux-core's history plugin, with its slice syntax).
"""

from __future__ import annotations

import errno

from .base import ManagerBase, Refused

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional


class Queries(ManagerBase):
    """Figures and job lists read from the manager's state."""

    def getinfo(self) -> dict:
        return {"max_jobid": self.max_jobid}

    def history_get(self, obj: Any, userid: int) -> dict:
        """``job-manager.history.get`` (flux-core's history plugin): ``{"jobs": [id...]}``,
        the ids of ``userid``'s jobs still known here, newest submission first, cut by
        the Python-style ``slice`` (``"[:1]"``: the last one)."""
        text = obj.get("slice") if isinstance(obj, dict) else None
        if not isinstance(text, str):
            raise Refused(errno.EPROTO)
        mine = sorted((j for j in (*self.active.values(), *self.inactive.values())
                       if j.userid == userid), key=lambda j: (j.t_submit, j.id), reverse=True)
        cut = parse_slice(text)
        if cut is None:
            raise Refused(errno.EINVAL, "could not parse python-style slice expression")
        return {"jobs": [mine[i].id for i in range(len(mine))[cut]]}

    def stats(self) -> dict:
        """``job-manager.stats-get``, flux-core's keys.  Housekeeping is not implemented:
        its entry says so as flux-core's does when none is configured (nothing running, no
        command), which its ``flux resource status`` reads."""
        return {"journal": {"listeners": len(self.listeners), "events": self.journal_events},
                "active_jobs": len(self.active), "inactive_jobs": len(self.inactive),
                "max_jobid": self.max_jobid,
                "housekeeping": {"running": {}, "config": {"release-after": -1.0,
                                                           "command": ""}}}


def parse_slice(text: str) -> Optional[slice]:
    """``[start:stop:step]`` as flux-core's libutil reads it (each part optional, a colon
    required, step not 0), or None."""
    if ":" not in text or len(text) < 2 or text[0] != "[" or text[-1] != "]":
        return None
    parts = text[1:-1].split(":")
    if len(parts) > 3:
        return None
    values: list[Optional[int]] = []
    for part in parts:
        if part == "":
            values.append(None)
            continue
        try:
            values.append(int(part))
        except ValueError:
            return None
    while len(values) < 3:
        values.append(None)
    if values[2] == 0:
        return None
    return slice(*values)
