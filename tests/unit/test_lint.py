"""ruff finds nothing in the sources, tests, benchmarks and examples ([tool.ruff] in pyproject.toml).

ruff comes from the ``test`` extra.  Its findings are bugs more often than
style (unused names, undefined names, redefinitions, loop-variable closures),
so any finding fails this test.
"""

from __future__ import annotations

import sys
from pathlib import Path

from proctree import run_tree

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["src", "tests", "bench", "examples"]


def _ruff(*args: str) -> tuple[int, str]:
    proc = run_tree(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
         str(ROOT / "pyproject.toml"), "--output-format", "concise", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_ruff_check_is_clean() -> None:
    paths = [p for p in PATHS if (ROOT / p).is_dir()]
    assert "src" in paths and "tests" in paths
    rc, output = _ruff(*paths)
    assert rc == 0, f"ruff found problems (fix them, or see [tool.ruff] in pyproject.toml):\n{output}"


def test_ruff_reports_a_finding(tmp_path: Path) -> None:
    """The check is not vacuous: an undefined name in a file is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return undefined_name\n")
    rc, output = _ruff(str(bad))
    assert rc == 1 and "F821" in output, output
