"""``flux env [COMMAND...]``: print the environment pureflux's commands use, or run COMMAND in it.

Without COMMAND, prints ``export NAME="VALUE"`` lines: FLUX_EXEC_PATH (where
``flux`` looks for external ``flux-NAME`` commands), FLUX_MODULE_PATH,
PYTHONPATH (the directory holding the ``flux`` package first), PATH (the
directory of this ``flux`` first) and FLUX_URI when set.  Works outside an
instance too.  With COMMAND, execs it with that environment.
"""

from __future__ import annotations

import os
import sys

from flux.environment import bin_dirs, flux_environment  # noqa: F401  (re-exported)

SUMMARY = "Print the flux environment or execute COMMAND inside it"

PROG = "flux-env"


def main(argv: list[str]) -> int:
    from ._optparse import Parser
    from .util import die

    parser = Parser("flux env", "[OPTIONS...] [COMMAND...]", [], stop_at_nonoption=True,
                    doc="Print the flux environment or execute COMMAND inside it")
    _, args = parser.parse(argv)
    pairs = flux_environment()
    if not args:
        sys.stdout.write("".join(f'export {k}="{v}"\n' for k, v in pairs))
        return 0
    env = dict(os.environ)
    env.update(pairs)
    sys.stdout.flush()
    try:
        os.execvpe(args[0], args, env)
    except OSError as exc:
        die(PROG, f"execvp ({args[0]}): {os.strerror(exc.errno or 2)}")
    return 1
