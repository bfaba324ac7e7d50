"""``flux module``: load, remove, reload, list, stats, debug and trace broker modules.

``load`` and ``remove`` run on every instance start-up script and in tight
test loops, so they take a lean path: one request over a bare socket, built
and read with :mod:`flux.codec` (no ``json``, ``re``, ``socket``-module or
handle imports), which keeps the command close to the interpreter's own
start-up time.  The other subcommands use the regular :class:`flux.Flux` handle.
"""

import errno
import os
import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn

SUMMARY = "Manage broker modules"
PROG = "flux-module"

USAGE = """Usage: flux module COMMAND [OPTIONS] ...
  load [--name=NAME] [--exec] PATH|NAME [ARG...]   load a module
  remove [-f] [--cancel] NAME                      remove a module
  reload [--name=NAME] [-f] PATH|NAME [ARG...]     remove (if loaded), then load
  list [-l]                                        list loaded modules
  stats [-p FIELD] [-c] [-R] NAME                  module statistics
  debug [--setbit=N|--clearbit=N|--set=MASK|--clear] NAME   module debug flags
  trace [-f] [-T GLOB] [-t TYPE,...] [-H [-d]] [-L[WHEN]] [NAME...]   trace module messages"""

#: The matchtag of the lean path's one request.
MATCHTAG = 1


def _die(text: "str") -> "NoReturn":
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _usage_error(text: "str") -> "NoReturn":
    sys.stderr.write(f"{PROG}: {text}\n{USAGE}\n")
    raise SystemExit(1)


# -- one request over a bare socket (load/remove) ---------------------------------------


def _lean_rpc(topic: "str", payload: "dict") -> "tuple[int, str]":
    """Send one request to the enclosing instance; return (errnum, error text)."""
    import _socket

    from flux.codec import ProtocolError, StreamDecoder, encode_stream
    from flux.constants import FLUX_MSGTYPE_RESPONSE
    from flux.message import Message, encode_json

    uri = os.environ.get("FLUX_URI") or "local:///run/flux/local"
    if not uri.startswith("local://"):
        return _handle_rpc(topic, payload)
    path = uri[len("local://"):]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.connect(path)
            byte = sock.recv(1)
        except OSError as exc:
            _die(f"Unable to connect to Flux: {os.strerror(exc.errno or errno.ECONNREFUSED)}")
        if not byte or byte[0] != 0:
            _die(f"Unable to connect to Flux: {os.strerror(byte[0] if byte else errno.ECONNRESET)}")
        request = Message()
        request.route_enable()
        request.topic = topic
        request.payload_bytes = encode_json(payload)  # compact, as flux-core's C command
        request.matchtag = MATCHTAG
        sock.sendall(encode_stream(request))
        decoder = StreamDecoder()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                _die("Unable to connect to Flux: connection lost")
            try:
                msgs = decoder.feed(chunk)
            except ProtocolError as exc:
                return exc.errno or errno.EPROTO, exc.strerror or ""
            for msg in msgs:
                if msg.type == FLUX_MSGTYPE_RESPONSE and msg.matchtag == MATCHTAG:
                    return msg.errnum, (msg.payload_str or "") if msg.errnum else ""
    finally:
        sock.close()


def _handle_rpc(topic: "str", payload: "dict") -> "tuple[int, str]":
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from .util import open_handle

    h = open_handle(PROG)
    try:
        h.rpc(topic, compact_json(payload)).get()
    except OSError as exc:
        return exc.errno or 0, exc.strerror or ""
    return 0, ""


def _errtext(errnum: "int", text: "str") -> "str":
    return text or os.strerror(errnum)


# -- load / remove / reload -----------------------------------------------------------------


