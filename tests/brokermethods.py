"""Every method a broker registers, and the roles each allows: asked of a broker built
(not run) in a child process and cleaned up after, so a test follows the broker's own
list -- a new method is covered as soon as it exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys

__all__ = ["registered"]


def registered(local: bool = True) -> dict[str, int]:
    """topic -> roles of every method of the router's builtin services, and, if
    ``local``, of the requests each peer link answers itself (every role)."""
    code = (
        "import json, os, sys, tempfile\n"
        "from flux.broker.broker import Broker\n"
        "from flux.broker.router import BuiltinService\n"
        "from flux.broker.peerlink import LOCAL_REQUESTS\n"
        "from flux.constants import FLUX_ROLE_ALL\n"
        "top = tempfile.mkdtemp(prefix='pf-', dir='/tmp')\n"
        "b = Broker({'rundir': top + '/run'})\n"
        "try:\n"
        "    out = {t: r for s in b.router.services.values() if isinstance(s, BuiltinService)\n"
        "           for t, (h, r) in s.methods.items()}\n"
        f"    if {local!r}:\n"
        "        out.update({t: FLUX_ROLE_ALL for t in LOCAL_REQUESTS if t})\n"
        "finally:\n"
        "    b.cleanup()\n"
        "    os.rmdir(top)  # the broker removed the run directory it made inside\n"
        "print(json.dumps(out))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env=env, cwd="/tmp")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])
