"""The files a jobspec carries (RFC 37, ``attributes.system.files``: ``flux batch``'s
script, ``--add-file``) written into the job's temporary directory before the tasks
start, as flux-core's shell extracts them (``{{tmpdir}}/NAME``, with its mode)."""

from __future__ import annotations

import base64
import json
import os

__all__ = ["extract"]


def extract(files: object, tmpdir: str) -> None:
    """Write each file; OSError/ValueError (with the file's name) if one cannot be."""
    if not isinstance(files, dict):
        return
    for name, ref in files.items():
        if not isinstance(ref, dict) or "data" not in ref:
            raise ValueError(f"{name}: invalid file entry")
        if os.path.isabs(name) or ".." in name.split("/"):
            raise ValueError(f"{name}: invalid file name")
        data = ref["data"]
        if isinstance(data, (dict, list)):
            raw = json.dumps(data).encode()
        elif ref.get("encoding") == "base64":
            raw = base64.b64decode(data)
        else:
            raw = str(data).encode()
        mode = ref.get("mode", 0o600)
        mode = mode & 0o7777 if isinstance(mode, int) else 0o600
        path = os.path.join(tmpdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, raw)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
