"""``{{...}}`` templates in output/input paths and command arguments, as flux-core's
shell renders them: ``id``/``jobid`` (``id.dec``, ``id.hex``... an encoding),
``name``, ``nnodes``, ``ntasks``/``size``, ``taskid``/``task.id``/``task.rank``,
``task.index``/``task.localid``, ``node.id``/``node.rank``, ``node.name``.  An unknown
tag is left as written."""

from __future__ import annotations

import re

__all__ = ["render"]

_TAG = re.compile(r"\{\{([^{}]*)\}\}")


def render(template: str, values: dict[str, str], jobid: int) -> str:
    """``template`` with each known tag replaced (``values``: tag -> text)."""
    from flux.job.JobID import id_encode

    def one(match: re.Match) -> str:
        name = match.group(1).strip()
        if name.startswith("jobid"):
            name = name[3:]
        elif name == "taskid":
            name = "task.id"
        if name == "id" or name.startswith("id."):
            try:
                return id_encode(jobid, name[3:] or "f58")
            except (ValueError, OSError):
                return match.group(0)
        return values.get(name, match.group(0))

    return _TAG.sub(one, template)
