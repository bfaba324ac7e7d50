"""The environment a Flux instance gives the programs it runs.

flux-core's front end exports PATH, PYTHONPATH and the search paths so that
programs started in an instance find its ``flux`` command and can ``import
flux``.  ``flux env`` prints this, ``flux python`` and the broker's initial
program run with it.
"""

from __future__ import annotations

import os
import sys


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
    """The (name, value) pairs of the instance environment, in ``flux env`` order."""
    env = os.environ if base is None else base
    pkg_dir = os.path.dirname(os.path.abspath(__file__))
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
