"""``flux config load|reload|get|set|unset|builtin``: the instance configuration.

As flux-core's command: ``get [NAME]`` prints the config (or the dotted key NAME)
as compact JSON, strings bare, checked against ``--type``; ``set``/``unset``
change one key (the whole config is fetched, changed and loaded back);
``load [PATH]`` replaces it with a TOML or JSON document (PATH: a file or a
directory of ``*.toml``; else stdin); ``reload`` re-reads the broker's
``--config-path``; ``builtin NAME`` prints where this installation keeps things.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, NoReturn


SUMMARY = "Manage configuration"
PROG = "flux-config"
USAGE = """Usage: flux config load [PATH]
   or: flux config reload [OPTIONS]
   or: flux config get [OPTIONS] [NAME]
   or: flux config set [OPTIONS] NAME VALUE
   or: flux config unset NAME
   or: flux config builtin NAME
Manage configuration
  -h, --help             Display this message."""

#: --type names: (JSON type, FSD form); "boolean" and "any" are special cases
_TYPES = {
    "object": (dict, None), "array": (list, None), "string": (str, None),
    "integer": (int, None), "real": (float, None), "boolean": (bool, None),
    "any": (None, None), "fsd": (str, "string"), "fsd-integer": (str, "integer"),
    "fsd-real": (str, "real"),
}


def _die(text: str) -> NoReturn:
    from .util import die

    die(PROG, text)


def _type(name: str) -> tuple[Any, Any]:
    found = _TYPES.get(name.lower())
    if found is None:
        _die(f"Unknown type: {name}")
    return found


def _jtype(value: Any) -> Any:
    """The JSON type of a decoded value (bool is not an integer here)."""
    if isinstance(value, bool):
        return bool
    return type(value)


def _fetch(h: Any) -> dict:
    try:
        return h.rpc("config.get").get() or {}
    except OSError as exc:
        from .util import oserror_text

        _die(f"Error fetching config object: {oserror_text(exc)}")


def _store(h: Any, conf: dict) -> None:
    try:
        h.rpc("config.load", conf).get()
    except OSError as exc:
        from .util import oserror_text

        _die(f"Error updating config object: {oserror_text(exc)}")


def _lookup(conf: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of the dotted ``path`` in ``conf``."""
    value: Any = conf
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _print(value: Any) -> None:
    if isinstance(value, str):
        print(value)
    else:
        from flux.message import compact_json

        print(compact_json(value))


def _fsd_seconds(text: str) -> float | None:
    from flux.util import parse_fsd

    try:
        return parse_fsd(text)
    except (ValueError, TypeError):
        return None


def _get(argv: list[str]) -> int:
    from ._optparse import NO_ARG, REQUIRED, Option, Parser

    table = [
        Option("c", "config-path", REQUIRED, "PATH|system|security|imp",
               "Get broker config from PATH (default: use live config)"),
        Option("t", "type", REQUIRED, "TYPE",
               "Set expected type (any, string, integer, real, boolean, object, array, "
               "fsd, fsd-integer, fsd-real)"),
        Option("q", "quiet", NO_ARG, "", 'Suppress printing of "[key] is not set" errors.'),
        Option("d", "default", REQUIRED, "VAL", "Use this value if config key is unset"),
    ]
    parser = Parser("flux config get", "[OPTIONS] [NAME]", table,
                    doc="Query broker configuration values")
    opts, args = parser.parse_n(argv, 0, 1)
    path = args[0] if args else None
    conf = _from_path(opts.get("config_path")) if opts.has("config_path") else _fetch_open()
    want, fsd = _type(opts.get("type") or "any")
    value: Any = conf
    if path is not None:
        found, value = _lookup(conf, path)
        if not found:
            if opts.has("default"):
                print(opts.get("default"))
                return 0
            if opts.has("quiet"):
                return 1
            _die(f"{path} is not set")
    have = _jtype(value)
    if want is None or (want is have and fsd is None):
        _print(value)
        return 0
    if want is have and fsd is not None:
        seconds = _fsd_seconds(value)
        if seconds is not None:
            if fsd == "integer":
                print(int(seconds))
            elif fsd == "real":
                print(f"{seconds:f}")
            else:
                print(value)
            return 0
    _die(f"{path if path is not None else 'value'} does not have the requested type")


def _from_path(path: str) -> dict:
    """The configuration in the TOML files at ``path`` (``system`` and the other names
    are flux-core's system directories, under this Python's prefix)."""
    import os

    from flux.broker.config import ConfigError, load

    if path in ("system", "security", "imp"):
        path = os.path.join(sys.prefix, "etc", "flux", path, "conf.d")
    try:
        return load(path)
    except ConfigError as exc:
        _die(str(exc))


def _fetch_open() -> dict:
    from .util import open_handle

    return _fetch(open_handle(PROG))


def _value_of(text: str, want: Any, fsd: Any) -> Any:
    """``text`` as a value of the JSON type ``want`` (flux-core's parsing rules)."""
    import json

    if want is bool:
        return not (text == "" or text[0] in "0fF")
    if want is float:
        try:
            return float(text)
        except ValueError:
            _die("Error parsing real value")
    if want is int:
        try:
            return int(text, 0)
        except ValueError:
            _die("Error parsing integer value")
    if want in (dict, list):
        kind = "object" if want is dict else "array"
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, want):
            _die(f"Error parsing json {kind}")
        return value
    if fsd == "string" and _fsd_seconds(text) is None:
        _die("Error parsing Flux Standard Duration")
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, str):
            _die("Error parsing string")
        return value
    return text


