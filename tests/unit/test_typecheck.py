"""The package type-checks: mypy's default mode on all of src/flux, ``--strict`` on the public API.

The annotations are part of the API (the package ships ``py.typed``), so a
wrong one is a bug: these tests keep them honest.  Both checks read
``[tool.mypy]`` in pyproject.toml; the public modules are the ones its strict
override lists, so the list lives in one place.  mypy comes from the ``test``
extra; it runs in a subprocess with a fresh cache directory, so the result
depends on the sources and the config only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from proctree import run_tree

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


def _mypy(args: list[str], cache: Path) -> str:
    proc = run_tree(
        [sys.executable, "-m", "mypy", "--config-file", str(PYPROJECT),
         "--cache-dir", str(cache), "--no-error-summary", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not output, f"mypy found problems:\n{output}"
    return output


def public_modules() -> list[str]:
    """The modules pyproject's strict override covers (``pkg.*`` as the package ``pkg``)."""
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["mypy"]
    strict = [o for o in config["overrides"] if o.get("disallow_untyped_defs")]
    assert len(strict) == 1, "expected one strict override in [tool.mypy]"
    return sorted({m.removesuffix(".*") for m in strict[0]["module"]})


def test_public_module_list_is_the_api() -> None:
    # the list (flux, flux.core.handle, message, future, rpc, brokermod, kvs, job) and
    # the modules defining the types these return
    assert set(public_modules()) >= {"flux", "flux.brokermod", "flux.core.handle", "flux.future",
                                     "flux.job", "flux.kvs", "flux.message", "flux.rpc",
                                     "flux.core.watchers", "flux.eventlog"}


def test_src_flux_typechecks(tmp_path: Path) -> None:
    _mypy([], tmp_path / "mypy_cache")


def test_public_api_typechecks_strict(tmp_path: Path) -> None:
    # (unused-config notes are about the modules outside this run: not findings)
    args = ["--strict", "--no-warn-unused-configs", "--follow-imports=silent"]
    for module in public_modules():
        # a package is checked with its submodules (-p); flux itself only as its __init__ (-m)
        is_package = module != "flux" and (ROOT / "src" / module.replace(".", "/")).is_dir()
        args += ["-p" if is_package else "-m", module]
    _mypy(args, tmp_path / "mypy_cache")


def test_user_code_typechecks_strict(tmp_path: Path) -> None:
    """What users see: their code under --strict, with the API's types pinned by assert_type."""
    _mypy(["--strict", "--no-warn-unused-configs", "tests/data/typing/user_code.py"],
          tmp_path / "mypy_cache")
