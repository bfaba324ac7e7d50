"""``flux python [ARGS...]``: run the Python interpreter that has pureflux installed."""

from __future__ import annotations

SUMMARY = "Run the Python interpreter that has the flux package"

PROG = "flux-python"


def main(argv: list[str]) -> int:
    import os
    import sys

    from flux.environment import flux_environment
    from .util import die

    env = dict(os.environ)
    # the package's directory on PYTHONPATH, as flux-core does, so that
    # subprocesses of the script find it too
    env.update((k, v) for k, v in flux_environment() if k == "PYTHONPATH")
    exe = sys.executable
    if not exe:
        die(PROG, "cannot determine the Python interpreter")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(exe, [exe, *argv], env)
    except OSError as exc:
        die(PROG, f"execve ({exe}): {os.strerror(exc.errno or 2)}")
    return 1
