"""``flux kvs version``, ``wait``, ``getroot``, ``dropcache``, ``namespace ...``.

Requests about roots and namespaces rather than keys, printed as
flux-core's ``flux-kvs`` prints them.  Arguments are read as its C code
reads them (``wait`` and ``--owner`` with ``strtoul``).  ``namespace
create`` reports the server's own error text when it gave one (flux-core's
``future_strerror``); everything else reports the errno's strerror.
"""

from __future__ import annotations

from . import _kvs_output as out
from ._kvs_format import NAMESPACE_HEADER, namespace_line

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._kvs_options import Args

#: the owner flux-core's ``namespace create`` asks for by default: the instance owner
USERID_UNKNOWN = 0xFFFFFFFF


def _usage_exit(p: Args) -> None:
    p.command.print_usage()
    raise SystemExit(1)


def cmd_version(p: Args) -> int:
    namespace = p.get_str("namespace")
    h = out.open_handle()
    from flux.kvs.roots import get_version
    try:
        version = get_version(h, namespace)
    except OSError as exc:
        out.err_exit("flux_kvs_get_version", exc)
    out.write(f"{version}\n")
    return 0


def _c_int(value: int) -> int:
    """An integer converted to a C ``int`` (two's complement wrap)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def cmd_wait(p: Args) -> int:
    from ._kvs_options import c_strtol

    if not p.args:
        _usage_exit(p)
    if len(p.args) != 1:
        out.msg_exit("wait: specify a version")
    namespace = p.get_str("namespace")
    version = _c_int(c_strtol(p.args[0], unsigned=True)[0])
    h = out.open_handle()
    from flux.kvs.roots import wait_version
    try:
        wait_version(h, version, namespace).get()
    except OSError as exc:
        out.err_exit("flux_kvs_wait_version", exc)
    return 0


def cmd_getroot(p: Args) -> int:
    if p.args:
        _usage_exit(p)
    namespace = p.get_str("namespace")
    h = out.open_handle()
    from flux.kvs.roots import getroot
    try:
        f = getroot(h, namespace)
    except OSError as exc:
        out.err_exit("flux_kvs_getroot", exc)
    f.then(_getroot_print, p)
    h.reactor_run()
    return 0


def _getroot_print(f: Any, p: Args) -> None:
    from ._kvs_read import treeobj_text

    if p.hasopt("owner"):
        what, show = "flux_kvs_getroot_get_owner", lambda: f"{f.get_owner() & 0xFFFFFFFF}\n"
    elif p.hasopt("sequence"):
        what, show = "flux_kvs_getroot_get_sequence", lambda: f"{f.get_sequence()}\n"
    elif p.hasopt("blobref"):
        what, show = "flux_kvs_getroot_get_blobref", lambda: f"{f.get_rootref()}\n"
    else:
        what, show = "flux_kvs_getroot_get_treeobj", \
            lambda: treeobj_text(f.get_treeobj()).decode("utf-8", "surrogateescape") + "\n"
    try:
        text = show()
    except OSError as exc:
        out.err_exit(what, exc)
    out.write(text)
    out.flush()


def cmd_dropcache(p: Args) -> int:
    h = out.open_handle()
    if p.hasopt("all"):
        from flux.message import Message

        try:
            h.send(Message.from_event_encode("kvs.dropcache"))
        except OSError as exc:
            out.err_exit("flux_send", exc)
    else:
        from flux.kvs.service import dropcache

        try:
            dropcache(h)
        except OSError as exc:
            out.err_exit("flux_kvs_dropcache", exc)
    return 0


# -- namespace --------------------------------------------------------------------------------


def future_strerror(exc: OSError) -> str:
    """The server's error text if it sent one, else strerror (flux-core's future_strerror).

    flux.kvs words an error without a text as ``ENAME: strerror``.
    """
    import errno
    import os

    errnum = out.errno_of(exc)
    plain = os.strerror(errnum)
    text = exc.strerror or ""
    if not text or text in (plain, f"{errno.errorcode.get(errnum, '')}: {plain}"):
        return plain
    return text


def cmd_namespace_create(p: Args) -> int:
    from ._kvs_options import c_strtol

    if not p.args:
        _usage_exit(p)
    owner = USERID_UNKNOWN
    text = p.get_str("owner")
    if text is not None:
        value, end, _ = c_strtol(text, unsigned=True)
        if end != len(text):
            out.msg_exit("--owner requires an unsigned integer argument")
        owner = value & 0xFFFFFFFF
    rootref = p.get_str("rootref")
    h = out.open_handle()
    for name in p.args:
        try:
            f = _namespace_create(h, name, owner, rootref)
        except OSError as exc:
            out.err_exit(name, exc)
        try:
            f.get()
        except OSError as exc:
            out.msg_exit(f"{name}: {future_strerror(exc)}")
    return 0


def _namespace_create(h: Any, name: str, owner: int, rootref: str | None) -> Any:
    """The ``kvs.namespace-create`` request (to rank 0), owner as the int libkvs sends."""
    from flux.message import compact_json
    from flux.rpc import RPC

    if rootref is None:
        from flux.services.content.blobref import hash_blobref
        from flux.services.kvs import treeobj

        rootref = hash_blobref(h.attr_get("content.hash"), treeobj.encode(treeobj.create_dir()))
    payload = {"namespace": name, "rootref": rootref, "owner": _c_int(owner), "flags": 0}
    return RPC(h, "kvs.namespace-create", compact_json(payload), 0)


def cmd_namespace_remove(p: Args) -> int:
    if not p.args:
        _usage_exit(p)
    h = out.open_handle()
    from flux.kvs.namespaces import namespace_remove
    for name in p.args:
        try:
            namespace_remove(h, name)
        except OSError as exc:
            out.err_exit(name, exc)
    return 0


def cmd_namespace_list(p: Args) -> int:
    if p.args:
        _usage_exit(p)
    h = out.open_handle()
    try:
        resp = h.rpc("kvs.namespace-list").get()
        namespaces = resp["namespaces"]
    except OSError as exc:
        out.err_exit("flux_rpc_get_unpack", exc)
    except (KeyError, TypeError):
        import errno

        out.err_exit("flux_rpc_get_unpack", errno.EPROTO)
    if not isinstance(namespaces, list):
        out.msg_exit("namespaces object is not an array")
    lines = [NAMESPACE_HEADER]
    for entry in namespaces:
        try:
            lines.append(namespace_line(entry["namespace"], entry["owner"], entry["flags"]))
        except (KeyError, TypeError):
            import errno

            out.err_exit("json_unpack", errno.EPROTO)
    out.write("".join(lines))
    return 0
