"""``flux module-python-exec PATH``: run a Python broker module (started by the broker).

The broker runs this with ``FLUX_MODULE_URI=fd://N`` when modules are loaded
in exec form (``-S module.exec=1`` or ``flux module load --exec``); normally
it forks and calls the same :func:`flux.core.module_exec.main` directly.
"""

from __future__ import annotations

SUMMARY = "Run a Python broker module (used by the broker)"


def main(argv: list[str]) -> int:
    from flux.core.module_exec import main as module_main

    return module_main(argv)
