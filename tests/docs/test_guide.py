"""Every code block of docs/guide/ is run, so the guide cannot rot.

Conventions (docs/guide/README.md states them for writers):

* ```` ```python ````: run with ``python3 -c`` inside the chapter's instance
  (FLUX_URI set); it must exit 0 (blocks check themselves with ``assert``).
* ```` ```console ````: each ``$ COMMAND`` line runs with ``sh -c`` inside the
  chapter's instance; the lines after it, up to the next ``$``, are its
  output (stdout and stderr together) and must match, ``...`` matching any
  text (doctest's ELLIPSIS).  A command ending in ``\\`` continues on the
  next line.
* ``noinstance`` after the language: run outside any instance (``flux
  start`` examples, ``loop://``).
* ``file=PATH`` (any language): the block is written to PATH in the
  chapter's working directory, for the blocks after it (a module, a TOML
  file, a test file).
* ``norun``: not run (``pip install``, ssh to other hosts).  Each one is
  reported as a skipped test, and ``NORUN`` below counts them, so a block
  cannot stop running unnoticed.

Each chapter runs in one fresh instance and one working directory (with
``examples/`` linked in), its blocks in order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from flux.testing import start_instance
from flux.testing.proctree import kill_tree

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "guide"

#: how many blocks the guide marks ``norun``, per chapter (update it with the guide)
NORUN = {"getting-started.md": 2, "instances.md": 3, "testing.md": 1}

LANGS = ("python", "console", "toml", "ini", "sh")


@dataclass
class Block:
    chapter: str
    line: int
    lang: str
    opts: dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.chapter}:{self.line}"


def chapters() -> list[str]:
    return sorted(p.name for p in GUIDE.glob("*.md") if p.name != "README.md")


def blocks(chapter: str) -> list[Block]:
    found = []
    lines = (GUIDE / chapter).read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*(.*)$", lines[i])
        if m and m.group(1):
            start = i + 1
            j = start
            while not lines[j].startswith("```"):
                j += 1
            opts = {}
            for word in m.group(2).split():
                key, _, value = word.partition("=")
                opts[key] = value
            found.append(Block(chapter, i + 1, m.group(1), opts,
                               "\n".join(lines[start:j]) + "\n"))
            i = j
        i += 1
    return found


def expected_matches(expected: str, actual: str) -> bool:
    norm = lambda s: "\n".join(line.rstrip() for line in s.strip("\n").splitlines())  # noqa: E731
    pattern = ".*?".join(re.escape(part) for part in norm(expected).split("..."))
    return re.fullmatch(pattern, norm(actual), re.S) is not None


def console_steps(text: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block."""
    steps: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            cmd = line[2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + "\n" + lines[i]
            steps.append((cmd, []))
        elif steps:
            steps[-1][1].append(line)
        else:
            raise AssertionError(f"console block output before any '$ ' command: {line!r}")
        i += 1
    return [(cmd, "\n".join(out)) for cmd, out in steps]


class Chapter:
    """Runs one chapter's blocks in order inside its instance and working directory."""

    def __init__(self, env_inside: dict[str, str], workdir: str) -> None:
        self.inside = env_inside
        self.outside = {k: v for k, v in env_inside.items() if k != "FLUX_URI"}
        self.workdir = workdir

    def env(self, block: Block) -> dict[str, str]:
        return self.outside if "noinstance" in block.opts else self.inside

    def run(self, block: Block) -> None:
        if "file" in block.opts:
            path = Path(self.workdir, block.opts["file"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text)
            return
        if block.lang == "python":
            r = self._sh([sys.executable, "-c", block.text], block)
            assert r.returncode == 0, (f"{block.where}: python block failed ({r.returncode}):\n"
                                       f"{block.text}\n{r.stdout}")
        elif block.lang == "console":
            for cmd, expected in console_steps(block.text):
                r = self._sh(["sh", "-c", cmd], block)
                assert expected_matches(expected, r.stdout), (
                    f"{block.where}: $ {cmd}\n--- expected\n{expected}\n--- got "
                    f"(exit {r.returncode})\n{r.stdout}")
        else:
            raise AssertionError(f"{block.where}: a {block.lang} block must be run, be a file= "
                                 "or be marked norun")

    def _sh(self, args: list[str], block: Block) -> subprocess.CompletedProcess:
        proc = subprocess.Popen(args, env=self.env(block), cwd=self.workdir, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)  # the command and everything it started
            out, _ = proc.communicate()
            raise AssertionError(f"{block.where}: timed out: {args[-1]!r}\n{out}") from None
        return subprocess.CompletedProcess(args, proc.returncode, out)


@pytest.mark.parametrize("chapter", chapters())
def test_chapter(chapter: str) -> None:
    todo = [b for b in blocks(chapter) if "norun" not in b.opts]
    assert todo, f"{chapter} has no block to run"
    for b in todo:
        assert b.lang in LANGS, f"{b.where}: unknown block language {b.lang!r}"
    workdir = tempfile.mkdtemp(prefix="pf-guide-", dir="/tmp")
    try:
        os.symlink(REPO / "examples", Path(workdir, "examples"))
        flux_bin = str(Path(sys.executable).parent)
        env = {"PATH": flux_bin + os.pathsep + os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8",
               "PYTHONPATH": str(REPO / "src"), "HOME": workdir, "USER": "alice"}
        with start_instance() as inst:
            env_inside = dict(env, FLUX_URI=inst.uri)
            run = Chapter(env_inside, workdir)
            for b in todo:
                run.run(b)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def norun_blocks() -> list[Block]:
    return [b for c in chapters() for b in blocks(c) if "norun" in b.opts]


@pytest.mark.parametrize("block", norun_blocks(), ids=lambda b: b.where)
def test_norun_block_is_reported(block: Block) -> None:
    pytest.skip(f"{block.where}: marked norun ({block.lang})")


def test_norun_blocks_are_counted() -> None:
    counts: dict[str, int] = {}
    for b in norun_blocks():
        counts[b.chapter] = counts.get(b.chapter, 0) + 1
    assert counts == NORUN, "a block was marked norun or unmarked: update NORUN deliberately"


def test_ellipsis_and_steps() -> None:
    """The matching rules themselves: not vacuous."""
    assert expected_matches("job ... done", "job f3Ab done")
    assert expected_matches("a\n...\nz", "a\nb\nc\nz")
    assert not expected_matches("a\nz", "a\nb\nz")
    assert not expected_matches("", "unexpected output")
    assert console_steps("$ echo a \\\n  b\na b\n$ true\n") == [("echo a \n  b", "a b"),
                                                              ("true", "")]
