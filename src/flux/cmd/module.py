"""``flux module``: load, remove, reload, list, stats, debug and trace broker modules.

``load`` and ``remove`` run on every instance start-up script and in tight
test loops, so they take a lean path: one request over a raw socket with a
hand-written encoder (no ``json``, ``re``, ``socket``-module or handle
imports), which keeps the command close to the interpreter's own start-up
time.  The other subcommands use the regular :class:`flux.Flux` handle.
"""

from __future__ import annotations

import os
import sys

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

ENOENT = 2
EPROTO = 71


def _die(text: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _usage_error(text: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
    sys.stderr.write(f"{PROG}: {text}\n{USAGE}\n")
    raise SystemExit(1)


# -- a minimal RPC client (load/remove) ------------------------------------------------


def _json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _frame(data: bytes) -> bytes:
    n = len(data)
    if n < 255:
        return bytes((n,)) + data
    return b"\xff" + n.to_bytes(4, "big") + data


def _encode_request(topic: str, payload: str) -> bytes:
    body = payload.encode("utf-8", "surrogateescape") + b"\0"
    proto = bytes((0x8E, 0x01, 0x01, 0x0B)) + b"\xff\xff\xff\xff" + b"\x00\x00\x00\x00" \
        + b"\xff\xff\xff\xff" + b"\x00\x00\x00\x01"
    frames = b"\x00" + _frame(topic.encode()) + _frame(body) + _frame(proto)
    return (0xFFEE0012).to_bytes(4, sys.byteorder) + len(frames).to_bytes(4, "big") + frames


def _parse_frames(body: bytes) -> list[bytes]:
    frames = []
    pos = 0
    n = len(body)
    while pos < n:
        size = body[pos]
        pos += 1
        if size == 0xFF:
            size = int.from_bytes(body[pos:pos + 4], "big")
            pos += 4
        frames.append(body[pos:pos + size])
        pos += size
    return frames


def _lean_rpc(topic: str, payload: str) -> tuple[int, str]:
    """Send one request to the enclosing instance; return (errnum, error text)."""
    import _socket

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
            _die(f"Unable to connect to Flux: {os.strerror(exc.errno or 111)}")
        if not byte or byte[0] != 0:
            _die(f"Unable to connect to Flux: {os.strerror(byte[0] if byte else 104)}")
        sock.sendall(_encode_request(topic, payload))
        buf = b""
        while True:
            while len(buf) < 8:
                chunk = sock.recv(65536)
                if not chunk:
                    _die("Unable to connect to Flux: connection lost")
                buf += chunk
            size = int.from_bytes(buf[4:8], "big")
            while len(buf) < 8 + size:
                chunk = sock.recv(65536)
                if not chunk:
                    _die("Unable to connect to Flux: connection lost")
                buf += chunk
            body, buf = buf[8:8 + size], buf[8 + size:]
            frames = _parse_frames(body)
            if not frames or len(frames[-1]) != 20:
                continue
            proto = frames[-1]
            mtype, flags = proto[2], proto[3]
            if mtype != 2 or int.from_bytes(proto[16:20], "big") != 1:
                continue  # not our response
            errnum = int.from_bytes(proto[12:16], "big")
            text = ""
            if errnum and flags & 0x02:
                rest = frames[:-1]
                if flags & 0x08:  # routes, then the delimiter
                    while rest and rest[0]:
                        rest = rest[1:]
                    rest = rest[1:]
                if flags & 0x01:
                    rest = rest[1:]
                if rest:
                    text = rest[0].rstrip(b"\0").decode("utf-8", "replace")
            return errnum, text
    finally:
        sock.close()


def _handle_rpc(topic: str, payload: str) -> tuple[int, str]:
    from .util import open_handle

    h = open_handle(PROG)
    try:
        h.rpc(topic, payload).get()
    except OSError as exc:
        return exc.errno or 0, exc.strerror or ""
    return 0, ""


def _errtext(errnum: int, text: str) -> str:
    return text or os.strerror(errnum)


# -- load / remove / reload -----------------------------------------------------------------


def _parse_load(argv: list[str], prog: str) -> tuple[str, list[str], "str | None", bool, bool]:
    name = None
    use_exec = False
    force = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg in ("-h", "--help"):
            print(USAGE)
            raise SystemExit(0)
        if arg.startswith("--name="):
            name = arg[len("--name="):]
        elif arg in ("--name", "-n"):
            i += 1
            if i >= len(argv):
                _usage_error(f"{prog}: option {arg} requires an argument")
            name = argv[i]
        elif arg == "--exec":
            use_exec = True
        elif arg in ("-f", "--force") and prog == "reload":
            force = True  # reload: a module that is not loaded is no error
        else:
            _usage_error(f"{prog}: unknown option {arg!r}")
        i += 1
    if i >= len(argv):
        _usage_error(f"{prog}: module path or name is required")
    return argv[i], argv[i + 1:], name, use_exec, force


def _resolve(target: str) -> str:
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


def _module_name(path: str, name: "str | None") -> str:
    if name:
        return name
    base = os.path.basename(path)
    return base[:-3] if base.endswith(".py") else base


def _load(target: str, args: list[str], name: "str | None", use_exec: bool) -> int:
    path = _resolve(target)
    payload = '{"path":' + _json_str(path) + ',"args":[' + ",".join(_json_str(a) for a in args) + "]"
    payload += ',"exec":' + ("true" if use_exec else "false")
    if name:
        payload += ',"name":' + _json_str(name)
    payload += "}"
    errnum, text = _lean_rpc("module.load", payload)
    if errnum:
        _die(f"load {_module_name(path, name)}: {_errtext(errnum, text)}")
    return 0


def _remove(name: str, force: bool, cancel: bool) -> int:
    payload = '{"name":' + _json_str(name) + ',"cancel":' + ("true" if cancel else "false") + "}"
    errnum, text = _lean_rpc("module.remove", payload)
    if errnum:
        if errnum == ENOENT and force:
            return 0
        _die(f"remove {name}: {_errtext(errnum, text)}")
    return 0


def cmd_load(argv: list[str]) -> int:
    target, args, name, use_exec, _ = _parse_load(argv, "load")
    return _load(target, args, name, use_exec)


def cmd_remove(argv: list[str]) -> int:
    force = cancel = False
    names = []
    for arg in argv:
        if arg in ("-f", "--force"):
            force = True
        elif arg == "--cancel":
            cancel = True
        elif arg in ("-h", "--help"):
            print(USAGE)
            return 0
        elif arg.startswith("-") and arg != "-":
            _usage_error(f"remove: unknown option {arg!r}")
        else:
            names.append(arg)
    if len(names) != 1:
        _usage_error("remove: exactly one module name is required")
    return _remove(names[0], force, cancel)


def cmd_reload(argv: list[str]) -> int:
    target, args, name, use_exec, force = _parse_load(argv, "reload")
    path = _resolve(target)
    _remove(_module_name(path, name), force, False)
    return _load(path, args, name, use_exec)


# -- list / stats / debug (regular handle) ------------------------------------------------------


def cmd_list(argv: list[str]) -> int:
    long = False
    for arg in argv:
        if arg in ("-l", "--long"):
            long = True
        elif arg in ("-h", "--help"):
            print(USAGE)
            return 0
        else:
            _usage_error(f"list: unexpected argument {arg!r}")
    from .util import open_handle

    h = open_handle(PROG)
    try:
        resp = h.rpc("module.list").get() or {}
    except OSError as exc:
        _die(f"list: {exc.strerror or os.strerror(exc.errno or EPROTO)}")
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


def _print_value(value) -> None:
    import json

    if isinstance(value, bool):
        print("true" if value else "false")
    elif isinstance(value, (int, float)):
        print(value)
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=1, ensure_ascii=False))


