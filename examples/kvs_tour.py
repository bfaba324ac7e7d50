"""The KVS from Python (docs/guide/kvs.md): ``flux start python3 examples/kvs_tour.py``."""

import asyncio

import flux
import flux.kvs


def blocking(h):
    flux.kvs.put(h, "tour.state", {"n": 1})
    flux.kvs.put(h, "tour.name", "demo")
    flux.kvs.commit(h)
    print("tour.state =", flux.kvs.get(h, "tour.state"))
    with flux.kvs.get_dir(h, "tour") as d:
        d["note"] = "hello"
    print("tour keys:", sorted(flux.kvs.get_dir(h, "tour").keys()))
    watch = flux.kvs.kvs_watch_async(h, "tour.note")
    print("watched:", watch.get())
    watch.cancel()


async def counter(h):
    flux.kvs.put(h, "tour.counter", 0)
    await flux.kvs.commit_async(h)
    async for value in flux.kvs.kvs_watch_async(h, "tour.counter"):
        print("counter:", value)
        if value == 2:
            break
        flux.kvs.put(h, "tour.counter", value + 1)
        await flux.kvs.commit_async(h)


if __name__ == "__main__":
    handle = flux.Flux()
    blocking(handle)
    asyncio.run(counter(handle))
