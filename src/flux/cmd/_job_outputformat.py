"""The output formats of flux-core's listing commands (its ``flux.util.OutputFormat``).

A format is Python's ``str.format`` syntax over an item's attributes, with
flux-core's additions, so user formats print the same text:

* conversions ``!d`` (a datetime; ``{t!d:%b%d %R::>12}`` puts strftime text
  before ``::`` and the width after), ``!D`` (ISO 8601), ``!F`` (Flux standard
  duration), ``!H`` (``H:MM:SS``), ``!P`` (a percentage);
* spec suffixes ``h`` (an empty value, ``0s``, ``0.0`` ... prints ``-``) and
  ``+`` (a truncated value ends in ``+``);
* field prefixes ``?:`` (the column is left out when empty for every item),
  ``+:`` (the column widens to its longest value), ``?+:`` (both);
* a leading ``sort:KEY,-KEY`` sets the sort order.

The header row gives each field its heading at the field's width.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from string import Formatter

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any


def fsd(secs: float) -> str:
    """Seconds as a Flux standard duration, as flux-core's listings print them."""
    import math

    if math.isinf(secs):
        return "inf"
    if secs < 1.0e-3:
        return "0s"
    if secs < 10.0:
        return f"{secs:.3f}s"
    if secs < 60.0:
        return f"{secs:.4g}s"
    if secs < 3600.0:
        return f"{secs / 60.0:.4g}m"
    if secs < 86400.0:
        return f"{secs / 3600.0:.4g}h"
    return f"{secs / 86400.0:.4g}d"


def empty_outputs() -> tuple[str, ...]:
    """Texts that count as "no value" (``h`` prints ``-``, ``?:`` drops the column)."""
    localepoch = datetime.fromtimestamp(0.0).strftime("%FT%T")
    return ("", "0s", "0.0", "0:00:00", "1970-01-01T00:00:00", localepoch)


class UtilDatetime(datetime):
    """A datetime formatted ``STRFTIME::SPEC``; the epoch prints as nothing."""

    def __format__(self, fmt: str) -> str:
        timefmt, _, spec = fmt.partition("::")
        if self == datetime.fromtimestamp(0.0):
            result = ""
        else:
            result = self.strftime(timefmt or "%FT%T")
        if spec.endswith("h"):
            if not result:
                result = "-"
            spec = spec[:-1] + "s"
        return format(result, spec) if spec else result


class UtilFormatter(Formatter):
    """``str.format`` with flux-core's conversions and ``h``/``+`` spec suffixes."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        orig = str(value)
        try:
            if conversion == "d":
                try:
                    return UtilDatetime.fromtimestamp(value)
                except TypeError:
                    if orig == "":
                        return UtilDatetime.fromtimestamp(0.0)
                    raise
            if conversion == "D":
                if not value:
                    return ""
                return datetime.fromtimestamp(value).strftime("%FT%T")
            if conversion == "F":
                return fsd(value)
            if conversion == "H":
                if 0 < value < 1:
                    value = 1
                return str(timedelta(seconds=round(value)))
            if conversion == "P":
                value = value * 100
                return f"{value:.2f}%" if 0 < value < 1 else f"{value:.3g}%"
        except (TypeError, ValueError):
            if orig == "":
                return ""
            raise
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, spec: str) -> str:
        truncation = spec.endswith("+")
        if truncation:
            spec = spec[:-1]
        if spec.endswith("h") and not isinstance(value, UtilDatetime):
            value = "-" if str(value) in empty_outputs() else str(value)
            spec = spec[:-1] + "s"
        text = super().format_field(value, spec)
        if truncation and len(text) < len(str(value)):
            text = text[:-1] + "+"
        return text


class _HeaderFormatter(UtilFormatter):
    """Headings are looked up by the whole (dotted) field name."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if field_name in kwargs:
            return kwargs[field_name], None
        return super().get_field(field_name, args, kwargs)


_SPEC = re.compile(
    r"(?:(?P<fill>[\s\S])?(?P<align>[<>=^]))?(?P<sign>[- +])?(?P<pos_zero>z)?(?P<alt>#)?"
    r"(?P<zero_pad>0)?(?P<width_str>\d+)?(?P<grouping>[_,])?"
    r"(?:(?P<decimal>\.)(?P<precision_str>\d+))?(?P<type>[bcdeEfFgGnosxX%])?"
    r"(?P<hyphen>h)?(?P<truncate>\+)?")
