"""The long fuzzing run: ``python -m tests.fuzz [--total N] [--target NAME ...]``.

Every target of targets.py gets an equal share of ``--total`` inputs (default one
million).  With atheris installed (``pip install atheris``), each target runs under
libFuzzer, coverage-guided, in a process of its own, from the seeds of targets.py;
without it, a mutation fuzzer of this file feeds it random bytes and mutated seeds.
Either way the report says how many inputs each target took, what was found, and the
resident memory the process reached (a parser that leaks shows here).  Exits 1 on a
finding.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent / "src")]

from fuzz.targets import TARGETS, seeds  # noqa: E402


def _mutations(name: str, rng: random.Random):
    """Endless inputs: random bytes, and seeds with bytes flipped, cut, spliced, grown."""
    pool = seeds(name) or [b""]
    while True:
        if rng.random() < 0.25:
            yield rng.randbytes(rng.randint(0, 300))
            continue
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 6)):
            op = rng.randint(0, 4)
            pos = rng.randint(0, len(data)) if data else 0
            if op == 0 and data:
                data[pos % len(data)] = rng.randint(0, 255)
            elif op == 1:
                del data[pos:pos + rng.randint(1, 16)]
            elif op == 2:
                data[pos:pos] = rng.randbytes(rng.randint(1, 16))
            elif op == 3 and data:
                other = rng.choice(pool)
                data[pos:] = other[rng.randint(0, len(other)):]
            elif data:  # interesting integers where a length or count may be
                data[pos % len(data)] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        yield bytes(data)


def _run_builtin(name: str, count: int) -> dict[str, Any]:
    target = TARGETS[name]
    rng = random.Random(f"{name}-{count}")
    findings: list[str] = []
    done = 0
    for data in _mutations(name, rng):
        if done >= count:
            break
        done += 1
        try:
            target(data)
        except Exception as exc:  # noqa: BLE001 - every escape is a finding
            if len(findings) < 5:
                findings.append(f"{type(exc).__name__}: {exc!s:.200} <- {data[:80]!r}")
    return {"inputs": done, "findings": findings}


def _run_atheris(name: str, count: int, workdir: Path) -> dict[str, Any]:
    corpus = workdir / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
    code = (
        "import sys, atheris\n"
        f"sys.path[:0] = {[str(HERE.parent), str(HERE.parent.parent / 'src')]!r}\n"
        "with atheris.instrument_imports(include=['flux']):\n"
        "    from fuzz.targets import TARGETS, seeds\n"
        f"    target = TARGETS[{name!r}]\n"
        f"    for seed in seeds({name!r}):  # the target's lazy imports, instrumented\n"
        "        target(seed)\n"
        "atheris.Setup(sys.argv, target)\n"
        "atheris.Fuzz()\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, f"-runs={count}", "-max_len=1024", "-rss_limit_mb=2048",
         "-timeout=60", f"-artifact_prefix={workdir}/crash-{name}-", str(corpus)],
        capture_output=True, text=True)
    done = 0
    for line in proc.stderr.splitlines():  # libFuzzer: "#N DONE ..." / "Done N runs"
        if line.startswith("Done ") and " runs" in line:
            done = int(line.split()[1])
    findings = [] if proc.returncode == 0 else [proc.stderr[-1500:]]
    return {"inputs": done, "findings": findings}


def run_all(total: int = 1_000_000, targets: list[str] | None = None,
            workdir: Path | None = None, engine: str = "auto") -> dict[str, Any]:
    """Fuzz ``targets`` (default: all) with ``total`` inputs between them; the report."""
    names = targets or sorted(TARGETS)
    share = max(1, total // len(names))
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "builtin"
    workdir = workdir or Path(tempfile.mkdtemp(prefix="pureflux-fuzz-"))
    report: dict[str, Any] = {"engine": engine, "targets": {}, "inputs": 0, "findings": []}
    t0 = time.monotonic()
    for name in names:
        t1 = time.monotonic()
        one = (_run_atheris(name, share, workdir) if engine == "atheris"
               else _run_builtin(name, share))
        one["seconds"] = round(time.monotonic() - t1, 1)
        report["targets"][name] = one
        report["inputs"] += one["inputs"]
        report["findings"] += [f"{name}: {f}" for f in one["findings"]]
    report["seconds"] = round(time.monotonic() - t0, 1)
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report["max_rss_mb"] = round(max(usage, children) / 1024, 1)
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--total", type=int, default=1_000_000, help="inputs over all targets")
    ap.add_argument("--target", action="append", choices=sorted(TARGETS),
                    help="fuzz only this target (repeatable)")
    ap.add_argument("--engine", choices=("auto", "atheris", "builtin"), default="auto")
    args = ap.parse_args()
    report = run_all(args.total, args.target, engine=args.engine)
    for name, one in report["targets"].items():
        print(f"{name:22} {one['inputs']:>9} inputs {one['seconds']:>7} s"
              f"  {len(one['findings'])} findings")
    print(f"{'total':22} {report['inputs']:>9} inputs {report['seconds']:>7} s"
          f"  engine {report['engine']}, max RSS {report['max_rss_mb']} MB")
    for finding in report["findings"]:
        print("FINDING", finding)
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(json.dumps(report, indent=1))
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
