"""CURVE certificates in the file format flux-core's ``flux keygen`` writes
(CZMQ's zcert, ZPL): a ``metadata`` section of ``key = "value"`` lines and a
``curve`` section with ``public-key`` and ``secret-key`` (Z85, 40 characters).
No pyzmq here: ``flux keygen`` makes keys with it, the overlay loads them."""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["Cert", "CertError", "format_cert", "parse_cert", "load_cert", "write_cert"]

_Z85 = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")


class CertError(ValueError):
    """A certificate file that cannot be used."""


class Cert:
    __slots__ = ("public", "secret", "metadata")

    def __init__(self, public: str, secret: Optional[str], metadata: dict[str, str]) -> None:
        self.public = public
        self.secret = secret
        self.metadata = metadata

    @property
    def name(self) -> str:
        return self.metadata.get("name", "")


def format_cert(cert: Cert) -> str:
    lines = ["#  ZeroMQ CURVE **Secret** Certificate", "#  DO NOT DISTRIBUTE", "", "metadata"]
    lines += [f'    {k} = "{v}"' for k, v in cert.metadata.items()]
    lines += ["curve", f'    public-key = "{cert.public}"', f'    secret-key = "{cert.secret}"']
    return "\n".join(lines) + "\n"


def _key(value: str, what: str) -> str:
    if len(value) != 40 or not set(value) <= _Z85:
        raise CertError(f"invalid {what}")
    return value


def parse_cert(text: str) -> Cert:
    section = None
    meta: dict[str, str] = {}
    public = secret = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indented = line[0] in " \t"
        if not indented:
            if stripped not in ("metadata", "curve"):
                raise CertError(f"line {number}: unknown section {stripped!r}")
            section = stripped
            continue
        key, eq, value = stripped.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            raise CertError(f"line {number}: expected key = \"value\"")
        value = value[1:-1]
        if section == "metadata":
            meta[key] = value
        elif section == "curve":
            if key == "public-key":
                public = _key(value, "public-key")
            elif key == "secret-key":
                secret = _key(value, "secret-key")
        else:
            raise CertError(f"line {number}: key outside of a section")
    if public is None:
        raise CertError("no public-key")
    return Cert(public, secret, meta)


def load_cert(path: str) -> Cert:
    """Read a certificate; its secret key must be there and the file not readable
    by others (as flux-core requires of a secret certificate)."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as f:
            cert = parse_cert(f.read())
    except OSError as exc:
        raise CertError(f"{path}: {exc.strerror}") from None
    except CertError as exc:
        raise CertError(f"{path}: {exc}") from None
    if st.st_mode & 0o044:
        raise CertError(f"{path}: readable by group/other")
    if cert.secret is None:
        raise CertError(f"{path}: no secret-key")
    return cert


def write_cert(path: str, cert: Cert) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(format_cert(cert))
