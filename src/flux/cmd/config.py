"""``flux config get|load|reload``: read or change the instance configuration.

``get [NAME]`` prints the config (or the dotted key NAME) as JSON, strings
bare; ``load [PATH]`` replaces the config with a TOML or JSON document (from
PATH or stdin); ``reload`` re-reads the broker's ``--config-path``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from flux.core.handle import Flux

SUMMARY = "Manage the Flux instance configuration"
PROG = "flux-config"
USAGE = """Usage: flux config get [NAME]
       flux config load [PATH]
       flux config reload"""


def _get(h: Flux, args: list[str]) -> int:
    import json

    from .util import die

    conf = h.rpc("config.get").get() or {}
    if args:
        value = conf
        for part in args[0].split("."):
            if not isinstance(value, dict) or part not in value:
                die(PROG, f"{args[0]}: No such file or directory")
            value = value[part]
        conf = value
    print(conf if isinstance(conf, str) else json.dumps(conf))
    return 0


def _load(h: Flux, args: list[str]) -> int:
    import json

    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from .util import die

    data = open(args[0], "rb").read() if args else sys.stdin.buffer.read()
    try:
        conf = json.loads(data)
    except ValueError:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            conf = tomllib.loads(data.decode())
        except (ValueError, UnicodeDecodeError) as exc:
            die(PROG, f"{args[0] if args else 'stdin'}: {exc}")
    h.rpc("config.load", compact_json(conf)).get()
    return 0


def main(argv: list[str]) -> int:
    from .util import die, open_handle, oserror_text

    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 1
    sub, args = argv[0], argv[1:]
    actions = {"get": _get, "load": _load}
    if sub not in actions and sub != "reload":
        die(PROG, f"unknown subcommand '{sub}'\n{USAGE}")
    h = open_handle(PROG)
    try:
        if sub == "reload":
            h.rpc("config.reload").get()
            return 0
        return actions[sub](h, args)
    except OSError as exc:
        die(PROG, f"{sub}: {oserror_text(exc)}")
