"""A job's wait status as libjob's ``flux_job_waitstatus_to_exitcode`` describes it: the
exit code ``flux run``/``flux job attach`` exit with and the text they print, and the
job-manager's ``wait`` answer (one description for both)."""

from __future__ import annotations

import os
import signal

__all__ = ["waitstatus_to_exitcode"]


def waitstatus_to_exitcode(status: int) -> tuple[int, str]:
    """(exit code, the text to print; empty for success) of a job's wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, f"job shell {signal.strsignal(sig)}"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code > 128:
            return code, f"task(s) {signal.strsignal(code - 128)}"
        if code > 0:
            return code, f"task(s) exited with exit code {code}"
        return 0, ""
    return -1, f"unexpected wait(2) status {status}"
