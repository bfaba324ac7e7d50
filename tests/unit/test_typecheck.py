"""src/flux type-checks clean under the project's mypy settings ([tool.mypy] in pyproject.toml).

The annotations are part of the API (the package ships ``py.typed``), so a
wrong one is a bug: this test keeps them honest.  mypy comes from the
``test`` extra; it runs in a subprocess with a fresh cache directory, so the
result depends on the sources and the config only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from proctree import run_tree

ROOT = Path(__file__).resolve().parents[2]


def test_src_flux_typechecks(tmp_path: Path) -> None:
    proc = run_tree(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy_cache"), "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not output, f"mypy found problems:\n{output}"
