"""``flux job submit [OPTIONS] [JOBSPEC]``: submit a jobspec file as it is (flux-core
0.88's ``flux-job submit``): read from the file or standard input (``-``), submitted
with ``-u/--urgency`` and ``-f/--flags`` (debug, waitable, signed, novalidate), its id
printed in F58.  Errors are flux-job's lines, exit status 1."""

from __future__ import annotations

import sys

from .job import fatal, open_handle, usage_fail

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from ._kvs_options import Args

_FLAGS = {"debug": "debug", "waitable": "waitable", "signed": "pre_signed",
          "novalidate": "novalidate"}


def cmd_submit(args: Args) -> int:
    from flux.constants import FLUX_JOB_URGENCY_DEFAULT
    from flux.job.JobID import JobID
    from flux.job.submit import submit_async

    if len(args.args) > 1:
        usage_fail(args)
    name = args.args[0] if args.args else "-"
    flags = {}
    for flag in (args.get_str("flags") or "").split(","):
        if not flag:
            continue
        if flag not in _FLAGS:
            fatal(f"unknown flag: {flag}")
        flags[_FLAGS[flag]] = True
    urgency = args.get_int("urgency", FLUX_JOB_URGENCY_DEFAULT)
    h = open_handle()
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as f:
                data = f.read()
    except OSError as exc:
        fatal(f"{name}: {exc.strerror}")
    if not data:
        fatal("required jobspec is empty")
    text = data.decode("utf-8", errors="surrogateescape")
    if flags.get("pre_signed"):
        text = text.strip()
    try:
        jobid = submit_async(h, text, urgency=urgency, **flags).get_id()
    except OSError as exc:
        fatal(exc.strerror or str(exc))
    print(JobID(jobid).f58)
    return 0
