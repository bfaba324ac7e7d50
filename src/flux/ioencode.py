"""RFC 24's ``data`` contexts, in both directions: what flux-core's libioencode does.

Bytes travel as UTF-8 text when they are valid UTF-8, else base64 with
``"encoding": "base64"``.  Task output in the ``output`` eventlog, stdin sent to a job
shell, and the ``rexec`` service's output and writes all use this one form.
"""

from __future__ import annotations

__all__ = ["ioencode", "iodecode_data"]


def ioencode(stream: str, rank: str | int, data: bytes | None, eof: bool = False) -> dict:
    """An RFC 24 ``data`` context: UTF-8 text, else base64 with ``encoding``."""
    context: dict = {"stream": stream, "rank": rank}
    if data:
        try:
            context["data"] = data.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            context["data"] = base64.b64encode(data).decode()
            context["encoding"] = "base64"
    if eof:
        context["eof"] = True
    return context


def iodecode_data(context: dict, errors: str = "strict") -> bytes:
    """The bytes a ``data`` context carries (none: ``b""``); ``errors`` is how text that
    is not UTF-8 is encoded back (``surrogateescape`` keeps what a reader let through)."""
    text = context.get("data") or ""
    if context.get("encoding") == "base64":
        import base64

        return base64.b64decode(text)
    return text.encode("utf-8", errors)