def _parse_load(argv: "list[str]", prog: "str") -> 'tuple[str, list[str], "str | None", bool, bool]':
    if argv and not argv[0].startswith("-"):
        return argv[0], argv[1:], None, False, False  # no options (the usual case): no parser to import
    from ._leadingopts import LeadingOptions

    name = None
    use_exec = False
    force = False
    words = LeadingOptions(argv, USAGE, lambda text: _usage_error(f"{prog}: {text}"))
    for arg in words:
        if arg.startswith("--name="):
            name = arg[len("--name="):]
        elif arg in ("--name", "-n"):
            name = words.value(arg)
        elif arg == "--exec":
            use_exec = True
        elif arg in ("-f", "--force") and prog == "reload":
            force = True  # reload: a module that is not loaded is no error
        else:
            _usage_error(f"{prog}: unknown option {arg!r}")
    rest = words.rest()
    if not rest:
        _usage_error(f"{prog}: module path or name is required")
    return rest[0], rest[1:], name, use_exec, force


def _resolve(target: "str") -> "str":
    """An absolute module path, or the bare name for the broker to search."""
    if "/" in target:
        real = os.path.realpath(target)
        if not os.path.exists(real):
            _die(f"could not canonicalize module path '{target}': No such file or directory")
        return real
    for directory in os.environ.get("FLUX_MODULE_PATH", "").split(":"):
        if directory:
            fname = target if target.endswith(".py") else f"{target}.py"
            cand = os.path.join(directory, fname)
            if os.path.isfile(cand):
                return os.path.realpath(cand)
    return target


def _module_name(path: "str", name: "str | None") -> "str":
    if name:
        return name
    base = os.path.basename(path)
    return base[:-3] if base.endswith(".py") else base


def _load(target: "str", args: "list[str]", name: "str | None", use_exec: "bool") -> "int":
    path = _resolve(target)
    payload: "dict" = {"path": path, "args": args, "exec": use_exec}
    if name:
        payload["name"] = name
    errnum, text = _lean_rpc("module.load", payload)
    if errnum:
        _die(f"load {_module_name(path, name)}: {_errtext(errnum, text)}")
    return 0


def _remove(name: "str", force: "bool", cancel: "bool") -> "int":
    errnum, text = _lean_rpc("module.remove", {"name": name, "cancel": cancel})
    if errnum:
        if errnum == errno.ENOENT and force:
            return 0
        _die(f"remove {name}: {_errtext(errnum, text)}")
    return 0


def cmd_load(argv: "list[str]") -> "int":
    target, args, name, use_exec, _ = _parse_load(argv, "load")
    return _load(target, args, name, use_exec)


def cmd_remove(argv: "list[str]") -> "int":
    force = cancel = False
    names: "list[str]" = []
    for arg in argv:
        if arg in ("-f", "--force"):
            force = True
        elif arg == "--cancel":
            cancel = True
        else:
            _operand(arg, "remove", names)
    return _remove(_one_name(names, "remove"), force, cancel)


def cmd_reload(argv: "list[str]") -> "int":
    target, args, name, use_exec, force = _parse_load(argv, "reload")
    path = _resolve(target)
    _remove(_module_name(path, name), force, False)
    return _load(path, args, name, use_exec)


# -- what the subcommands below share ------------------------------------------------------------


def _operand(arg: "str", sub: "str", names: "list[str]") -> "None":
    """A word that is none of ``sub``'s options: help, an unknown option, or a module name."""
    if arg in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0)
    if arg.startswith("-") and arg != "-":
        _usage_error(f"{sub}: unknown option {arg!r}")
    names.append(arg)


def _one_name(names: "list[str]", sub: "str") -> "str":
    if len(names) != 1:
        _usage_error(f"{sub}: exactly one module name is required")
    return names[0]


def _value_at(argv: "list[str]", i: "int", sub: "str", option: "str") -> "str":
    """``argv[i]``, the argument of ``option``; a usage error if there is none."""
    if i >= len(argv):
        _usage_error(f"{sub}: option {option} requires an argument")
    return argv[i]


def _call(what: "str", topic: "str", payload: "Any" = None) -> "Any":
    """One RPC over the regular handle; a failure dies as ``flux-module: WHAT: ERROR``."""
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from .util import open_handle

    h = open_handle(PROG)
    try:
        return h.rpc(topic, None if payload is None else compact_json(payload)).get()
    except OSError as exc:
        _die(f"{what}: {exc.strerror or os.strerror(exc.errno or errno.EPROTO)}")


# -- list / stats / debug (regular handle) ------------------------------------------------------