def cmd_stats(argv: list[str]) -> int:
    field = None
    clear = rusage = False
    names = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-p", "--parse"):
            i += 1
            if i >= len(argv):
                _usage_error(f"stats: option {arg} requires an argument")
            field = argv[i]
        elif arg.startswith("--parse="):
            field = arg[len("--parse="):]
        elif arg.startswith("-p") and len(arg) > 2:
            field = arg[2:]
        elif arg in ("-c", "--clear"):
            clear = True
        elif arg in ("-R", "--rusage"):
            rusage = True
        elif arg in ("-h", "--help"):
            print(USAGE)
            return 0
        elif arg.startswith("-") and arg != "-":
            _usage_error(f"stats: unknown option {arg!r}")
        else:
            names.append(arg)
        i += 1
    if len(names) != 1:
        _usage_error("stats: exactly one module name is required")
    name = names[0]
    from .util import open_handle

    h = open_handle(PROG)
    topic = f"{name}.stats-clear" if clear else f"{name}.rusage" if rusage else f"{name}.stats-get"
    try:
        obj = h.rpc(topic).get()
    except OSError as exc:
        _die(f"{topic}: {exc.strerror or os.strerror(exc.errno or EPROTO)}")
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


def cmd_debug(argv: list[str]) -> int:
    op, flags = "setbit", 0  # no option: read the flags (set no bit)
    names = []
    i = 0
    opts = {"--setbit": "setbit", "--clearbit": "clrbit", "--set": "set"}
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if key in opts:
            if not eq:
                i += 1
                if i >= len(argv):
                    _usage_error(f"debug: option {key} requires an argument")
                value = argv[i]
            try:
                flags = int(value, 0)
            except ValueError:
                _die(f"debug: invalid value {value!r}")
            op = opts[key]
        elif arg in ("-c", "--clear"):
            op, flags = "clr", 0
        elif arg in ("-h", "--help"):
            print(USAGE)
            return 0
        elif arg.startswith("-") and arg != "-":
            _usage_error(f"debug: unknown option {arg!r}")
        else:
            names.append(arg)
        i += 1
    if len(names) != 1:
        _usage_error("debug: exactly one module name is required")
    name = names[0]
    from .util import open_handle

    h = open_handle(PROG)
    topic = f"{name}.debug"
    try:
        resp = h.rpc(topic, {"op": op, "flags": flags}).get() or {}
    except OSError as exc:
        _die(f"{topic}: {exc.strerror or os.strerror(exc.errno or EPROTO)}")
    print(f"0x{int(resp.get('flags', 0)):x}")
    return 0


def cmd_trace(argv: list[str]) -> int:
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


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 1
    fn = COMMANDS.get(argv[0])
    if fn is None:
        _usage_error(f"unknown subcommand {argv[0]!r}")
    return fn(argv[1:])
