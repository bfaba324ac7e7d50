"""A job's ``attributes.system.exec.test`` settings, read as flux-core's testexec does."""

from __future__ import annotations

__all__ = ["ExecTestConf", "parse_fsd"]

_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_fsd(text: str) -> float:
    """RFC 23 Flux Standard Duration: ``1.5``, ``100ms``, ``2m``, ``1h``, ``inf``."""
    s = text.strip()
    if s in ("inf", "infinity", "INF"):
        return float("inf")
    for unit in ("ms", "s", "m", "h", "d", ""):
        if unit and not s.endswith(unit):
            continue
        number = s[:len(s) - len(unit)] if unit else s
        try:
            value = float(number)
        except ValueError:
            continue
        if value < 0 or value != value:
            break
        return value * _UNITS[unit]
    raise ValueError(f"invalid duration '{text}'")


class ExecTestConf:
    """``enabled`` only if the jobspec has ``system.exec.test``; then ``run_duration``
    (the test's, else the jobspec's duration), ``wait_status``, ``mock_exception``."""

    __slots__ = ("enabled", "run_duration", "wait_status", "mock_exception")

    def __init__(self, jobspec: object) -> None:
        """ValueError (with jansson's wording where flux-core has it) if malformed."""
        self.enabled = False
        self.run_duration = 0.0
        self.wait_status = 0
        self.mock_exception: str | None = None
        attributes = jobspec.get("attributes") if isinstance(jobspec, dict) else None
        system = attributes.get("system") if isinstance(attributes, dict) else None
        if not isinstance(system, dict):
            return
        duration = system.get("duration")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            self.run_duration = float(duration)
        exec_ = system.get("exec")
        test = exec_.get("test") if isinstance(exec_, dict) else None
        if test is None:
            return
        if not isinstance(test, dict):
            raise ValueError(f"Expected object, got {_jtype(test)}")
        self.enabled = True
        trun = test.get("run_duration")
        if trun is not None:
            if not isinstance(trun, str):
                raise ValueError(f"Expected string, got {_jtype(trun)}")
            self.run_duration = parse_fsd(trun)
        status = test.get("wait_status", 0)
        if not isinstance(status, int) or isinstance(status, bool):
            raise ValueError(f"Expected integer, got {_jtype(status)}")
        self.wait_status = status
        mock = test.get("mock_exception")
        if mock is not None and not isinstance(mock, str):
            raise ValueError(f"Expected string, got {_jtype(mock)}")
        self.mock_exception = mock


def _jtype(value: object) -> str:
    """jansson's name for a JSON value's type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
