"""``BrokerError``: a start-up failure worth one line on stderr.  Its own file so
every part of the broker (broker.py and its ``broker_*.py`` parts) can raise it
without importing broker.py."""

from __future__ import annotations

__all__ = ["BrokerError"]


class BrokerError(Exception):
    """A start-up failure worth one line on stderr (exit code 1)."""
