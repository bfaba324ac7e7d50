"""The import layers of src/flux: a module imports only from its own layer or the layers below.

Every import counts wherever it stands (module level, inside a function, a
lazy import), including the parent packages an import runs (``import
flux.core.reactor`` runs ``flux/core/__init__.py`` too), with two exceptions:

* imports under ``if TYPE_CHECKING:`` never run; they exist for type
  checkers and may point anywhere (annotations name classes of higher layers);
* a module-level ``__getattr__`` (PEP 562) that re-exports a name from a
  higher layer for API compatibility is a facade, not a dependency: the
  module's own code never runs it.  Each one is listed in ``FACADES`` with
  its reason, so a new one is a deliberate decision.

``LAYERS`` is mirrored by the diagram in docs/architecture.md ("Layers"); a
test keeps the two equal.  An entry ``pkg.*`` is the package and everything
under it (the broker and the commands grow new modules all the time); any
other entry is one module.  A module that matches no entry fails the test:
give it a layer.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOC = ROOT / "docs" / "architecture.md"

#: Bottom to top.
LAYERS: list[tuple[str, ...]] = [
    ("flux", "flux.constants", "flux.severity", "flux.environment", "flux.fsd", "flux.proctitle",
     "flux.parentdeath", "flux.wrapper", "flux.idset", "flux.hostlist", "flux._fdread",
     "flux.ioencode"),
    ("flux.message", "flux.message_pimpl"),
    ("flux.codec", "flux.response", "flux.util", "flux._util_duration", "flux._util_treedict",
     "flux._util_tree", "flux._util_dedup", "flux._util_fileref", "flux._util_cli",
     "flux._util_config"),
    ("flux.core", "flux.core.connection", "flux.core.reactor", "flux.core.topics",
     "flux.core.threadstate", "flux.core.logging", "flux.core.loopback",
     "flux.core.default_methods", "flux.core.ssh"),
    ("flux.core.watchers", "flux.core.dispatch", "flux.core.aio"),
    ("flux.future",),
    ("flux.rpc",),
    ("flux.core.handle",),
    ("flux.brokermod", "flux.core.module_exec", "flux.job.*", "flux.eventlog", "flux.kvs.*",
     "flux.modules.*", "flux.pmi.*", "flux.services.*", "flux.shell.*", "flux.resource.*",
     "flux.uri.*"),
    ("flux.broker.*",),
    ("flux.cmd.*", "flux.testing.*", "flux.dashboard.*"),
]

#: (module, imported module) pairs allowed upward inside a module-level ``__getattr__``.
FACADES: dict[tuple[str, str], str] = {
    ("flux", "flux.core.handle"): "flux.Flux is the handle class, loaded on first use",
    ("flux.message", "flux.core.watchers"): "flux-core's API has flux.message.MessageWatcher",
    ("flux.util", "flux.cmd._job_outputformat"): "flux-core's flux.util has OutputFormat and "
                                                 "friends; the commands hold the one copy",
}


def layer_of(module: str) -> int | None:
    """The layer of ``module``: an exact entry, else the longest ``pkg.*`` entry containing it."""
    best, best_len = None, -1
    for level, entries in enumerate(LAYERS):
        for entry in entries:
            if entry == module:
                return level
            if entry.endswith(".*"):
                pkg = entry[:-2]
                if (module == pkg or module.startswith(pkg + ".")) and len(pkg) > best_len:
                    best, best_len = level, len(pkg)
    return best


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int, str]]:
    """``(imported flux module, line, kind)`` for every import in ``source``.

    kind: ``"run"`` (runs at some point), ``"typing"`` (under TYPE_CHECKING)
    or ``"facade"`` (inside a module-level ``__getattr__``).
    """
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[str, int, str]] = []

    def add(name: str, line: int, kind: str) -> None:
        if name == "flux" or name.startswith("flux."):
            for target in _with_parents(name):
                out.append((target, line, kind))

    def visit(node: ast.AST, kind: str) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, "typing")
            for child in node.orelse:
                visit(child, kind)
            return
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and kind == "run" \
                and node in top_level:
            for child in node.body:
                visit(child, "facade")
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, kind)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source_mod = ".".join(base + ([node.module] if node.module else []))
            else:
                source_mod = node.module or ""
            add(source_mod, node.lineno, kind)
            for alias in node.names:  # ``from pkg import submodule``
                if f"{source_mod}.{alias.name}" in known:
                    add(f"{source_mod}.{alias.name}", node.lineno, kind)
        elif isinstance(node, ast.Call) and _is_import_call(node):
            add(node.args[0].value, node.lineno, kind)  # type: ignore[attr-defined]
        for child in ast.iter_child_nodes(node):
            visit(child, kind)

    tree = ast.parse(source)
    top_level = list(tree.body)
    visit(tree, "run")
    return out


def _is_import_call(node: ast.Call) -> bool:
    """``importlib.import_module("flux.x")`` / ``__import__("flux.x")`` with a literal name."""
    func = node.func
    named = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")
    return named and bool(node.args) and isinstance(node.args[0], ast.Constant) \
        and isinstance(node.args[0].value, str)


def violations(source: str, module: str, is_package: bool = False,
               known: set[str] | None = None) -> list[str]:
    """What is wrong with ``module``'s imports (empty: nothing)."""
    known = known if known is not None else set()
    own = layer_of(module)
    if own is None:
        return [f"{module}: no layer (add it to LAYERS here and to docs/architecture.md)"]
    problems: list[str] = []
    seen = set()
    for target, line, kind in imports_of(source, module, is_package, known):
        if kind == "typing" or (target, line) in seen:
            continue
        seen.add((target, line))
        theirs = layer_of(target)
        if theirs is None or theirs <= own:
            continue
        if kind == "facade" and any(m == module and (f == target or f.startswith(target + "."))
                                    for m, f in FACADES):
            continue  # the listed re-export, or a package that importing it runs
        problems.append(f"{module}:{line} imports {target} (layer {theirs}) from layer {own}"
                        + (" in __getattr__ (not in FACADES)" if kind == "facade" else ""))
    return problems


