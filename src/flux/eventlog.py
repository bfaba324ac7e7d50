"""RFC 18 eventlogs: one JSON object per line, ``{"timestamp","name"[,"context"]}``.

Kept byte-compatible with flux-core's libeventlog, because an eventlog is
appended to by several writers (flux-core's and pureflux's) and read back
by both: entries are written as jansson writes them (compact, keys in
insertion order, reals with 17 significant digits and a ``.0`` when they
look integral, control characters as upper-case ``\\u00XX``), and text is
read with jansson's strictness (no NaN, integers within 64 bits).  Errors
are OSError(EINVAL), the errno flux-core's functions set.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = [
    "EventLogEvent",
    "contains_event",
    "decode",
    "decode_entry",
    "dumps",
    "encode",
    "encode_entry",
    "entry_build",
    "entry_create",
    "entry_parse",
    "entry_validate",
    "loads",
]


def _einval() -> OSError:
    import os

    return OSError(errno.EINVAL, os.strerror(errno.EINVAL))


# -- JSON text as jansson reads and writes it -------------------------------------------

def _encode_basestring(value: str) -> str:
    """json's C string encoder (``ensure_ascii=False``), bound on first use."""
    global _encode_basestring
    from json.encoder import encode_basestring

    _encode_basestring = encode_basestring  # type: ignore[assignment]  # rebinds itself to the C function
    return encode_basestring(value)


def _real_text(value: float) -> str:
    """A real as jansson's ``jsonp_dtostr`` writes it (``%.17g``, always looks real)."""
    import math

    if not math.isfinite(value):
        raise ValueError("jansson cannot encode a non-finite real")
    text = "%.17g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    if "e" in text:  # jansson drops the '+' and the leading zeros of the exponent
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else ""
        text = f"{mantissa}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"
    return text


def _string_text(value: str) -> str:
    """A string as jansson writes it: ``json.dumps(value, ensure_ascii=False)`` (the
    encoder it uses for a str, called directly: json.dumps would build a JSONEncoder per
    call), with the hex of a ``\\u`` escape in upper case."""
    text = _encode_basestring(value)
    if "\\u" in text:
        import re

        text = re.sub(r"\\(?:\\|u00[0-9a-f]{2})",
                      lambda m: m.group(0) if m.group(0) == "\\\\"
                      else m.group(0)[:2] + m.group(0)[2:].upper(), text)
    return text


