"""job-ingest's checks and bookkeeping for ``job-ingest.submit``, sans I/O.

A request is decoded and refused exactly where flux-core's job-ingest
refuses it, with its errno and text (``decode``): the flags and urgency the
sender may use, J unwrapped (mechanism ``none``, as flux-core built without
flux-security), the signer being the sender, the jobspec valid version 1.
The jobspec is checked as flux-core's validator checks it, with its texts
(``validator``).  An accepted submission gets a FLUID (generator: the broker rank; timestamps
from the generator's epoch, continuing after the largest id an instance
already holds) and becomes a KVS write (``J``, ``jobspec`` without
``attributes.system.environment``) plus the entry the job-manager takes.
"""

from __future__ import annotations

import errno
import time

from flux.job.fluid import FluidGenerator, SequenceExhausted, timestamp_of

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from .plugins import Validation

__all__ = ["Refused", "Submission", "Ingest"]

FLUX_JOB_DEBUG, FLUX_JOB_WAITABLE, FLUX_JOB_NOVALIDATE = 2, 4, 8
URGENCY_MIN, URGENCY_DEFAULT, URGENCY_MAX = 0, 16, 31


class Refused(Exception):
    """A submission refused: ``errnum`` and flux-core's text."""

    def __init__(self, errnum: int, text: Optional[str] = None) -> None:
        super().__init__(errnum, text)
        self.errnum = errnum
        self.text = text


