"""``flux keygen [--name=NAME] [--meta=KEY=VAL,...] [PATH]``: make a CURVE
certificate for the overlay, in flux-core's file format (mode 0600)."""

from __future__ import annotations

SUMMARY = "Generate CURVE certificate for overlay network"

PROG = "flux-keygen"


def main(argv: list[str]) -> int:
    import datetime
    import os
    import socket
    import sys

    from ._optparse import REQUIRED, Option, Parser
    from .util import die

    table = [Option("n", "name", REQUIRED, "NAME", "Set certificate name (default: hostname)"),
             Option(None, "meta", REQUIRED, "KEYVALS",
                    "Add/update comma-separated key=value metadata")]
    parser = Parser(PROG, "[OPTIONS] [PATH]", table)
    opts, args = parser.parse(argv)
    if len(args) > 1:
        parser.fatal_usage()
    path = args[0] if args else None
    if path is None:
        print(f"{PROG}: WARNING: add PATH argument to save generated certificate",
              file=sys.stderr)
    try:
        import zmq
    except ImportError:
        die(PROG, "pyzmq is not installed")
    import flux
    from flux.broker.overlay.cert import Cert, write_cert

    public, secret = zmq.curve_keypair()
    hostname = socket.gethostname()
    meta: dict[str, str] = {}

    def setmeta(key: str, value: str) -> None:
        meta.setdefault(key, value)  # as zcert: the first setting wins

    if opts.name:
        setmeta("name", opts.name)
    if opts.meta:
        for item in opts.meta.split(","):
            key, _, value = item.partition("=")
            setmeta(key, value)
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
    setmeta("name", hostname)
    setmeta("keygen.hostname", hostname)
    setmeta("keygen.time", now)
    setmeta("keygen.userid", str(os.getuid()))
    setmeta("keygen.flux-core-version", flux.FLUX_CORE_COMPAT_VERSION)
    setmeta("keygen.zmq-version", zmq.zmq_version())
    if path is not None:
        try:
            write_cert(path, Cert(public.decode(), secret.decode(), meta))
        except OSError as exc:
            die(PROG, f"open {path}: {exc.strerror}")
    return 0
