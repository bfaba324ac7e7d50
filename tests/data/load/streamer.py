"""A module with a streaming method, for the load tests: ``streamer.stream {"count": N}``
answers N times (``{"seq": 0..N-1}``), then ENODATA, as flux-core's streaming RPCs end."""

import errno

from flux.brokermod import BrokerModule, request_handler


class Streamer(BrokerModule):
    @request_handler("stream")
    def stream(self, msg):
        count = msg.payload.get("count", 1) if msg.payload_str else 1
        for seq in range(count):
            self.handle.respond(msg, {"seq": seq})
        self.handle.respond_error(msg, errno.ENODATA)
