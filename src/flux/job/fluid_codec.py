"""The text forms of a FLUID (RFC 19): decimal, hex, dothex, kvs, F58, emoji.

Parsing follows RFC 19's detection rules, in flux-core's order: a ``job.`` prefix (the kvs
form) is dropped first; then ``.`` means dothex, ``-`` means words, a leading ``ƒ`` or ``f``
means F58, a leading emoji means emoji, ``0x`` means hex, anything else decimal.  Leading and
trailing whitespace is ignored.  Every value must fit in 64 bits.

The words (mnemonic) form is the 64-bit value's eight little-endian bytes in Oren Tirosh's
mnemonicode, as flux-core writes it (``x-x-x--x-x-x``); its word list comes from the
``mnemonicode`` package, imported only when words are encoded or parsed.  Parsing takes the
words in order whatever separates them and ignores case, as flux-core's decoder does.
"""

from __future__ import annotations

import os

from flux.job.basemoji import DIGITS as EMOJI_DIGITS

F58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
F58_PREFIX = "\u0192"  # ƒ
F58_ASCII_PREFIX = "f"

#: Encoding names ``encode`` knows (case does not matter, as in flux-core).
ENCODINGS = ("dec", "hex", "dothex", "kvs", "words", "f58", "f58plain", "emoji")

_LIMIT = 1 << 64
_F58_MAX_DIGITS = 12  # flux-core's limits: 11 and 7 digits hold 64 bits, one spare for F58
_EMOJI_MAX_DIGITS = 7
_WHITESPACE = " \t\n\v\f\r"  # C's isspace(), which flux-core uses
_HEX = frozenset("0123456789abcdefABCDEF")
_F58_VALUE = {c: i for i, c in enumerate(F58_ALPHABET)}
_emoji_value: dict[str, int] = {}  # filled on first emoji decode


def _base_n(value: int, digits: str) -> str:
    """``value`` written with ``digits`` (most significant first); zero is ``digits[0]``."""
    base = len(digits)
    out = []
    while True:
        value, rem = divmod(value, base)
        out.append(digits[rem])
        if not value:
            return "".join(reversed(out))


def _from_base_n(text: str, values: dict[str, int], what: str) -> int:
    base = len(values)
    value = 0
    for c in text:
        digit = values.get(c)
        if digit is None:
            raise ValueError(f"{c!r} is not a {what} digit")
        value = value * base + digit
    if value >= _LIMIT:
        raise ValueError(f"{what} value does not fit in 64 bits")
    return value


def _parse_dothex(text: str) -> int:
    parts = text.split(".")
    if len(parts) != 4 or not all(0 < len(p) <= 4 and set(p) <= _HEX for p in parts):
        raise ValueError("dothex is four groups of 1-4 hex digits joined by '.'")
    value = 0
    for p in parts:
        value = (value << 16) | int(p, 16)
    return value


def _parse_emoji(text: str) -> int:
    if len(text) > _EMOJI_MAX_DIGITS:
        raise ValueError(f"emoji FLUIDs have at most {_EMOJI_MAX_DIGITS} emoji")
    if not _emoji_value:
        _emoji_value.update((c, i) for i, c in enumerate(EMOJI_DIGITS))
    return _from_base_n(text, _emoji_value, "emoji")


def _parse_words(text: str) -> int:
    """Six mnemonicode words (three per four bytes) back to the value they encode."""
    import re

    from mnemonicode import mndecode

    if re.fullmatch(r"[A-Za-z]+(?:[^A-Za-z0-9]+[A-Za-z]+)*", text) is None:
        raise ValueError("words are letters separated by dashes")
    words = re.findall(r"[A-Za-z]+", text.lower())
    try:
        data = mndecode(tuple(words[i:i + 3]) for i in range(0, len(words), 3))
    except ValueError as e:
        raise ValueError(f"not a FLUID in words: {e}") from None
    if len(data) != 8:
        raise ValueError("words do not encode 64 bits")
    return int.from_bytes(data, "little")


def _is_emoji_start(c: str) -> bool:
    """RFC 19: an emoji FLUID starts with the UTF-8 bytes F0 9F, i.e. U+1F000..U+1FFFF."""
    return 0x1F000 <= ord(c) <= 0x1FFFF


def parse(text: str) -> int:
    """The FLUID ``text`` spells in any RFC 19 form; ValueError says why it does not."""
    s = text.strip(_WHITESPACE)
    s = s.removeprefix("job.")  # the kvs form
    if not s:
        raise ValueError("empty FLUID")
    if "." in s:
        return _parse_dothex(s)
    if "-" in s:
        return _parse_words(s)
    if s[0] in (F58_PREFIX, F58_ASCII_PREFIX):
        if not 1 < len(s) <= 1 + _F58_MAX_DIGITS:
            raise ValueError(f"F58 is the prefix and 1-{_F58_MAX_DIGITS} digits")
        return _from_base_n(s[1:], _F58_VALUE, "F58")
    if _is_emoji_start(s[0]):
        return _parse_emoji(s)
    if s.startswith("0x"):
        digits = s[2:]
        if not digits or not set(digits) <= _HEX:
            raise ValueError("hex is 0x followed by hex digits")
        value = int(digits, 16)
    elif s.isascii() and s.isdigit():
        value = int(s)
    else:
        raise ValueError("not a FLUID in any RFC 19 encoding")
    if value >= _LIMIT:
        raise ValueError("value does not fit in 64 bits")
    return value


def f58_prefix() -> str:
    """``ƒ`` where the locale can show it, else ``f``; FLUX_F58_FORCE_ASCII forces ``f``."""
    if "FLUX_F58_FORCE_ASCII" in os.environ:
        return F58_ASCII_PREFIX
    try:
        import _locale  # the C module: ``locale`` would import ``re``
        codeset = _locale.nl_langinfo(_locale.CODESET)
    except (ImportError, AttributeError, ValueError):
        return F58_ASCII_PREFIX
    return F58_PREFIX if codeset == "UTF-8" else F58_ASCII_PREFIX


def encode(fluid: int, encoding: str = "f58") -> str:
    """``fluid`` in the named encoding (one of ``ENCODINGS``).

    LookupError for an unknown name, OverflowError for a
    value outside [0, 2**64).
    """
    if not 0 <= fluid < _LIMIT:
        raise OverflowError(f"{fluid} is not a 64-bit unsigned FLUID")
    kind = encoding.lower()
    if kind == "f58":
        return f58_prefix() + _base_n(fluid, F58_ALPHABET)
    if kind == "dec":
        return str(fluid)
    if kind == "hex":
        return f"0x{fluid:x}"
    if kind in ("dothex", "kvs"):
        h = f"{fluid:016x}"
        dothex = f"{h[0:4]}.{h[4:8]}.{h[8:12]}.{h[12:16]}"
        return dothex if kind == "dothex" else "job." + dothex
    if kind == "f58plain":
        return F58_ASCII_PREFIX + _base_n(fluid, F58_ALPHABET)
    if kind == "emoji":
        return _base_n(fluid, EMOJI_DIGITS)
    if kind == "words":
        from mnemonicode import mnformat

        return mnformat(fluid.to_bytes(8, "little"))
    raise LookupError(f"unknown FLUID encoding {encoding!r}")
