"""Helpers from flux-core's ``flux.util`` that scripts and modules commonly use."""

from __future__ import annotations

import errno
import functools
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

from flux.message import payload_bytes

__all__ = ["encode_payload", "encode_topic", "check_future_error", "interruptible"]


def encode_payload(payload: Any) -> Optional[bytes]:
    """None -> None, str -> UTF-8 text, bytes as is, anything else -> JSON."""
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    if isinstance(payload, bytes):
        return payload
    data = payload_bytes(payload)
    return data[:-1] if data else data


def encode_topic(topic: Any) -> bytes:
    """A topic as bytes; None -> OSError(EINVAL), other non-text types -> TypeError."""
    if isinstance(topic, str):
        return topic.encode("utf-8", "surrogateescape")
    if isinstance(topic, bytes):
        return topic
    if topic is None:
        raise OSError(errno.EINVAL, "topic must not be None")
    raise TypeError(f"topic must be a str or bytes, not {type(topic).__name__}")


def check_future_error(func: Callable[..., Any]) -> Callable[..., Any]:
    """Re-raise an OSError from ``func`` with the future's error string."""

    @functools.wraps(func)
    def wrapper(calling_obj: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(calling_obj, *args, **kwargs)
        except OSError as exc:
            text = None
            try:
                text = calling_obj.error_string()
            except Exception:
                pass
            if text:
                raise OSError(exc.errno, text) from None
            raise

    return wrapper


def interruptible(func: Callable[..., Any]) -> Callable[..., Any]:
    """flux-core restores SIGINT around blocking calls; Python's default already raises KeyboardInterrupt."""
    return func