class Submission:
    """One accepted request: what job-ingest keeps until its job is announced."""

    __slots__ = ("req", "J", "jobspec", "userid", "urgency", "flags", "id", "t_submit")

    def __init__(self, req: Any, j: str, jobspec: dict, userid: int, urgency: int,
                 flags: int) -> None:
        self.req = req
        self.J = j
        self.jobspec = jobspec
        self.userid = userid
        self.urgency = urgency
        self.flags = flags
        self.id = 0
        self.t_submit = 0.0


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Ingest:
    """Decodes submissions, numbers jobs, builds what the KVS and job-manager take."""

    def __init__(self, rank: int, owner: int, max_jobid: int = 0,
                 clock_ms: Callable[[], int] = _monotonic_ms,
                 clock: Callable[[], float] = time.time) -> None:
        self.owner = owner
        self.clock_ms = clock_ms
        self.clock = clock
        start = timestamp_of(max_jobid) + 1  # as flux-core: even 0 gives 1
        self.fluids = FluidGenerator(rank, start, clock_ms())

    def decode(self, req: Any, obj: Any, userid: int, owner: bool,
               validation: Optional[Validation] = None) -> Submission:
        """The submission in ``obj`` (``{J, urgency, flags}``) from ``userid``, checked
        (the jobspec by ``validation``'s plugins, by default flux-core's jobspec plugin);
        :class:`Refused` otherwise."""
        from . import sign_none

        if not isinstance(obj, dict):
            raise Refused(errno.EPROTO, "error decoding job request: Protocol error")
        j, urgency, flags = obj.get("J"), obj.get("urgency"), obj.get("flags")
        if not isinstance(j, str) or not isinstance(urgency, int) \
                or not isinstance(flags, int) or isinstance(urgency, bool) \
                or isinstance(flags, bool):
            raise Refused(errno.EPROTO, "error decoding job request: Protocol error")
        if flags & ~(FLUX_JOB_DEBUG | FLUX_JOB_WAITABLE | FLUX_JOB_NOVALIDATE):
            raise Refused(errno.EPROTO, "invalid job flags")
        if not owner and flags & FLUX_JOB_NOVALIDATE:
            raise Refused(errno.EPERM,
                          "only the instance owner can submit with FLUX_JOB_NOVALIDATE")
        if not URGENCY_MIN <= urgency <= URGENCY_MAX:
            raise Refused(errno.EINVAL, f"urgency range is [{URGENCY_MIN}:{URGENCY_MAX}]")
        if not owner and urgency > URGENCY_DEFAULT:
            raise Refused(errno.EINVAL,
                          f"only the instance owner can submit with urgency >{URGENCY_DEFAULT}")
        if not owner and flags & FLUX_JOB_WAITABLE:
            raise Refused(errno.EINVAL,
                          "only the instance owner can submit with FLUX_JOB_WAITABLE")
        try:
            payload, signer = sign_none.unwrap(j)
        except OSError:
            raise Refused(errno.EINVAL, "could not unwrap jobspec: Invalid argument") from None
        if signer != userid:
            raise Refused(errno.EPERM, f"signer={signer} != requestor={userid}")
        if not owner:
            raise Refused(errno.EPERM, "only instance owner can use sign-type=none")
        jobspec = _load_jobspec(payload)
        if self.owner != 0 and userid == 0:
            raise Refused(errno.EINVAL, "submission of jobs as user root not supported")
        if not flags & FLUX_JOB_NOVALIDATE:
            from .plugins import DEFAULT, InvalidJobspec

            try:
                (validation or DEFAULT).check(jobspec)
            except InvalidJobspec as exc:
                raise Refused(errno.EINVAL, str(exc)) from None
        return Submission(req, j, jobspec, userid, urgency, flags)

    def number(self, sub: Submission) -> None:
        """Give ``sub`` its job id and submit time."""
        while True:
            try:
                sub.id = self.fluids.generate(self.clock_ms())
                break
            except SequenceExhausted:
                time.sleep(0.001)  # flux-core waits for the next millisecond too
        sub.t_submit = self.clock()

    def kvs_ops(self, subs: list[Submission]) -> list:
        """One transaction for a batch: each job's ``J`` and ``jobspec`` (RFC 16 keys)."""
        from flux import eventlog
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_put

        ops = []
        for sub in subs:
            _drop_environment(sub.jobspec)
            key = kvs_key(sub.id)
            ops.append(op_put(f"{key}.J", sub.J.encode()))
            # written as jansson writes it (reals with %.17g), byte for byte flux-core's
            ops.append(op_put(f"{key}.jobspec", eventlog.dumps(sub.jobspec).encode()))
        return ops

    @staticmethod
    def cleanup_ops(ids: list[int]) -> list:
        """Unlink the KVS directories of jobs the job-manager refused."""
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_unlink

        return [op_unlink(kvs_key(jobid)) for jobid in ids]

    @staticmethod
    def manager_entries(subs: list[Submission]) -> list[dict]:
        """``job-manager.submit``'s ``jobs`` for a batch."""
        return [{"id": s.id, "userid": s.userid, "urgency": s.urgency, "t_submit": s.t_submit,
                 "flags": s.flags, "jobspec": s.jobspec} for s in subs]


def _big_integer(text: str) -> Optional[str]:
    """jansson's text for an integer it cannot hold (64 bits), if ``text`` has one."""
    import re

    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|(-?\d+)(?![.\deE])', text):
        token = match.group(1)
        if token is not None and not -(1 << 63) <= int(token) < (1 << 63):
            return f"too big {'negative ' if token.startswith('-') else ''}integer near '{token}'"
    return None


def _load_jobspec(payload: bytes) -> dict:
    from flux import eventlog

    try:
        obj = eventlog.loads(payload.decode())
    except UnicodeDecodeError:
        raise Refused(errno.EINVAL, "jobspec: invalid JSON: unable to decode byte") from None
    except ValueError as exc:
        text = _big_integer(payload.decode()) if "too big" in str(exc) else None
        raise Refused(errno.EINVAL, f"jobspec: invalid JSON: {text or exc.args[0]}") from None
    if not isinstance(obj, dict):
        raise Refused(errno.EINVAL, "jobspec: invalid JSON: '[' or '{' expected near end of file")
    return obj


def _drop_environment(jobspec: dict) -> None:
    """flux-core keeps the environment only in J: it is the bulk of a jobspec."""
    attrs = jobspec.get("attributes")
    system = attrs.get("system") if isinstance(attrs, dict) else None
    if isinstance(system, dict):
        system.pop("environment", None)