def cmd_list(argv: "list[str]") -> "int":
    long = False
    for arg in argv:
        if arg in ("-l", "--long"):
            long = True
        elif arg in ("-h", "--help"):
            print(USAGE)
            return 0
        else:
            _usage_error(f"list: unexpected argument {arg!r}")
    resp = _call("list", "module.list") or {}
    header = f"{'Module':<24.24} {'Idle':>5} {'S':>2} {'Sendq':>5} {'Recvq':>5} "
    header += f"{'Service':<8} Path" if long else "Service"
    lines = [header]
    for mod in sorted(resp.get("mods", []), key=lambda m: m.get("name", "")):
        status = mod.get("status", 0)
        state = "IRFX"[status] if isinstance(status, int) and 0 <= status < 4 else "?"
        services = ",".join(mod.get("services") or [])
        line = (f"{mod.get('name', ''):<24.24} {mod.get('idle', 0):>5} {state:>2} "
                f"{mod.get('sendqueue', 0):>5} {mod.get('recvqueue', 0):>5} ")
        line += f"{services:<8} {mod.get('path', '')}" if long else services
        lines.append(line)
    print("\n".join(lines))
    return 0


def _print_value(value: "Any") -> "None":
    import json

    if isinstance(value, bool):
        print("true" if value else "false")
    elif isinstance(value, (int, float)):
        print(value)
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=1, ensure_ascii=False))


def cmd_stats(argv: "list[str]") -> "int":
    field = None
    clear = rusage = False
    names: "list[str]" = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-p", "--parse"):
            i += 1
            field = _value_at(argv, i, "stats", arg)
        elif arg.startswith("--parse="):
            field = arg[len("--parse="):]
        elif arg.startswith("-p") and len(arg) > 2:
            field = arg[2:]
        elif arg in ("-c", "--clear"):
            clear = True
        elif arg in ("-R", "--rusage"):
            rusage = True
        else:
            _operand(arg, "stats", names)
        i += 1
    name = _one_name(names, "stats")
    topic = f"{name}.stats-clear" if clear else f"{name}.rusage" if rusage else f"{name}.stats-get"
    obj = _call(topic, topic)
    if clear:
        return 0
    if obj is None:
        obj = {}
    if field is not None:
        value = obj
        for part in field.split("."):
            if not isinstance(value, dict) or part not in value:
                _die(f"`{field}' not found in response")
            value = value[part]
        _print_value(value)
        return 0
    import json

    print(json.dumps(obj, indent=1, ensure_ascii=False))
    return 0


def cmd_debug(argv: "list[str]") -> "int":
    op, flags = "setbit", 0  # no option: read the flags (set no bit)
    names: "list[str]" = []
    i = 0
    opts = {"--setbit": "setbit", "--clearbit": "clrbit", "--set": "set"}
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if key in opts:
            if not eq:
                i += 1
                value = _value_at(argv, i, "debug", key)
            try:
                flags = int(value, 0)
            except ValueError:
                _die(f"debug: invalid value {value!r}")
            op = opts[key]
        elif arg in ("-c", "--clear"):
            op, flags = "clr", 0
        else:
            _operand(arg, "debug", names)
        i += 1
    topic = f"{_one_name(names, 'debug')}.debug"
    resp = _call(topic, topic, {"op": op, "flags": flags}) or {}
    print(f"0x{int(resp.get('flags', 0)):x}")
    return 0


def cmd_trace(argv: "list[str]") -> "int":
    """``flux module trace``: see flux/cmd/_module_trace.py."""
    from ._module_trace import main as trace_main

    return trace_main(argv)


COMMANDS = {
    "load": cmd_load,
    "remove": cmd_remove,
    "unload": cmd_remove,
    "reload": cmd_reload,
    "list": cmd_list,
    "stats": cmd_stats,
    "debug": cmd_debug,
    "trace": cmd_trace,
}


def main(argv: "list[str]") -> "int":
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 1
    fn = COMMANDS.get(argv[0])
    if fn is None:
        _usage_error(f"unknown subcommand {argv[0]!r}")
    return fn(argv[1:])