_PARTS = ("fill", "align", "sign", "pos_zero", "alt", "zero_pad", "width_str", "grouping",
          "decimal", "precision_str", "type", "hyphen", "truncate")


class FormatSpec:
    """A format spec split into its parts (what follows ``::`` for datetimes)."""

    def __init__(self, spec: str) -> None:
        if "::" in spec:
            spec = spec[spec.find("::") + 2:]
        match = _SPEC.fullmatch(spec)
        parts = match.groupdict() if match else {}
        self.parts = {name: parts.get(name) or "" for name in _PARTS}

    @property
    def align(self) -> str:
        return self.parts["align"]

    @property
    def width(self) -> int | str:
        text = self.parts["width_str"]
        return int(text) if text else ""

    def set_width(self, width: int) -> None:
        self.parts["width_str"] = str(width)
        precision = int(self.parts["precision_str"] or 0)
        if self.parts["type"] in ("", "s") and precision and precision < width:
            self.parts["precision_str"] = str(width)

    def __str__(self) -> str:
        return "".join(self.parts[name] for name in _PARTS)


_SENTINELS = (("?+:", "both"), ("?:", "filter"), ("+:", "maxwidth"))
_SORT_PREFIX = re.compile(r"sort:([^{\s]+)")


def _fmt_tuple(text: str, field: str, spec: str | None, conv: str | None) -> str:
    if not field:
        return text
    spec_part = ":" + spec if spec else ""
    conv_part = "!" + conv if conv else ""
    return f"{text}{{{field}{conv_part}{spec_part}}}"


class _SortValue:
    """Sort order of displayed values: unset ("", "-", None), then numbers, then text."""

    __slots__ = ("key",)

    def __init__(self, value: Any) -> None:
        if value is None or value == "" or value == "-":
            self.key: tuple = (0, 0)
        elif isinstance(value, (bool, int, float)):
            self.key = (1, float(value))
        else:
            try:
                self.key = (1, float(str(value)))
            except (TypeError, ValueError):
                self.key = (2, str(value))

    def __lt__(self, other: _SortValue) -> bool:
        return self.key < other.key


def _sort_key(getter: Callable[[Any], Any]) -> Callable[[Any], _SortValue]:
    return lambda item: _SortValue(getter(item))


