"""``flux.util.Fileref``: an RFC 37 file object (``{"mode", "data", "encoding"...}``)
from a dict, encoded data, or a file's contents."""

from __future__ import annotations

import base64
import os
import stat

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["Fileref"]


class Fileref(dict):
    """A dict (JSON-ready): ``data`` a dict -> JSON content; ``encoding`` given ->
    ``data`` stored as is; else ``data`` is a path whose contents are read (UTF-8
    text if they decode, base64 otherwise) with the file's size and mode."""

    def __init__(self, data: Any, perms: int = 0o0600, encoding: Optional[str] = None) -> None:
        ref: dict = {"mode": perms | stat.S_IFREG}
        if isinstance(data, dict):
            ref["data"] = data
        elif encoding is not None:
            if encoding not in ("base64", "utf-8"):
                raise ValueError("invalid encoding: {encoding}")  # flux-core's text
            ref["data"] = data
            ref["encoding"] = encoding
        else:
            info = os.stat(data)
            ref["size"] = info.st_size
            ref["mode"] = info.st_mode
            with open(data, "rb") as fp:
                raw = fp.read()
            try:
                ref["data"] = raw.decode("utf-8")
                ref["encoding"] = "utf-8"
            except UnicodeError:
                ref["data"] = base64.b64encode(raw).decode("utf-8")
                ref["encoding"] = "base64"
        super().__init__(**ref)
