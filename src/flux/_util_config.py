"""``flux.util.UtilConfig`` and ``xdg_searchpath``: the user and system configuration
of Python commands (``~/.config/flux/NAME.toml``, ``/etc/xdg/flux/NAME.json``...),
named output formats included."""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import sys
from pathlib import Path, PurePosixPath

from flux._util_treedict import dict_merge

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["xdg_searchpath", "UtilConfig"]


def xdg_searchpath(subdir: str = "") -> list[Path]:
    """``$XDG_CONFIG_HOME/flux/SUBDIR`` (``~/.config``) then each of
    ``$XDG_CONFIG_DIRS`` (``/etc/xdg``), highest precedence first."""
    dirs = [os.getenv("XDG_CONFIG_HOME") or f"{Path.home()}/.config"]
    dirs += (os.getenv("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
    return [Path(d, "flux", subdir) for d in dirs]


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def _load_toml(fp: Any) -> Any:
    return _tomllib().load(fp)


def _load_yaml(fp: Any) -> Any:
    import yaml

    return yaml.safe_load(fp)


def _decode_errors() -> tuple[type[BaseException], ...]:
    import yaml

    return (_tomllib().TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError)


class UtilConfig:
    """Configuration of tool ``name``: ``initial_dict``, then ``name.{toml,json,yaml}``
    from each XDG directory, lowest precedence first, merged with ``dict_merge``.
    With ``subcommand``, ``config`` is that subtable.  Attributes read ``config``."""

    extension_handlers = {".toml": _load_toml, ".json": json.load, ".yaml": _load_yaml}
    builtin_formats: dict = {}

    def __init__(self, name: str, toolname: Optional[str] = None,
                 subcommand: Optional[str] = None, initial_dict: Optional[dict] = None) -> None:
        self.name = name
        self.toolname = toolname
        self.dict: dict = copy.deepcopy(initial_dict) if initial_dict else {}
        self.config = self.dict
        self.subtable = subcommand
        self.searchpath = xdg_searchpath()
        self.searchpath.reverse()

    def load(self) -> UtilConfig:
        """Read the files; ValueError naming the file if one does not parse."""
        for path in self.searchpath:
            for filepath in sorted(glob.glob(f"{path}/{self.name}.*")):
                suffix = PurePosixPath(filepath).suffix
                if suffix not in self.extension_handlers:
                    continue
                try:
                    with open(filepath, "rb") as fp:
                        conf = self.extension_handlers[suffix](fp)
                except _decode_errors() as exc:
                    raise ValueError(f"{filepath}: {exc}") from exc
                self.validate(filepath, conf)
                dict_merge(self.dict, conf)
        if self.subtable and self.subtable in self.dict:
            self.config = self.dict[self.subtable]
        return self

    def validate_formats(self, path: str, formats: Any) -> None:
        """Check a ``formats`` table: ``{name: {"format": str, "description": str}}``,
        no builtin format overridden; ValueError otherwise."""
        builtin = self.builtin_formats
        if self.subtable and self.subtable in self.builtin_formats:
            builtin = self.builtin_formats[self.subtable]
        if not isinstance(formats, dict):
            raise ValueError(f"{path}: the 'formats' key must be a mapping")
        for name, entry in formats.items():
            if name in builtin:
                raise ValueError(f"{path}: override of builtin format '{name}' not permitted")
            if not isinstance(entry, dict):
                raise ValueError(f"{path}: 'formats.{name}' must be a mapping")
            if "format" not in entry:
                raise ValueError(f"{path}: formats.{name}: required key 'format' missing")
            if not isinstance(entry["format"], str):
                raise ValueError(f"{path}: formats.{name}: 'format' key must be a string")

    def validate(self, path: str, conf: Any) -> None:
        """Called for each file before it is merged; subclasses check their keys."""

    def _default_env_name(self) -> str:
        name = (self.toolname or self.name).upper().replace("-", "_")
        if self.subtable:
            name += "_" + self.subtable.upper().replace("-", "_")
        return name + "_FORMAT_DEFAULT"

    def get_format_string(self, format_name: str) -> str:
        """The format named ``format_name`` (a format itself if it contains ``{``).
        ``help`` lists the formats and ``get-config=NAME`` prints one, then exit;
        ``default`` may be overridden by ``TOOL[_SUBCMD]_FORMAT_DEFAULT``."""
        if "{" in format_name:
            return format_name
        formats = self.formats
        if format_name == "help":
            print(f"\nConfigured {self.name} output formats:\n")
            for name, entry in formats.items():
                print(f"  {name:<12}", end="")
                print(f" {entry['description']}" if "description" in entry else "")
            sys.exit(0)
        if format_name.startswith("get-config="):
            name = format_name.split("=", 1)[1]
            if name not in formats:
                raise ValueError(f"--format: No such format {name}")
            entry = formats[name]
            print(f"[{self.subtable}.formats.{name}]" if self.subtable else f"[formats.{name}]")
            if "description" in entry:
                print(f"description = \"{entry['description']}\"")
            print(f"format = \"{entry['format']}\"")
            sys.exit(0)
        if format_name == "default":
            override = os.environ.get(self._default_env_name())
            if override is not None:
                if "{" in override:
                    return override
                format_name = override
        try:
            return str(formats[format_name]["format"])
        except KeyError:
            hint = re.sub(r"\w+", r"{\g<0>}", format_name)
            raise ValueError(f"--format: No such format {format_name} "
                             f"(Did you mean '{hint}'?)") from None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return self.config[attr]