def _modules() -> list[tuple[str, Path, bool]]:
    out = []
    for path in sorted((SRC / "flux").rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out.append((".".join(parts), path, is_package))
    return out


def test_every_module_has_a_layer():
    missing = [name for name, _, _ in _modules() if layer_of(name) is None]
    assert not missing, f"give these modules a layer in LAYERS (and docs/architecture.md): {missing}"


def test_imports_point_downward():
    modules = _modules()
    known = {name for name, _, _ in modules}
    problems = []
    for name, path, is_package in modules:
        problems += violations(path.read_text(), name, is_package, known)
    assert not problems, "\n".join(problems)


def test_every_facade_is_still_there():
    modules = _modules()
    known = {name for name, _, _ in modules}
    found = set()
    for name, path, is_package in modules:
        for target, _, kind in imports_of(path.read_text(), name, is_package, known):
            if kind == "facade":
                found.add((name, target))
    assert set(FACADES) <= found, f"stale FACADES entries: {set(FACADES) - found}"


# -- the checker itself, on synthetic modules --------------------------------------------


def test_upward_import_is_caught_wherever_it_stands():
    upward = "flux.future:{} imports flux.core.handle (layer 7) from layer 5"
    top = "from flux.core.handle import Flux\n"
    assert violations(top, "flux.future") == [upward.format(1)]
    lazy = "def get_flux():\n    from flux.core.handle import Flux\n    return Flux\n"
    assert violations(lazy, "flux.future") == [upward.format(2)]
    method = "class F:\n    def m(self):\n        import flux.core.handle\n"
    assert violations(method, "flux.future") == [upward.format(3)]
    assert violations("import flux.rpc\n", "flux.message") == [
        "flux.message:1 imports flux.rpc (layer 6) from layer 1"]


def test_own_layer_and_below_are_fine():
    source = ("from flux.core.dispatch import HandleCore\nfrom flux.core import threadstate\n"
              "import flux.constants\n")
    assert violations(source, "flux.core.watchers", known={"flux.core.threadstate"}) == []


def test_type_checking_imports_may_point_anywhere():
    source = ("TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from flux.core.handle import Flux\n"
              "else:\n    import flux.rpc\n")
    assert violations(source, "flux.future") == [
        "flux.future:5 imports flux.rpc (layer 6) from layer 5"]


def test_facade_hooks_must_be_listed():
    source = "def __getattr__(name):\n    from flux.core.handle import Flux\n    return Flux\n"
    assert violations(source, "flux") == []  # listed in FACADES
    assert violations(source, "flux.codec") == [
        "flux.codec:2 imports flux.core (layer 3) from layer 2 in __getattr__ (not in FACADES)",
        "flux.codec:2 imports flux.core.handle (layer 7) from layer 2 in __getattr__ (not in FACADES)"]
    nested = "class C:\n    def __getattr__(self, name):\n        import flux.core.handle\n"
    assert violations(nested, "flux") != []  # only the module-level hook is a facade


def test_relative_parent_and_dynamic_imports_are_resolved():
    assert violations("from ...cmd import util\n", "flux.broker.modules.table",
                      known={"flux.cmd.util"}) == [
        "flux.broker.modules.table:1 imports flux.cmd (layer 10) from layer 9",
        "flux.broker.modules.table:1 imports flux.cmd.util (layer 10) from layer 9",
    ]
    assert violations("from . import handle\n", "flux.core", is_package=True,
                      known={"flux.core.handle"}) == [
        "flux.core:1 imports flux.core.handle (layer 7) from layer 3"]
    # importing a submodule runs its packages: flux.broker's __init__ is layer 9
    assert violations("import flux.broker.client\n", "flux.core.handle") == [
        "flux.core.handle:1 imports flux.broker (layer 9) from layer 7",
        "flux.core.handle:1 imports flux.broker.client (layer 9) from layer 7",
    ]
    assert violations("import importlib\nimportlib.import_module('flux.cmd.main')\n", "flux.rpc") != []


def test_new_broker_modules_need_no_entry():
    assert layer_of("flux.broker.modules.table") == layer_of("flux.broker")
    assert layer_of("flux.cmd.new_command") == len(LAYERS) - 1
    assert layer_of("flux.somethingnew") is None


# -- the picture in docs/architecture.md ---------------------------------------------------


def _doc_layers() -> list[tuple[str, ...]]:
    text = DOC.read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows: dict[int, tuple[str, ...]] = {}
    for line in section.splitlines():
        m = re.search(r"\|\s*(\d+)\s*\|(.*)\|\s*$", line)
        if m:
            rows[int(m.group(1))] = tuple(m.group(2).split())
    return [rows[i] for i in sorted(rows)]


def test_architecture_doc_shows_these_layers():
    assert _doc_layers() == LAYERS


@pytest.mark.parametrize("name", ["flux.core.threadstate", "flux.core.topics"])
def test_shared_state_sits_below_its_users(name):
    assert layer_of(name) < layer_of("flux.core.watchers") < layer_of("flux.future") \
        < layer_of("flux.core.handle")
