"""RFC 36 directives of batch scripts (flux.job.directives)."""

from __future__ import annotations

import pytest

from flux.job.directives import DirectiveParser


def _parse(text: str) -> DirectiveParser:
    return DirectiveParser(text.splitlines(keepends=True))


def test_directives_and_script() -> None:
    text = "#!/bin/sh\n#flux: -N2 --job-name='a b'\n#flux: # a comment only\n\n#flux: -q x\nhostname\n"
    p = _parse(text)
    assert p.script == text
    assert [(d.action, d.args, d.lineno) for d in p.directives] == [
        ("SETARGS", ["-N2", "--job-name=a b"], 2), ("NOOP", [], 3),
        ("SETARGS", ["-q", "x"], 5)]


@pytest.mark.parametrize("text,error", [
    ("#!/bin/sh\n#flux: -N1\nhostname\n#flux: -n2\n",
     "line 4: orphan 'flux:' detected: directives disabled after line 2"),
    ("#flux: -N1\n# flux: -n1\n", "line 2: sentinel changed from '#flux:' to '# flux:'"),
    ("#flux: N1\n", "line 1: Unknown directive:  N1"),
    ("#flux: --name='x\n", "line 1:"),
])
def test_bad_directives(text: str, error: str) -> None:
    with pytest.raises(ValueError) as exc:
        _parse(text)
    assert str(exc.value).startswith(error)
