"""An instance inside another: its level (one ``attr.get`` of the enclosing
instance) and, run as a job, the ``uri`` memo that tells the parent where it
listens."""

from __future__ import annotations

import socket

from flux.severity import LOG_ERR

from .broker_fields import BrokerFields

__all__ = ["Enclosing"]


class Enclosing(BrokerFields):
    """The ``Broker``'s part that talks to the instance enclosing it."""

    def _notify_parent(self) -> None:
        """An instance run as a job tells its parent where it listens: the memo ``uri``
        (``ssh://HOST/PATH``, as flux-core's bootstrap; ``flux jobs``, ``flux proxy`` and
        ``flux alloc`` find the instance from it)."""
        assert self.enclosing is not None
        parent = self.attrs.get("parent-uri")
        if not parent:
            return
        from flux.job.JobID import id_parse

        from .client import SimpleClient

        host = self.attrs.get("hostname") or socket.gethostname().split(".")[0]
        uri = f"ssh://{host}{self.local_uri[len('local://'):]}"
        try:
            with SimpleClient(parent, timeout=10.0) as c:
                c.rpc("job-manager.memo", {"id": id_parse(self.enclosing[0]),
                                           "memo": {"uri": uri}})
        except (OSError, ValueError) as exc:
            self.log.log(LOG_ERR, f"job-manager.memo uri: {exc}")

    def _parent_level(self, uri: str) -> int:
        """The enclosing instance's level (one quick attr.get), else $FLUX_INSTANCE_LEVEL."""
        try:
            from .client import SimpleClient

            with SimpleClient(uri, timeout=2.0) as c:
                return int(c.rpc("attr.get", {"name": "instance-level"})["value"])
        except (OSError, ValueError, KeyError, TypeError):
            try:
                return int(self.environ.get("FLUX_INSTANCE_LEVEL", "0"))
            except ValueError:
                return 0
