"""Helpers for the tests/test_cmd_*.py command tests (bounded waits, no leftovers)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from proctree import kill_tree


def outside_env() -> dict[str, str]:
    """An environment that is not inside any instance (and cannot reach one)."""
    env = dict(os.environ)
    env.pop("FLUX_URI", None)
    env["FLUX_URI"] = "local:///nonexistent-pureflux-test/local-0"
    env["FLUX_LOCAL_CONNECTOR_RETRY_COUNT"] = "0"
    return env


class Background:
    """``flux ARGS`` in the background, stdout/stderr to files; always reaped."""

    def __init__(self, inst: Any, tmp_path: Path, *args: str, env: dict | None = None) -> None:
        self.out = tmp_path / f"bg-{id(self)}.out"
        self.err = tmp_path / f"bg-{id(self)}.err"
        penv = dict(inst.env)
        penv.update(env or {})
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen([inst.flux, *args], env=penv, stdout=o, stderr=e,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def wait_output(self, pred: Callable[[str], bool], timeout: float = 10.0,
                    poke: Callable[[], None] | None = None, interval: float = 0.05) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stdout()
            if pred(text):
                return text
            if poke is not None:
                poke()
            time.sleep(interval)
        raise AssertionError(f"timed out; stdout={self.stdout()!r} stderr={self.stderr()!r}")

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, sig: int | None = None) -> int:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc.pid)
                self.proc.wait(timeout=5)
        return self.proc.returncode

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc: Any) -> None:
        kill_tree(self.proc.pid)
        self.proc.wait(timeout=5)


def run_ok(inst: Any, *args: str) -> str:
    """``flux ARGS`` in ``inst``, which must succeed; its stdout."""
    r = inst.run(*args)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def run_fails(inst: Any, *args: str, rc: int = 1) -> str:
    """``flux ARGS`` in ``inst``, which must exit with ``rc``; its stderr."""
    r = inst.run(*args)
    assert r.returncode == rc, (r.stdout, r.stderr)
    return r.stderr
