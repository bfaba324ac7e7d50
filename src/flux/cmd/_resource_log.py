"""The log lines of flux-core's ``flux-resource`` (its logger named ``flux-resource``)."""

from __future__ import annotations

import sys

PROG = "flux-resource"


def error(text: str) -> None:
    sys.stdout.flush()
    print(f"{PROG}: ERROR: {text}", file=sys.stderr, flush=True)


def info(text: str) -> None:
    print(f"{PROG}: INFO: {text}", file=sys.stderr, flush=True)
