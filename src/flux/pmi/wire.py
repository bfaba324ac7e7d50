"""The PMI-1 simple protocol's lines: ``cmd=NAME key=value ...\\n``.

Each line is space-separated ``key=value`` words; the ``value`` of a put or a
get result runs to the end of the line (it may hold spaces), as flux-core's
``keyval_parse_string`` reads it.  Errors are PMI return codes (``rc=``).
"""

from __future__ import annotations

__all__ = [
    "PMI_SUCCESS", "PMI_FAIL", "PMI_ERR_INVALID_KEY", "PMI_ERR_INVALID_KEY_LENGTH",
    "PMI_ERR_INVALID_VAL_LENGTH", "PMI_ERR_INVALID_LENGTH", "KVSNAME_MAX", "KEY_MAX",
    "VAL_MAX", "MAX_LINE", "PMIProtocolError", "parse", "format_line",
]

PMI_SUCCESS = 0
PMI_FAIL = -1
PMI_ERR_INVALID_ARG = 3
PMI_ERR_INVALID_KEY = 4
PMI_ERR_INVALID_KEY_LENGTH = 5
PMI_ERR_INVALID_VAL_LENGTH = 7
PMI_ERR_INVALID_LENGTH = 8

# the limits flux-core's simple server announces (cmd=maxes)
KVSNAME_MAX = 64
KEY_MAX = 64
VAL_MAX = 1024
MAX_LINE = KVSNAME_MAX + KEY_MAX + VAL_MAX + 64

_TO_EOL = ("value", "error_msg", "msg")  # words whose value runs to the end of the line


class PMIProtocolError(ValueError):
    """A line that is not PMI-1 simple protocol."""


def parse(line: str) -> dict[str, str]:
    """``"cmd=put kvsname=K key=k value=v w\\n"`` -> ``{"cmd": "put", ..., "value": "v w"}``.

    The first word names the command (``cmd=`` or ``mcmd=``); a word with no
    ``=`` is an error.  ``msg=`` text runs to the end of the line too, unless a
    ``value=`` follows it (mpich's hydra answers ``msg=success value=V``).  mpich's hydra
    appends `` found=TRUE`` to get results:
    dropped, as flux-core does.
    """
    line = line.rstrip("\n")
    out: dict[str, str] = {}
    rest = line.strip(" ")
    while rest:
        word, _, tail = rest.partition(" ")
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise PMIProtocolError(f"malformed PMI word {word!r}")
        if key in _TO_EOL:
            value = rest[len(key) + 1:]
            if key != "value":  # hydra writes "msg=success value=V": value still follows
                cut = value.find(" value=")
                if cut >= 0:
                    out[key] = value[:cut]
                    rest = value[cut + 1:]
                    continue
            elif value.endswith(" found=TRUE"):
                value = value[:-len(" found=TRUE")]
            out[key] = value
            break
        out[key] = value
        rest = tail.lstrip(" ")
    if "cmd" not in out and "mcmd" not in out:
        raise PMIProtocolError(f"no cmd in PMI line {line!r}")
    return out


def format_line(cmd: str, **fields: object) -> str:
    """``format_line("get_result", rc=0, value="x")`` -> ``"cmd=get_result rc=0 value=x\\n"``
    (``value`` last, as it runs to the end of the line)."""
    words = [f"cmd={cmd}"]
    tail = None
    for key, value in fields.items():
        if key in _TO_EOL:
            tail = f"{key}={value}"
        else:
            words.append(f"{key}={value}")
    if tail is not None:
        words.append(tail)
    return " ".join(words) + "\n"