class OutputFormat:
    """A parsed format: its fields (checked against ``headings``), header and rows."""

    def __init__(self, fmt: str, headings: Mapping[str, str], prepend: str = "0.") -> None:
        self.headings = headings
        self.prepend = prepend
        self.format_list = [[s or "" for s in t] for t in Formatter().parse(fmt)]
        self.sort_keys: list[tuple[str, bool]] = []
        self._sort_trailing_space = True
        if self.format_list and self.format_list[0][0].startswith("sort:"):
            first = self.format_list[0][0]
            match = _SORT_PREFIX.match(first)
            if match:
                self.set_sort_keys(match.group(1))
                rest = first[len("sort:") + len(match.group(1)):]
                self._sort_trailing_space = rest.startswith(" ")
                self.format_list[0][0] = rest[1:] if self._sort_trailing_space else rest
        self._fields = [field for (_, field, _, _) in self.format_list if field]
        for field in self._fields:
            name = field.removeprefix("0.")
            if name not in self.headings:
                raise ValueError("Unknown format field: " + name)

    @property
    def fields(self) -> list[str]:
        fields = set(self._fields)
        fields.update(key for key, _ in self.sort_keys)
        return list(fields)

    def set_sort_keys(self, text: str) -> None:
        """``KEY,-KEY,...``: sort by these fields (``-`` reverses)."""
        self.sort_keys = []
        for key in text.split(","):
            key = key.strip()
            if not key:
                continue
            reverse = key.startswith("-")
            key = key.removeprefix("-")
            if key not in self.headings:
                raise ValueError("Invalid sort key: " + key)
            self.sort_keys.append((key, reverse))

    def _sort_prefix(self) -> str:
        if not self.sort_keys:
            return ""
        keys = ",".join(f"-{k}" if rev else k for k, rev in self.sort_keys)
        return "sort:" + keys + (" " if self._sort_trailing_space else "")

    def _body(self) -> str:
        """The format without sort prefix, each field prefixed with ``0.``."""
        parts = []
        for text, field, spec, conv in self.format_list:
            if field and not field.startswith(self.prepend):
                field = self.prepend + field
            parts.append(_fmt_tuple(text, field, spec, conv))
        return "".join(parts)

    def copy(self, except_fields: Iterable[str] | None = None,
             nullify_expansion: bool = False) -> OutputFormat:
        """This format without ``except_fields`` (the literal text before a dropped
        field stays unless it is blank or a sentinel); with ``nullify_expansion``,
        ``+:{f:>5.5}`` becomes ``{f}``.  The sort prefix stays (flux.util.Deduplicator
        builds its keys from such a copy)."""
        dropped = set(except_fields or ())
        parts = []
        for text, field, spec, conv in self.format_list:
            if field in dropped:
                kept = text.strip()
                if kept and kept not in ("+:", "?:", "?+:"):
                    parts.append(text)
                continue
            if nullify_expansion and text.endswith("+:"):
                text, spec = "", ""
            parts.append(_fmt_tuple(text, field, spec, conv))
        return type(self)(self._sort_prefix() + "".join(parts), headings=self.headings,
                          prepend=self.prepend)

    def header(self, width: int = -1) -> str:
        parts = []
        for text, field, spec, _ in self.format_list:
            parsed = FormatSpec(spec)
            parts.append(_fmt_tuple(text, field, f"{parsed.align}{parsed.width}", None))
        result = _HeaderFormatter().format("".join(parts), **self.headings)
        width = _terminal_width(width)
        if 0 < width < len(result):
            result = result[:width - 1] + "+"
        return result

    def format(self, item: Any) -> str:
        return UtilFormatter().format(self._body(), item)

    def filter(self, items: list, no_header: bool = False) -> str:
        """The format with ``?:`` columns empty for every item removed, ``+:`` widened."""
        entries: list[dict[str, Any]] = []
        for index, (text, field, spec, conv) in enumerate(self.format_list):
            kind = next((k for s, k in _SENTINELS if text.endswith(s)), None)
            if kind is None:
                continue
            parsed = FormatSpec(spec)
            maxwidth = parsed.width or 0
            if kind in ("maxwidth", "both"):
                heading = 0 if no_header else len(self.headings.get(field, ""))
                maxwidth = max(int(maxwidth), heading)
            entries.append({"fmt": _fmt_tuple("", "0." + field, None, conv), "index": index,
                            "kind": kind, "maxwidth": maxwidth, "width": 0, "spec": parsed})
        if not entries:
            return self._sort_prefix() + "".join(_fmt_tuple(*t) for t in self.format_list)
        formatter = UtilFormatter()
        empty = empty_outputs()
        for item in items:
            for entry in entries:
                result = formatter.format(entry["fmt"], item)
                width = 0 if result in empty else len(result)
                entry["maxwidth"] = max(entry["maxwidth"], width)
                entry["width"] = max(entry["width"], width)
        format_list = [list(t) for t in self.format_list]
        removed = set()
        for entry in entries:
            if entry["width"] == 0 and entry["kind"] in ("filter", "both"):
                removed.add(entry["index"])
            elif entry["kind"] in ("maxwidth", "both"):
                entry["spec"].set_width(entry["maxwidth"])
                format_list[entry["index"]][2] = str(entry["spec"])
        kept = [t for i, t in enumerate(format_list) if i not in removed]
        for t in kept:
            for sentinel, _ in _SENTINELS:
                t[0] = t[0].replace(sentinel, "")
        return self._sort_prefix() + "".join(_fmt_tuple(*t) for t in kept)

    def sort_items(self, items: list) -> list:
        from operator import attrgetter

        for key, reverse in reversed(self.sort_keys):
            items.sort(key=_sort_key(attrgetter(key)), reverse=reverse)
        return items

    def print_items(self, items: list, no_header: bool = False, width: int = -1,
                    pre: Callable[[Any], None] | None = None,
                    post: Callable[[Any], None] | None = None) -> None:
        """Header (unless ``no_header``) and one line per item, sorted, cut at ``width``."""
        formatter = type(self)(self.filter(items, no_header=no_header), self.headings)
        items = self.sort_items(items)
        width = _terminal_width(width)
        if not no_header:
            print(formatter.header(width=width))
        for item in items:
            line = formatter.format(item)
            if not line or line.isspace():
                continue
            if 0 < width < len(line):
                line = line[:width - 1] + "+"
            if pre is not None:
                pre(item)
            print(line)
            if post is not None:
                post(item)


def _terminal_width(width: int) -> int:
    if width == 0:
        try:
            return os.get_terminal_size().columns
        except OSError:
            return -1
    return width
