"""``flux uri [--remote|--local] [--wait] TARGET``: resolve a jobid or ``scheme:arg`` to a URI."""

from __future__ import annotations

SUMMARY = "Resolve TARGET to a Flux URI"

PROG = "flux-uri"


def main(argv: list[str]) -> int:
    import argparse
    import os

    from flux.uri import FluxURIResolver

    from ._job_cli import run

    def body() -> int:
        resolver = FluxURIResolver()
        schemes = "\n".join(f"  {name}\t\t{text}" for name, text in resolver.plugins().items())
        parser = argparse.ArgumentParser(
            prog=PROG, description="Resolve TARGET to a Flux URI",
            epilog="Supported resolver schemes:\n" + schemes,
            formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
        parser.add_argument("--remote", action="store_true", help="convert a local URI to remote")
        parser.add_argument("--local", action="store_true", help="convert a remote URI to local",
                            default=os.environ.get("FLUX_URI_RESOLVE_LOCAL"))
        parser.add_argument("--wait", action="store_true",
                            help="wait for a URI to become available, if supported")
        parser.add_argument("uri", metavar="TARGET",
                            help="A Flux jobid or URI in scheme:argument form (e.g. jobid:f1234)")
        args = parser.parse_args(argv)
        target = args.uri + "?wait" if args.wait else args.uri
        uri = resolver.resolve(target)
        if args.remote:
            print(uri.remote)
        elif args.local:
            print(uri.local)
        else:
            print(uri)
        return 0

    return run(PROG, body)
