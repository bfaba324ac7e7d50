"""``flux version``: print the versions of the commands, the library and the broker."""

from __future__ import annotations

SUMMARY = "Display flux version information"

PROG = "flux-version"


def main(argv: list[str]) -> int:
    import os
    import sys

    import flux

    from ._optparse import Parser

    parser = Parser("flux version", "[OPTIONS]...", [], doc="Display flux version information")
    _, args = parser.parse(argv)
    if args:
        parser.fatal_usage()
    lines = [
        f"commands:    \t\t{flux.__version__}",
        f"libflux-core:\t\t{flux.FLUX_CORE_COMPAT_VERSION}",
    ]
    uri = os.environ.get("FLUX_URI")
    if uri:
        try:
            h = flux.Flux(uri)
            lines.append(f"broker:  \t\t{h.attr_get('version')}")
        except OSError:
            pass
        lines.append(f"FLUX_URI:\t\t{uri}")
    lines.append("build-options:\t\t+pureflux")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
