"""docs/architecture.md's layout table stays true: what it names exists, and nothing is left out."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def table_paths() -> list[str]:
    section = DOC.read_text().split("## Layout and ownership", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def test_every_named_path_exists():
    paths = table_paths()
    assert len(paths) > 30
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, missing


def left_out(modules: list[str], named: set[str]) -> list[str]:
    """The modules (repo-relative paths) that no table entry, file or folder, names."""
    folders = {p.rstrip("/") for p in named if p.endswith("/")}
    out = []
    for rel in modules:
        if rel in named or rel.endswith("/__init__.py") and rel != "src/flux/__init__.py":
            continue
        if not any(rel.startswith(folder + "/") for folder in folders):
            out.append(rel)
    return out


def test_every_module_is_named_or_in_a_named_folder():
    modules = [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "src" / "flux").rglob("*.py"))]
    missing = left_out(modules, set(table_paths()))
    assert not missing, f"add these to the layout table in docs/architecture.md: {missing}"


def test_a_new_file_would_be_caught():
    """The check is not vacuous: a module the table does not name is reported, one in a named
    folder is not."""
    named = set(table_paths())
    assert left_out(["src/flux/core/zz_stray.py"], named) == ["src/flux/core/zz_stray.py"]
    assert left_out(["src/flux/cmd/zz_new_command.py", "src/flux/core/handle.py"], named) == []
