"""Templated job options: ``{}``, ``{0}``, ``{seq}``, ``{cc}`` ... in a command and its options.

flux-core's ``Xcmd``: the command words and the options that may vary between
copies (``MUTABLE`` below) are formatted with ``str.format`` over the inputs
(``Xinput`` strings: ``{0.%}`` without extension, ``{0./}`` basename,
``{0.//}`` dirname, ``{0./%}`` both, ``{0.NAME}`` a ``--define``\\ d method)
and named values; ``{{...}}`` mustache templates are left alone.  A method
returning a list spreads over several command words.  Errors log
``flux: ERROR: ...`` and exit 1, as flux-core's.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn

#: option dest -> how it is shown in ``bulksubmit: submit ...`` lines, in flux-core's order
MUTABLE = {
    "queue": "-q", "bank": "-B", "ntasks": "-n", "nodes": "-N", "cores_per_task": "-c",
    "gpus_per_task": "-g", "cores": "--cores=", "tasks_per_node": "--tasks-per-node=",
    "tasks_per_core": "--tasks-per-core=", "gpus_per_node": "--gpus-per-node=",
    "time_limit": "-t", "env": "--env=", "env_file": "--env-file=",
    "env_remove": "--env-remove=", "urgency": "--urgency=", "setopt": "-o ",
    "setattr": "--setattr=", "job_name": "--job-name=", "input": "--input=",
    "output": "--output=", "error": "--error=", "cc": "--cc=", "bcc": "--bcc=",
    "log": "--log=", "log_stderr": "--log-stderr=", "dependency": "--dependency=",
    "taskmap": "--taskmap=", "requires": "--requires=", "wait": "--wait-event=",
    "cwd": "--cwd=", "flags": "--flags=", "begin_time": "--begin-time=",
    "signal": "--signal=",
}

_LIST_SEP = "::list::"


def _fail(text: str) -> NoReturn:
    sys.stdout.flush()
    print(f"flux: ERROR: {text}", file=sys.stderr, flush=True)
    raise SystemExit(1)


class Xinput:
    """An input string with the attributes bulksubmit's templates may use."""

    def __init__(self, text: str, methods: dict) -> None:
        self.string = text
        self.methods = methods

    def __str__(self) -> str:
        return self.string

    def __format__(self, spec: str) -> str:
        return format(self.string, spec)

    def __getattr__(self, attr: str) -> Any:
        if attr == "%":
            return os.path.splitext(self.string)[0]
        if attr == "/":
            return os.path.basename(self.string)
        if attr == "//":
            return os.path.dirname(self.string)
        if attr == "/%":
            return os.path.basename(os.path.splitext(self.string)[0])
        methods = self.__dict__.get("methods") or {}
        if attr in methods:
            result = eval(methods[attr], {"os": os, "sys": sys}, {"x": self.string})  # noqa: S307 - the user's code
            if isinstance(result, list):
                return _LIST_SEP.join(result)
            return result
        raise ValueError(f"Unknown input string method '.{attr}'")


def _keep_mustache(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("{{", "=stache=").replace("}}", "=/stache=")
    if isinstance(value, list):
        return [_keep_mustache(v) for v in value]
    return value


def _restore_mustache(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("=stache=", "{{").replace("=/stache=", "}}")
    if isinstance(value, list):
        return [_restore_mustache(v) for v in value]
    return value


class Xcmd:
    """One job's arguments: the original ``args`` with templated values replaced."""

    def __init__(self, args: Any, inputs: list[str] | None = None, **kwargs: Any) -> None:
        self._orig_args = args
        methods = getattr(args, "methods", None) or {}
        xinputs = [Xinput(x, methods) for x in inputs or ()]
        self.command: list[str] = []
        for word in args.command:
            try:
                done = _keep_mustache(word).format(*xinputs, **kwargs).split(_LIST_SEP)
            except (IndexError, KeyError):
                _fail(f"Invalid replacement string in command: '{word}'")
            self.command.extend(_restore_mustache(done))
        self.modified: dict[str, bool] = {}
        for attr, opt in MUTABLE.items():
            value = getattr(args, attr, None)
            if value is None:
                continue
            value = _keep_mustache(value)
            new: Any
            try:
                if isinstance(value, str):
                    new = value.format(*xinputs, **kwargs)
                elif isinstance(value, list):
                    new = [v.format(*xinputs, **kwargs) for v in value]
                else:
                    new = value
            except IndexError:
                _fail(f"Invalid replacement index in {opt}{value}'")
            except KeyError as exc:
                _fail(f"Replacement key {exc} not found in '{opt}{value}'")
            new = _restore_mustache(new)
            setattr(self, attr, new)
            if value != new or attr == "cc":
                self.modified[attr] = True

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.__dict__["_orig_args"], attr)

    def __str__(self) -> str:
        words = []
        for attr, opt in MUTABLE.items():
            value = getattr(self, attr, None)
            if attr in self.modified and value:
                words.append(f"{opt}{value}")
        words.extend(self.command)
        return " ".join(words)


def substitute(args: Any, **kwargs: Any) -> Xcmd:
    """``args`` with ``{NAME}`` replaced by ``kwargs`` (``flux submit --cc``'s ``{cc}``)."""
    return Xcmd(args, **kwargs)
