# ruff: noqa: N999  (the module name is flux-core's: ``from flux.job.JobID import JobID``)
"""flux-core's ``flux.job.JobID``: a job id that is an int, made from any RFC 19 spelling.

Same module path, names and errors as flux-core's bindings, so code written for them runs
unchanged: ``id_parse`` raises OSError(EINVAL) for text that is no FLUID, ``id_encode``
OSError(EPROTO) for an unknown encoding, and ``JobID`` turns a parse failure into ValueError.
The encodings themselves live in ``flux.job.fluid_codec``.
"""

from __future__ import annotations

import errno

from flux.job import fluid_codec

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

__all__ = ["JobID", "id_encode", "id_parse"]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError(f"a job id is an int or a string, not {type(value).__name__}")


def id_parse(jobid_str: str | bytes) -> int:
    """The integer job id ``jobid_str`` spells in any RFC 19 encoding."""
    try:
        return fluid_codec.parse(_text(jobid_str))
    except ValueError as exc:  # UnicodeDecodeError included
        raise OSError(errno.EINVAL, f"invalid jobid {jobid_str!r}: {exc}") from None


def id_encode(jobid: int, encoding: str = "f58") -> str:
    """``jobid`` in ``encoding``: dec, hex, dothex, kvs, f58, f58plain, emoji, words."""
    try:
        return fluid_codec.encode(int(jobid), encoding)
    except LookupError:
        raise OSError(errno.EPROTO, f"unknown jobid encoding {encoding!r}") from None


class JobID(int):
    """A Flux job id: an ``int`` that can be made from, and written in, any RFC 19 encoding.

    ``JobID(value)`` takes an int as is, or a string in any encoding (decimal, ``0x`` hex,
    dothex, ``job.`` kvs path, F58 with ``ƒ`` or ``f``, emoji); the properties give each
    encoding back, ``str()`` is F58 and ``orig`` the text it was made from.
    """

    orig_str: str

    def __new__(cls, value: int | str | bytes | JobID) -> Self:
        if isinstance(value, JobID):
            return cls(value.orig_str)
        if isinstance(value, int):
            jobid, orig = value, str(value)
        else:
            orig = _text(value)  # flux-core keeps str(bytes), "b'...'": the text is more useful
            try:
                jobid = fluid_codec.parse(orig)
            except ValueError:
                raise ValueError(f"{orig} is not a valid Flux jobid") from None
        self = super().__new__(cls, jobid)
        self.orig_str = orig
        return self

    def encode(self, encoding: str = "dec") -> str:
        """This id in ``encoding`` (see ``id_encode``)."""
        return id_encode(self, encoding)

    @property
    def dec(self) -> str:
        return self.encode("dec")

    @property
    def hex(self) -> str:
        return self.encode("hex")

    @property
    def dothex(self) -> str:
        return self.encode("dothex")

    @property
    def kvs(self) -> str:
        """The job's KVS directory: ``job.`` and the dothex form."""
        return self.encode("kvs")

    @property
    def words(self) -> str:
        """The mnemonic form: not supported (NotImplementedError), see ``flux.job.fluid_codec``."""
        return self.encode("words")

    @property
    def f58(self) -> str:
        """F58 with ``ƒ``, or ``f`` where the locale is not UTF-8 or FLUX_F58_FORCE_ASCII is set."""
        return self.encode("f58")

    @property
    def f58plain(self) -> str:
        """F58 with the ASCII ``f`` prefix, whatever the locale."""
        return self.encode("f58plain")

    @property
    def emoji(self) -> str:
        return self.encode("emoji")

    @property
    def orig(self) -> str:
        """The text this JobID was made from (an int's decimal form)."""
        return self.orig_str

    def __str__(self) -> str:
        return self.encode("f58")

    def __repr__(self) -> str:
        return f"JobID({self.dec})"
