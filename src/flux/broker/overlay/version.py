"""The overlay protocol's version as ``overlay.hello`` carries it: flux-core's
FLUX_CORE_VERSION_HEX, and that number as text (a mismatch is refused)."""

from __future__ import annotations

__all__ = ["version_hex"]


def version_hex(version: str) -> int:
    """``"0.88.0"`` -> 0x005800 (flux-core's FLUX_CORE_VERSION_HEX)."""
    parts = (version.split("-")[0].split(".") + ["0", "0", "0"])[:3]
    major, minor, patch = (int("".join(c for c in p if c.isdigit()) or 0) for p in parts)
    return (major << 16) | (minor << 8) | patch


def _vstr(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xff}.{v & 0xff}"
