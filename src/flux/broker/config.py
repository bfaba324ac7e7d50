"""The instance configuration: TOML files named by ``-c/--config-path``.

As flux-broker: the path is a ``.toml`` file, or a directory whose ``*.toml``
files are merged (a table may not be defined twice).  The broker serves it
with ``config.get``; ``config.load`` replaces it and ``config.reload``
re-reads the files.  ``[access]`` (``allow-guest-user``, ``allow-root-owner``)
controls who may connect, ``private-mode`` what guests see of others' jobs.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class ConfigError(Exception):
    """A configuration file could not be read or is invalid."""


def _load_file(path: str) -> dict[str, Any]:
    # tomllib is loaded here, not at import: most instances have no config file, and
    # importing it costs the broker's start-up ~6 ms
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8: say where it is not
        raise ConfigError(f"{path}: invalid UTF-8 at byte {exc.start}") from None


def load(path: str) -> dict[str, Any]:
    """Read ``path`` (a TOML file or a directory of them) into one table."""
    if os.path.isdir(path):
        conf: dict[str, Any] = {}
        for name in sorted(os.listdir(path)):
            if not name.endswith(".toml"):
                continue
            fpath = os.path.join(path, name)
            for key, value in _load_file(fpath).items():
                if key in conf:
                    raise ConfigError(f"{fpath}: '{key}' is defined in more than one file")
                conf[key] = value
        return conf
    if not os.path.exists(path):
        raise ConfigError(f"{path}: No such file or directory")
    return _load_file(path)


def check(conf: Any) -> dict[str, Any]:
    """Validate the parts the broker itself uses; return ``conf``."""
    if not isinstance(conf, dict):
        raise ConfigError("config must be a table (JSON object)")
    access = conf.get("access", {})
    if not isinstance(access, dict):
        raise ConfigError("[access] must be a table")
    for key in ("allow-guest-user", "allow-root-owner", "private-mode"):
        if key in access and not isinstance(access[key], bool):
            raise ConfigError(f"access.{key} must be a boolean")
    return conf
