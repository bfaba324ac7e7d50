"""A module with arguments and logging, and an explicit ``mod_main()``.

    $ flux module load examples/greeter.py --greeting=Howdy --level=debug
    $ flux python -c 'import flux; print(flux.Flux().rpc("greeter.greet", {"name": "ann"}).get())'
    {'text': 'Howdy, ann!'}
    $ flux dmesg | grep greeter
    ... greeter.info[0]: loaded with greeting 'Howdy'
    $ flux module remove greeter

Arguments after the path arrive split on whitespace (no quoting), in
``mod_main(h, *args)`` and as ``self.args``.  ``self.log`` writes to the
broker's log (``flux dmesg``); ``--level`` tightens the module's own
threshold (the broker's log level filters too).  A bad argument makes
``flux module load`` fail with EINVAL and the message of the ValueError.
"""

from flux.brokermod import BrokerModule, request_handler


class Greeter(BrokerModule):
    def __init__(self, h, *args):
        super().__init__(h, *args)
        self.greeting = "Hello"
        for arg in self.args:
            key, _, value = arg.partition("=")
            if key == "--greeting" and value:
                self.greeting = value
            elif key == "--level":
                self.log.level = value  # ValueError for a bad name -> load fails
            else:
                raise ValueError(f"unknown argument {arg!r}")
        self.log.info(f"loaded with greeting {self.greeting!r}")

    @request_handler("greet", allow_guest=True)
    def greet(self, msg):
        who = (msg.payload or {}).get("name", "world")
        self.log.debug(f"greeting {who}")
        self.handle.respond(msg, {"text": f"{self.greeting}, {who}!"})


def mod_main(h, *args):
    Greeter(h, *args).run()
