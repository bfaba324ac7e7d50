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

SUMMARY = "Print the flux environment or execute COMMAND inside it"

PROG = "flux-env"


def _prepend(dirs: list[str], current: str | None) -> str:
    out: list[str] = []
    for d in dirs + (current.split(os.pathsep) if current else []):
        if d and d not in out:
            out.append(d)
    return os.pathsep.join(out)


def bin_dirs() -> list[str]:
    """Where this ``flux`` lives (first), then the interpreter's directory."""
    dirs = []
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "flux" and os.path.dirname(argv0):
        dirs.append(os.path.dirname(os.path.abspath(argv0)))
    exe_dir = os.path.dirname(os.path.abspath(sys.executable))
    if exe_dir not in dirs:
        dirs.append(exe_dir)
    return dirs


def flux_environment(base: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """The (name, value) pairs ``flux env`` prints, in order."""
    import flux

    env = os.environ if base is None else base
    pkg_dir = os.path.dirname(os.path.abspath(flux.__file__))
    bins = bin_dirs()
    pairs = [
        ("FLUX_EXEC_PATH", _prepend(bins[:1], env.get("FLUX_EXEC_PATH"))),
        ("FLUX_MODULE_PATH", _prepend([os.path.join(pkg_dir, "modules")], env.get("FLUX_MODULE_PATH"))),
        ("PYTHONPATH", _prepend([os.path.dirname(pkg_dir)], env.get("PYTHONPATH"))),
        ("PATH", _prepend(bins, env.get("PATH") or os.defpath)),
    ]
    if env.get("FLUX_URI"):
        pairs.append(("FLUX_URI", env["FLUX_URI"]))
    return pairs


def main(argv: list[str]) -> int:
    from ._optparse import Parser
    from .util import die

    parser = Parser(PROG, "[OPTIONS...] [COMMAND...]", [], stop_at_nonoption=True)
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
