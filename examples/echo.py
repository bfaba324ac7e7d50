"""An echo service: ``flux module load examples/echo.py``, then call ``echo.echo``.

    $ flux module load examples/echo.py
    $ flux python -c 'import flux; print(flux.Flux().rpc("echo.echo", {"hi": 1}).get())'
    {'hi': 1}
    $ flux module remove echo

The single BrokerModule subclass below is the whole module: with no
``mod_main()``, the loader runs ``Echo(h, *args).run()``.
"""

from flux.brokermod import BrokerModule, request_handler


class Echo(BrokerModule):
    @request_handler("echo", allow_guest=True)
    def echo(self, msg):
        """Answer with the request's payload, unchanged."""
        self.handle.respond(msg, msg.payload_str)
