"""The instance configuration as a service inside the broker sees it: ``config.get``.

The job-manager (``[queues]``, ``[job-manager]``) and job-ingest (jobspec defaults)
read the configuration as flux-core's modules do, by asking the broker, so a
``flux config reload`` is seen on the next read.  Builtin services answer inside
``router.request``, so the answer is there when ``get`` returns.
"""

from __future__ import annotations

from .internal_rpc import InternalClient

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from .router import Router

__all__ = ["ConfReader"]


class ConfReader:
    """``get()``: the current configuration object ({} when it cannot be read)."""

    def __init__(self, router: Router, name: str, owner: int) -> None:
        self.client = InternalClient(router, f"{name}-config", owner)

    def get(self) -> dict:
        answer: list[Any] = []
        self.client.rpc("config.get", None, lambda errnum, payload: answer.append(
            payload if not errnum else None))
        conf = answer[0] if answer else None
        return conf if isinstance(conf, dict) else {}

    def close(self) -> None:
        self.client.close()
