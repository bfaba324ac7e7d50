"""A counter with an event handler.

    $ flux module load examples/counter.py
    $ flux python -c 'import flux; h = flux.Flux(); print(h.rpc("counter.incr", {"by": 5}).get())'
    {'count': 5}
    $ flux event pub counter.reset          # the module subscribed automatically
    $ flux python -c 'import flux; print(flux.Flux().rpc("counter.get").get())'
    {'count': 0}

Requests: ``counter.incr`` (optional ``{"by": N}``), ``counter.get``.
Events: ``counter.reset`` sets the count to 0.
"""

import errno

from flux.brokermod import BrokerModule, event_handler, request_handler


class Counter(BrokerModule):
    def __init__(self, h, *args):
        super().__init__(h, *args)
        self.count = 0

    @request_handler("incr")
    def incr(self, msg):
        by = (msg.payload or {}).get("by", 1) if msg.payload_str else 1
        if not isinstance(by, int):
            self.handle.respond_error(msg, errno.EINVAL, "by must be an integer")
            return
        self.count += by
        self.handle.respond(msg, {"count": self.count})

    @request_handler("get", allow_guest=True)
    def get(self, msg):
        self.handle.respond(msg, {"count": self.count})

    @event_handler("reset")
    def reset(self, msg):
        self.log.info(f"reset at {self.count}")
        self.count = 0
