"""The broker loop's end-of-iteration flushes: objects marked ``last`` (the KVS) flush
after every other, also after those the others' flushes mark, so that the commits the
services queue in one pass go into one KVS commit."""

from __future__ import annotations

from flux.broker.loop import Loop


class Recorder:
    def __init__(self, name: str, log: list[str], then=None) -> None:
        self.name = name
        self.log = log
        self.then = then

    def flush(self) -> None:
        self.log.append(self.name)
        if self.then is not None:
            then, self.then = self.then, None
            then()


def test_last_flushes_after_the_others_and_what_they_mark() -> None:
    loop = Loop()
    log: list[str] = []
    kvs = Recorder("kvs", log)
    late = Recorder("late", log)
    # a service whose flush marks another one (as a commit's answer makes a service's
    # next events): that one still goes before the KVS
    svc = Recorder("svc", log, then=lambda: loop.mark_dirty(late))
    try:
        loop.mark_dirty(kvs, last=True)
        loop.mark_dirty(svc)
        loop.call_soon(loop.stop)
        loop.run()
        assert log == ["svc", "late", "kvs"]
        # the KVS's flush marking a service: that one runs in a later pass, then the KVS
        log.clear()
        kvs.then = lambda: (loop.mark_dirty(svc), loop.mark_dirty(kvs, last=True))
        svc.then = None
        loop.mark_dirty(kvs, last=True)
        loop.call_soon(loop.stop)
        loop.run()
        assert log == ["kvs", "svc", "kvs"]
    finally:
        loop.close()
