"""Helpers from flux-core's ``flux.util`` that scripts and modules commonly use."""

from __future__ import annotations

import errno
import functools
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional, TypeVar

    _F = TypeVar("_F", bound=Callable[..., Any])

from flux.message import payload_bytes

__all__ = [
    "encode_payload", "encode_topic", "check_future_error", "interruptible",
    # loaded on first use (module __getattr__ below), keeping ``import flux.util`` light
    "parse_fsd", "parse_datetime", "fsd", "empty_outputs", "get_treedict", "set_treedict",
    "del_treedict", "dict_merge", "xdg_searchpath", "UtilConfig", "Tree", "Deduplicator",
    "Fileref", "CLIMain", "help_formatter", "TreedictAction", "FilterAction",
    "FilterActionSetUpdate", "FilterActionUser", "FilterTrueAction", "YesNoAction",
    "ColorAction", "UtilDatetime", "UtilFormatter", "OutputFormat",
]

#: name -> the module defining it; each is imported when the name is first used
_LAZY = {
    "parse_fsd": "flux._util_duration",
    "parse_datetime": "flux._util_duration",
    "get_treedict": "flux._util_treedict",
    "set_treedict": "flux._util_treedict",
    "del_treedict": "flux._util_treedict",
    "dict_merge": "flux._util_treedict",
    "xdg_searchpath": "flux._util_config",
    "UtilConfig": "flux._util_config",
    "Tree": "flux._util_tree",
    "Deduplicator": "flux._util_dedup",
    "Fileref": "flux._util_fileref",
    "CLIMain": "flux._util_cli",
    "help_formatter": "flux._util_cli",
    "TreedictAction": "flux._util_cli",
    "FilterAction": "flux._util_cli",
    "FilterActionSetUpdate": "flux._util_cli",
    "FilterActionUser": "flux._util_cli",
    "FilterTrueAction": "flux._util_cli",
    "YesNoAction": "flux._util_cli",
    "ColorAction": "flux._util_cli",
}
#: flux-core's listing-format helpers, implemented once for the commands
_FORMAT_NAMES = ("fsd", "empty_outputs", "UtilDatetime", "UtilFormatter", "OutputFormat")


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


def check_future_error(func: _F) -> _F:
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

    return wrapper  # type: ignore[return-value]  # with func's signature (functools.wraps)


def interruptible(func: _F) -> _F:
    """flux-core restores SIGINT around blocking calls; Python's default already raises KeyboardInterrupt."""
    return func


def __getattr__(name: str) -> Any:
    """flux-core's other ``flux.util`` names, imported on first use."""
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _FORMAT_NAMES:
        from flux.cmd import _job_outputformat

        value = getattr(_job_outputformat, name)
    else:
        raise AttributeError(f"module 'flux.util' has no attribute {name!r}")
    globals()[name] = value
    return value
