"""The tree exchange of the shell's PMI barrier (pmi_exchange.py), with the shells'
requests carried by a small in-memory router in place of brokers (jobs of several
shells need instances of several brokers; this checks the tree logic itself)."""

from __future__ import annotations

import errno

import pytest

from flux.shell.pmi_exchange import Exchange, kary_children, kary_parent


class _Msg:
    def __init__(self, payload, reply) -> None:
        self.payload, self.reply = payload, reply

    def payload_json(self):
        return self.payload


class _Future:
    def __init__(self) -> None:
        self.result = None
        self.callback = None

    def then(self, cb, *args):
        self.callback = (cb, args)
        return self

    def get(self):
        if isinstance(self.result, OSError):
            raise self.result
        return self.result


class _Router:
    """Delivers each shell's request to the shell on the broker rank it names."""

    def __init__(self) -> None:
        self.shells: dict[int, Exchange] = {}
        self.queue: list = []

    def handle(self, router: "_Router"):
        class H:
            def rpc(_, topic, payload, nodeid):
                fut = _Future()
                router.queue.append((nodeid, payload, fut))
                return fut

            def respond(_, msg, payload):
                msg.reply(dict(payload))

            def respond_error(_, msg, errnum, text=None):
                msg.reply(OSError(errnum, text))
        return H()

    def run(self) -> None:
        while self.queue:
            nodeid, payload, fut = self.queue.pop(0)

            def reply(result, fut=fut):
                fut.result = result
                cb, args = fut.callback
                cb(fut, *args)
            self.shells[nodeid]._request(None, None, _Msg(payload, reply), None)


def test_kary_tree() -> None:
    assert [kary_parent(2, r) for r in range(6)] == [-1, 0, 0, 1, 1, 2]
    assert kary_children(2, 0, 6) == [1, 2]
    assert kary_children(2, 2, 6) == [5]
    assert kary_children(3, 1, 4) == []


@pytest.mark.parametrize("size,k", [(2, 2), (5, 2), (7, 3), (4, 0)])
def test_every_shell_gets_every_put(size: int, k: int) -> None:
    router = _Router()
    brokers = [10 + i for i in range(size)]  # shell rank -> broker rank
    done: dict[int, dict] = {}
    for rank in range(size):
        h = router.handle(router)
        router.shells[brokers[rank]] = Exchange(h, "svc", rank, brokers, k)
    for rank in reversed(range(size)):  # the order shells enter does not matter
        router.shells[brokers[rank]].start({f"k{rank}": str(rank)},
                                           lambda d, rank=rank: done.__setitem__(rank, d))
        router.run()
    expect = {f"k{r}": str(r) for r in range(size)}
    assert done == {r: expect for r in range(size)}
    # a second exchange works the same (sessions are reset)
    done.clear()
    for rank in range(size):
        router.shells[brokers[rank]].start({"again": "yes"},
                                           lambda d, rank=rank: done.__setitem__(rank, d))
    router.run()
    assert all(d == {"again": "yes"} for d in done.values()) and len(done) == size


def test_a_failed_parent_fails_the_exchange() -> None:
    router = _Router()
    h = router.handle(router)
    child = Exchange(h, "svc", 1, [0, 1])
    got = []
    child.start({"a": "b"}, got.append)
    nodeid, payload, fut = router.queue.pop()
    assert nodeid == 0 and payload == {"a": "b"}
    fut.result = OSError(errno.EHOSTUNREACH, "gone")
    cb, args = fut.callback
    cb(fut, *args)
    assert got == [None]


def test_too_many_children_and_bad_requests_are_refused() -> None:
    router = _Router()
    h = router.handle(router)
    root = Exchange(h, "svc", 0, [0, 1])
    replies = []
    root._request(None, None, _Msg({"x": "1"}, replies.append), None)
    root._request(None, None, _Msg({"x": "2"}, replies.append), None)
    root._request(None, None, _Msg(["not", "a", "dict"], replies.append), None)
    assert [r.errno for r in replies] == [errno.EINPROGRESS, errno.EPROTO]
    got = []
    root.start({"y": "0"}, got.append)
    assert got == [{"x": "1", "y": "0"}] and replies[-1] == {"x": "1", "y": "0"}
