"""The handle in asyncio code (docs/guide/handle.md): ``flux start python3 examples/asyncio_tour.py``.

Awaited RPCs, a streaming RPC with ``async for``, an event stream, and reactor callbacks on the
asyncio loop through ``flux.core.aio.attach``.
"""

import asyncio

import flux
import flux.core.aio
from flux.constants import FLUX_RPC_STREAMING


async def main():
    h = flux.Flux()
    replies = await asyncio.gather(*(h.rpc("broker.ping", {"seq": i}) for i in range(10)))
    print("pings:", [r["seq"] for r in replies])

    count = 0
    async for _record in h.rpc("log.dmesg", {"follow": False}, flags=FLUX_RPC_STREAMING):
        count += 1
    print("log records:", count)

    async with h.events("heartbeat.") as stream:
        async for event in stream:
            print("event:", event.topic)
            break

    detach = flux.core.aio.attach(h)
    got = asyncio.get_running_loop().create_future()
    h.rpc("broker.ping", {"seq": 42}).then(lambda f: got.set_result(f.get()["seq"]))
    print("continuation:", await asyncio.wait_for(got, 10))
    detach()


if __name__ == "__main__":
    asyncio.run(main())
