"""Every file in examples/ runs as its docstring or header says (docs/guide/ points to them).

``HOW`` says how each file is run; a file it does not name fails the test, so a new example
cannot go untested.  Scripts share one instance (module scope); ``flux start`` examples start
their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from flux.testing import Instance, start_instance
from flux.testing.proctree import kill_tree

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FLUX = str(Path(sys.executable).parent / "flux")

#: file -> (how it runs, what its output must contain)
HOW: dict[str, tuple[str, list[str]]] = {
    "demo.sh": ("flux start sh", ["echo.echo -> {'hello': 'world'}", "demo: ok"]),
    "tbon_tour.sh": ("flux start -s 3 sh", ["size: 3", "2: 2", "rank 2 answers", "tbon_tour: ok"]),
    "echo.py": ("module echo", []),
    "counter.py": ("module counter", []),
    "greeter.py": ("module greeter --greeting=Hi", []),
    "handle_tour.py": ("python", ["reactor saw: ['0', '1', '2', 'tick', 'tour.hello']"]),
    "asyncio_tour.py": ("python", ["pings: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
                                   "event: heartbeat.pulse", "continuation: 42"]),
    "kvs_tour.py": ("python", ["tour keys: ['name', 'note', 'state']", "counter: 2"]),
    "jobs_tour.py": ("python", ["success: False task(s) exited with exit code 2",
                                "5 of 5 jobs succeeded", "executor exit codes: [0, 0, 0]"]),
    "errors.py": ("python", ["broker.nosuch: ENOSYS: Unknown service method 'broker.nosuch'",
                             "no instance: ENOENT"]),
    "test_modules.py": ("pytest", ["5 passed"]),
}


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, _ = proc.communicate()
        raise AssertionError(f"timed out: {args}\n{out}") from None
    return subprocess.CompletedProcess(args, proc.returncode, out)


def outside_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    env["PATH"] = str(Path(FLUX).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="module")
def inst() -> Iterator[Instance]:
    with start_instance() as instance:
        yield instance


def test_every_example_is_run() -> None:
    files = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file())
    assert files == sorted(HOW), "add the example to HOW in tests/docs/test_examples.py"


@pytest.mark.parametrize("name", sorted(HOW))
def test_example(name: str, inst: Instance) -> None:
    how, expect = HOW[name]
    path = str(EXAMPLES / name)
    if how.startswith("flux start"):
        r = run([FLUX, *how.split()[1:], path], outside_env())
    elif how == "python":
        r = run([sys.executable, path], inst.env)
    elif how == "pytest":
        r = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
                outside_env())
    else:  # module NAME ARGS: load it, see it listed, ping it, remove it
        modname, *args = how.split()[1:]
        assert inst.load_module(path, *args) == modname
        assert modname in inst.run("flux module list").stdout
        r = inst.run(["flux", "ping", "-c", "1", modname])
        inst.remove_module(modname)
        expect = [f"{modname}.ping"]
        r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout
    for text in expect:
        assert text in r.stdout, f"{name}: {text!r} not in:\n{r.stdout}"