def _set(argv: list[str]) -> int:
    from ._optparse import REQUIRED, Option, Parser
    from .util import open_handle

    table = [Option("t", "type", REQUIRED, "TYPE",
                    "Specify type (string, integer, real, boolean, object, array, fsd)")]
    parser = Parser("flux config set", "[OPTIONS] NAME VALUE", table,
                    doc="Set broker configuration value")
    opts, args = parser.parse_n(argv, 2)
    path, text = args
    typename = opts.get("type")
    want: Any = str
    fsd: Any = None
    if typename is not None:
        want, fsd = _type(typename)
        if typename in ("fsd-integer", "fsd-real"):
            _die(f"Invalid type for the set subcommand: {typename}")
    h = open_handle(PROG)
    conf = _fetch(h)
    if typename is None:
        found, old = _lookup(conf, path)
        if not found:
            _die("Type is unknown, please specify --type")
        want, fsd = _jtype(old), None
    if want is None:  # "any": a value of no particular type cannot be made
        _die("Error updating config object")
    value = _value_of(text, want, fsd)
    parts = path.split(".")
    table_at = conf
    for part in parts[:-1]:
        nxt = table_at.setdefault(part, {})
        if not isinstance(nxt, dict):
            _die("Error updating config object")
        table_at = nxt
    table_at[parts[-1]] = value
    _store(h, conf)
    return 0


def _unset(argv: list[str]) -> int:
    from ._optparse import Parser
    from .util import open_handle

    parser = Parser("flux config unset", "NAME", [],
                    doc="Unset broker configuration value")
    _, args = parser.parse_n(argv, 1)
    h = open_handle(PROG)
    conf = _fetch(h)
    parts = args[0].split(".")
    table_at: Any = conf
    for part in parts[:-1]:
        table_at = table_at.get(part) if isinstance(table_at, dict) else None
    if isinstance(table_at, dict):
        table_at.pop(parts[-1], None)  # unsetting what is not set is not an error
    _store(h, conf)
    return 0


def _load(argv: list[str]) -> int:
    import json

    from ._optparse import Parser
    from .util import die, oserror_text, open_handle

    parser = Parser("flux config load", "[PATH]", [],
                    doc="Load broker configuration from stdin or PATH")
    _, args = parser.parse_n(argv, 0, 1)
    if args:
        from flux.broker.config import ConfigError, load

        try:
            conf = load(args[0])
        except ConfigError as exc:
            die(PROG, f"Error parsing config: {exc}")
    else:
        data = sys.stdin.buffer.read()
        try:
            conf = json.loads(data) if data.strip() else {}
        except ValueError:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover
                import tomli as tomllib
            try:
                conf = tomllib.loads(data.decode())
            except (ValueError, UnicodeDecodeError) as exc:
                die(PROG, f"TOML parse error: {exc}")
    h = open_handle(PROG)
    try:
        h.rpc("config.load", conf).get()
    except OSError as exc:
        die(PROG, f"load: {oserror_text(exc)}")
    return 0


def _reload(argv: list[str]) -> int:
    from ._optparse import NO_ARG, Option, Parser
    from .util import die, oserror_text, open_handle

    table = [Option(None, "follower-noop", NO_ARG, "",
                    "Do nothing if run on a non-leader broker (for systemd use)")]
    parser = Parser("flux config reload", "[OPTIONS]", table,
                    doc="Reload broker configuration from files")
    opts, args = parser.parse_n(argv, 0)
    h = open_handle(PROG)
    if opts.has("follower_noop") and h.get_rank() > 0:
        return 0
    try:
        h.rpc("config.reload").get()
    except OSError as exc:
        die(PROG, f"reload: {oserror_text(exc)}")
    return 0


def _builtins() -> dict[str, str]:
    """What this installation answers for ``flux config builtin NAME``."""
    import os

    import flux

    package = os.path.dirname(os.path.abspath(flux.__file__))
    return {
        "confdir": os.path.join(sys.prefix, "etc", "flux"),
        "python_path": os.path.dirname(package),
        "exec_path": os.path.dirname(os.path.abspath(sys.argv[0])),
        "module_path": os.path.join(package, "modules"),
    }


def _builtin(argv: list[str]) -> int:
    from ._optparse import NO_ARG, Option, Parser

    table = [Option(None, "intree", NO_ARG, "", "Force in-tree paths to be used"),
             Option(None, "installed", NO_ARG, "", "Force installed paths to be used")]
    parser = Parser("flux config builtin", "NAME", table,
                    doc="Print compiled-in Flux configuration values")
    _, args = parser.parse_n(argv, 1)  # one layout: both options are accepted, change nothing
    value = _builtins().get(args[0])
    if value is None:
        _die(f"{args[0]} is invalid")
    print(value)
    return 0


_SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "load": _load, "reload": _reload, "get": _get, "set": _set, "unset": _unset,
    "builtin": _builtin,
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not argv:
        print("flux config: missing subcommand", file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 1
    run = _SUBCOMMANDS.get(argv[0])
    if run is None:
        print(f"flux config: Unknown subcommand: {argv[0]}", file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 1
    return run(argv[1:])