def dumps(value: Any) -> str:
    """``value`` as jansson's ``json_dumps(JSON_ENCODE_ANY|JSON_COMPACT)`` writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _real_text(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string_text(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _parse_int(text: str) -> int:
    value = int(text)
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError("too big integer")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("real number overflow")
    return value


def _reject_constant(text: str) -> None:
    raise ValueError(f"invalid token {text}")


def loads(text: str) -> Any:
    """Parse JSON as jansson does (no NaN/Infinity, integers within 64 bits); ValueError."""
    global _decode
    if _decode is None or not isinstance(text, str):
        import json

        if _decode is None:  # one decoder for every entry (json.loads builds one per call)
            _decode = json.JSONDecoder(parse_int=_parse_int, parse_float=_parse_float,
                                       parse_constant=_reject_constant).decode
        if isinstance(text, (bytes, bytearray)):  # their encoding found as json.loads does
            text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
    return _decode(text)


#: the bound ``decode`` of loads's JSONDecoder, made on first use
_decode: "Optional[Callable[[str], Any]]" = None


# -- entries -------------------------------------------------------------------------------

def entry_validate(entry: Any) -> bool:
    """True if ``entry`` is an object with a string name, a numeric timestamp and, if any,
    an object context (flux-core's ``eventlog_entry_validate``)."""
    if not isinstance(entry, dict):
        return False
    name, timestamp = entry.get("name"), entry.get("timestamp")
    if not isinstance(name, str) or isinstance(timestamp, bool) \
            or not isinstance(timestamp, (int, float)):
        return False
    return "context" not in entry or isinstance(entry["context"], dict)


def entry_parse(entry: Any) -> tuple[float, str, dict[str, Any] | None]:
    """(timestamp, name, context or None) of a valid entry; EINVAL otherwise."""
    if not entry_validate(entry):
        raise _einval()
    return float(entry["timestamp"]), entry["name"], entry.get("context")


def _entry_from_line(line: str) -> dict[str, Any]:
    if not line:
        raise _einval()
    try:
        entry: dict[str, Any] = loads(line)
    except (ValueError, RecursionError):
        raise _einval() from None
    if not entry_validate(entry):
        raise _einval()
    return entry


def decode_entry(text: str) -> dict[str, Any]:
    """One entry from its line, which must end with its only newline."""
    if not isinstance(text, str) or not text.endswith("\n") or text.index("\n") != len(text) - 1:
        raise _einval()
    return _entry_from_line(text[:-1])


def _as_text(data: str | bytes) -> str:
    """An eventlog's bytes as the C string flux-core reads: up to the first NUL, UTF-8."""
    if isinstance(data, str):
        return data.split("\0", 1)[0]
    data = bytes(data).split(b"\0", 1)[0]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _einval() from None


def decode(data: str | bytes) -> list[dict[str, Any]]:
    """The entries of an eventlog (``""`` has none); EINVAL if an entry is malformed.

    As flux-core's ``eventlog_decode``: a non-empty log needs a newline, and
    text after the last newline (a partial line) is ignored.
    """
    text = _as_text(data)
    if text and "\n" not in text:
        raise _einval()
    return [_entry_from_line(line) for line in text.split("\n")[:-1]]


def encode_entry(entry: dict[str, Any]) -> str:
    """One entry's line, newline included; EINVAL if the entry is not valid."""
    if not entry_validate(entry):
        raise _einval()
    return dumps(entry) + "\n"


def encode(entries: list[dict[str, Any]]) -> str:
    """A whole eventlog: the entries' lines (``""`` for none)."""
    if not isinstance(entries, (list, tuple)):
        raise _einval()
    return "".join(dumps(entry) + "\n" for entry in entries)


def entry_build(timestamp: float, name: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new entry; ``timestamp`` 0 means now (wall clock).  EINVAL for a negative
    timestamp, an empty name or a context that is not an object."""
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool) or timestamp < 0 \
            or not isinstance(name, str) or not name \
            or (context is not None and not isinstance(context, dict)):
        raise _einval()
    if timestamp == 0:
        import time

        timestamp = time.time()
    entry: dict[str, Any] = {"timestamp": float(timestamp), "name": name}
    if context is not None:
        entry["context"] = context
    return entry


def entry_create(timestamp: float, name: str, context: str | None = None) -> dict[str, Any]:
    """A new entry whose context is given as JSON text (flux-core's ``eventlog_entry_create``)."""
    obj = None
    if context is not None:
        try:
            obj = loads(context)
        except (ValueError, RecursionError):
            raise _einval() from None
        if not isinstance(obj, (dict, list)):  # jansson loads only arrays and objects
            raise _einval()
    return entry_build(timestamp, name, obj)


def contains_event(data: str | bytes, name: str) -> bool:
    """True if the eventlog has an entry named ``name``; EINVAL if it is malformed."""
    return any(entry["name"] == name for entry in decode(data))


class EventLogEvent(dict[str, "Any"]):  # quoted: typing is imported for type checkers only
    """One eventlog entry as flux-core's Python hands it out (``flux.eventlog.EventLogEvent``):
    a dict built from the entry or its JSON text, ``context`` defaulting to ``{}``."""

    def __init__(self, event: Any) -> None:
        if isinstance(event, str):
            from flux.message import _decode_text  # json.loads without its two wrappers

            # an entry's line ends with its newline: without it the fast scan takes all
            event = _decode_text(event[:-1] if event.endswith("\n") else event)
        super().__init__(event)
        if "context" not in self:
            self["context"] = {}

    def __str__(self) -> str:
        return f"{self.timestamp:<0.5f}: {self.name} {self.context}"

    @property
    def name(self) -> str:
        name: str = self["name"]
        return name

    @property
    def timestamp(self) -> float:
        timestamp: float = self["timestamp"]
        return timestamp

    @property
    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = self["context"]
        return context

    @property
    def context_string(self) -> str:
        """The context as compact JSON with sorted keys ("" when empty)."""
        if not self.context:
            return ""
        import json

        return json.dumps(self.context, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True)
