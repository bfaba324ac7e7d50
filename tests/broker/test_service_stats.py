"""``broker.service-stats`` (pureflux's own, for flux dashboard): requests per service."""

from __future__ import annotations

import errno


def test_requests_are_counted_per_service_and_cleared(instance):
    with instance.client() as c:
        first = c.rpc("broker.service-stats").payload["requests"]
        assert first.get("broker", 0) >= 1  # this request counted as it was routed
        for tag in range(2, 5):
            assert c.rpc("attr.get", {"name": "rank"}, matchtag=tag).errnum == 0
        assert c.rpc("nosuch.method", matchtag=5).errnum == errno.ENOSYS
        after = c.rpc("broker.service-stats", matchtag=6).payload["requests"]
        assert after["attr"] - first.get("attr", 0) == 3
        assert after["broker"] - first["broker"] == 1
        assert "nosuch" not in after  # no service, nothing delivered
        assert c.rpc("broker.stats-clear", matchtag=7).errnum == 0
        assert c.rpc("broker.service-stats", matchtag=8).payload["requests"] == {"broker": 1}
