"""What ``flux submit`` and ``flux bulksubmit`` share: copies, submission, ids, waits.

flux-core's ``SubmitBulkCmd``: each command line (``bulksubmit`` makes many)
is submitted once per member of ``--cc``/``--bcc`` (``{cc}`` replaced by the
id, ``FLUX_JOB_CC`` set with ``--cc``), all asynchronously; each id is
printed when its answer comes (to ``--log`` FILE if given), a refused one
prints the service's error (``cc=ID: `` first) and makes the exit status 1.
With ``--wait``/``--wait-event`` each job is then followed (``_job_watch``)
and the exit status is the largest of the jobs'.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, TextIO

_URGENCY_NAMES = {"default": 16, "hold": 0, "expedite": 31}
_FLAGS = ("debug", "waitable", "novalidate")


def cc_list(args: Any) -> list[Any]:
    """The copies to submit: [None], or one id per member of --cc/--bcc."""
    from ._job_cli import idset_decode

    if args.cc and args.bcc:
        raise ValueError("specify only one of --cc or --bcc")
    text = args.cc or args.bcc
    if not text:
        return [None]
    return list(idset_decode(text))


def submit_flags(args: Any) -> dict:
    flags = {name: False for name in _FLAGS}
    for arg in args.flags or ():
        for flag in arg.split(","):
            if flag not in flags:
                raise ValueError("--flags: Unknown flag " + flag)
            flags[flag] = True
    return flags


def urgency_value(text: str) -> int:
    if text in _URGENCY_NAMES:
        return _URGENCY_NAMES[text]
    return int(text)


def log_warning(text: str) -> None:
    """A warning as flux-core's submission commands log it (logger name ``flux``)."""
    print(f"flux: WARNING: {text}", file=sys.stderr, flush=True)


class BulkSubmitter:
    """Submits jobs for one command run; ``finish()`` gives its exit status."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.handle: Any = None
        self.files: dict[str, TextIO] = {}
        self.waiter: Any = None
        self.exitcode = 0
        self.progress = None
        self.check_progress(args)

    @staticmethod
    def check_progress(args: Any) -> None:
        if getattr(args, "progress", False) and not sys.stdout.isatty():
            log_warning("stdout is not a tty. Ignoring --progress option")
            args.progress = False

    def open_handle(self) -> Any:
        if self.handle is None:
            import flux

            self.handle = flux.Flux()
        return self.handle

    def _logfile(self, path: str) -> TextIO:
        if path not in self.files:
            self.files[path] = open(path, "w", buffering=1)  # noqa: SIM115 - closed in finish
        return self.files[path]

    def _start_waiter(self, args: Any) -> None:
        if self.waiter is None:
            from ._job_watch import JobWaiter

            self.waiter = JobWaiter(self.open_handle(), log_events=args.verbose > 1,
                                    log_status=args.verbose > 0)

    def submit_with_cc(self, args: Any) -> None:
        """Submit ``args``' job once per --cc/--bcc id (once without); answers come later."""
        from flux.job.submit import submit_async

        from ._job_bulk_template import substitute
        from ._job_cli import idset_decode
        from ._job_jobspec import jobspec_from_args

        if args.wait:
            self._start_waiter(args)
        for cc in cc_list(args):
            xargs = substitute(args, cc=cc) if cc is not None else args
            jobspec = jobspec_from_args(xargs)
            if xargs.input:
                try:
                    idset_decode(xargs.input)
                except ValueError:
                    pass
                else:  # flux-core logs this one under the logger name "flux"
                    print("flux: ERROR: per-task input not supported for submit",
                          file=sys.stderr, flush=True)
                    raise SystemExit(1)
            label = ""
            if cc is not None:
                label = f"cc={cc}: "
                if not args.bcc:
                    jobspec.environment["FLUX_JOB_CC"] = str(cc)
            if args.dry_run:
                print(jobspec.dumps(), flush=True)
                raise SystemExit(0)
            flags = submit_flags(xargs)
            future = submit_async(self.open_handle(), jobspec.dumps(),
                                  urgency=urgency_value(xargs.urgency), **flags)
            out = self._logfile(xargs.log) if xargs.log else sys.stdout
            err = out if xargs.log else sys.stderr
            if xargs.log_stderr:
                err = self._logfile(xargs.log_stderr)
            future.then(self._submitted, xargs, label, out, err)

    def _submitted(self, future: Any, args: Any, label: str, out: TextIO, err: TextIO) -> None:
        try:
            jobid = future.get_id()
        except OSError as exc:
            print(f"{label}{exc}", file=err, flush=True)
            self.exitcode = 1
            return
        if not args.quiet:
            print(jobid, file=out, flush=True)
        if self.waiter is not None:
            self.waiter.add_jobid(jobid, err, args.wait)

    def finish(self) -> int:
        """Run until every answer (and awaited event) has come; the exit status."""
        try:
            if self.handle is not None:
                self.handle.reactor_run()
            if self.waiter is not None:
                self.exitcode = max(self.exitcode, self.waiter.exitcode)
            return self.exitcode
        finally:
            for stream in self.files.values():
                stream.close()
