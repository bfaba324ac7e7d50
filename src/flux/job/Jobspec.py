"""``Jobspec`` and ``JobspecV1``: building and checking a job request (RFC 14, RFC 25).

flux-core's names, factories, setters and errors (TypeError or ValueError with
its wording), so scripts that build jobspecs for flux-core run unchanged.
These are flux-core's client-side checks only; job-ingest applies flux-core's
submission checks (``flux.services.job_ingest.validator``).  RFC 25's stricter
schema (``flux.services.job_ingest.jobspec``) is applied only by job-ingest's
``schema`` validator plugin, when an instance's ``[ingest.validator]`` asks for it,
since flux-core's classes build jobspecs it would refuse (a node marked ``exclusive``).
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
from collections import abc

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any

__all__ = ["Jobspec", "JobspecV1", "validate_counts", "validate_jobspec"]

_IDSET = re.compile(r"^\[?\d+(-\d+)?(,\d+(-\d+)?)*\]?$")
_FSD = re.compile(r"^(.*?)(ms|s|m|h|d)$")
_FSD_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_fsd(text: str) -> float:
    """Seconds in a Flux Standard Duration (RFC 23); ValueError if it is not one."""
    if text in ("inf", "infinity", "INF", "INFINITY"):
        return float("inf")
    match = _FSD.match(text)
    try:
        value = float(match.group(1) if match else text)
    except ValueError:
        raise ValueError("invalid Flux standard duration") from None
    seconds = value * _FSD_SCALE[match.group(2) if match else "s"]
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("invalid Flux standard duration")
    return seconds


def _set_tree(tree: dict[str, Any], key: str, value: Any) -> None:
    """``tree[a][b][c] = value`` for ``"a.b.c"``, creating levels on the way."""
    *parents, last = key.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def _del_tree(tree: dict[str, Any], key: str) -> None:
    """Delete ``"a.b.c"`` and the levels it leaves empty; KeyError if missing."""
    head, _, rest = key.partition(".")
    if not rest:
        del tree[head]
        return
    _del_tree(tree[head], rest)
    if isinstance(tree[head], abc.Mapping) and not tree[head]:
        del tree[head]


def _fileref(data: Any, perms: int, encoding: str | None) -> dict[str, Any]:
    """An RFC 37 file object: ``data`` is content (a dict, or text in ``encoding``)
    or else the path of a file whose content is read now."""
    import stat

    ref: dict[str, Any] = {"mode": perms | stat.S_IFREG}
    if isinstance(data, dict):
        ref["data"] = data
    elif encoding is not None:
        if encoding not in ("base64", "utf-8"):
            raise ValueError("invalid encoding: {encoding}")  # flux-core's text, braces included
        ref["data"] = data
        ref["encoding"] = encoding
    else:
        st = os.stat(data)
        ref["size"] = st.st_size
        ref["mode"] = st.st_mode
        with open(data, "rb") as infile:
            content = infile.read()
        try:
            ref["data"] = content.decode("utf-8")
            ref["encoding"] = "utf-8"
        except UnicodeError:
            import base64

            ref["data"] = base64.b64encode(content).decode("utf-8")
            ref["encoding"] = "base64"
    return ref


def _convert_jobspec_arg_to_string(jobspec: Any) -> bytes | str:
    """What may be submitted: a Jobspec (dumped), or its text as str or bytes."""
    if isinstance(jobspec, Jobspec):
        return jobspec.dumps()
    if isinstance(jobspec, str):
        return jobspec.encode("utf-8", errors="surrogateescape")
    if jobspec is None:
        raise OSError(errno.EINVAL, "jobspec must not be None/NULL")
    if not isinstance(jobspec, bytes):
        raise TypeError("jobspec must be a Jobspec or string (either binary or unicode)")
    return jobspec


def _validate_keys(expected: Any, given: Any, keys_optional: bool = False,
                   allow_additional: bool = False) -> None:
    expected, given = set(expected), set(given)
    if not keys_optional:
        for key in expected - given:
            raise ValueError(f"Missing key ({key})")
    if not allow_additional:
        for key in given - expected:
            raise ValueError(f"Extraneous key ({key})")


def _validate_dependency(dep: Any) -> None:
    _validate_keys(["scheme", "value"], dep.keys(), allow_additional=True)
    if not isinstance(dep["scheme"], str):
        raise TypeError("dependency scheme must be a string")
    if not isinstance(dep["value"], str):
        raise TypeError("dependency value must be a string")


def _validate_constraint_op(operator: Any, args: Any) -> None:
    if not isinstance(operator, str):
        raise TypeError(f"constraint operation {operator} is not a string")
    if not isinstance(args, abc.Sequence):
        raise TypeError(f"argument to constraint {operator} must be a sequence")
    if operator in ("and", "or", "not"):
        for constraint in args:
            _validate_constraint(constraint)
    elif operator == "properties":
        for name in args:
            if any(c in "&'\"`|()" for c in name):
                raise TypeError(f"invalid character in property '{name}'")
    elif operator == "ranks":
        for ranks in args:
            if not _IDSET.match(str(ranks)):
                raise ValueError(f"IDset(): Invalid argument: {ranks}")
    elif operator != "hostlist":  # hosts are checked by the scheduler here
        raise TypeError(f"unknown constraint operator '{operator}'")


def _validate_constraint(constraints: Any) -> None:
    """An RFC 31 constraint object."""
    if not isinstance(constraints, abc.Mapping):
        raise TypeError("constraints must be a mapping")
    for operator, args in constraints.items():
        _validate_constraint_op(operator, args)


def validate_jobspec(jobspec: Any, require_version: int | None = None) -> tuple[Any, ...]:
    """``(True, Jobspec)`` if ``jobspec`` (object or JSON text) is valid; raises otherwise.

    The class follows the jobspec's ``version`` unless ``require_version`` says 1.
    """
    obj = json.loads(_convert_jobspec_arg_to_string(jobspec))
    if obj is None:
        return (1, "Unable to parse JSON")
    _validate_keys(Jobspec.top_level_keys, obj.keys())
    if require_version == 1 or obj.get("version", 0) == 1:
        return True, JobspecV1(**obj)
    return True, Jobspec(**obj)


def validate_counts(resources: Any) -> None:
    """Every resource count (nested ones too) must be an integer."""
    for resource in resources:
        count = resource["count"]
        if not isinstance(count, int):
            raise ValueError(
                f"resource count must be an integer for type '{resource['type']}' "
                f"(got '{type(count).__name__}')")
        validate_counts(resource.get("with", []))


def _attr_key_prepend(key: str) -> str:
    """``duration`` -> ``attributes.system.duration``; ``user.x`` -> ``attributes.user.x``."""
    if key.startswith("attributes."):
        return key
    if not key.startswith(("user.", "system.")):
        key = "system." + key
    return "attributes." + key


class Jobspec:
    """A canonical jobspec (RFC 14), checked on construction."""

    top_level_keys = {"resources", "tasks", "version", "attributes"}

    def __init__(self, resources: Any, tasks: Any, attributes: Any, version: Any) -> None:
        if not isinstance(resources, abc.Sequence):
            raise TypeError("resources must be a sequence")
        if not isinstance(tasks, abc.Sequence):
            raise TypeError("tasks must be a sequence")
        if not isinstance(attributes, abc.Mapping):
            raise TypeError("attributes must be a mapping")
        if not isinstance(version, int):
            raise TypeError("version must be an integer")
        if version < 1:
            raise ValueError("version must be >= 1")
        self.jobspec: dict[str, Any] = {"resources": resources, "tasks": tasks,
                        "attributes": attributes, "version": version}
        for res in self:
            self._validate_resource(res)
        for task in tasks:
            self._validate_task(task)
        self._validate_attributes(attributes)
        if "system" in attributes:
            self._validate_system_attributes(attributes["system"])

    # -- construction from files ---------------------------------------------------------

    @classmethod
    def from_yaml_stream(cls, yaml_stream: Any) -> Jobspec:
        """From a YAML (or JSON) file-like object or text."""
        import yaml

        obj = yaml.safe_load(yaml_stream)
        _validate_keys(cls.top_level_keys, obj.keys())
        return cls(**obj)

    @classmethod
    def from_yaml_file(cls, filename: str) -> Jobspec:
        with open(filename, "rb") as infile:
            return cls.from_yaml_stream(infile)

    # -- checks ---------------------------------------------------------------------------

    @staticmethod
    def _validate_complex_range(range_dict: Any) -> None:
        if "min" not in range_dict:
            raise ValueError("min must be in range")
        _validate_keys(["min", "max", "operand", "operator"], range_dict.keys(),
                       keys_optional=True)
        for key in ("min", "max", "operand"):
            if key not in range_dict:
                continue
            if not isinstance(range_dict[key], int):
                raise TypeError(f"{key} must be an int")
            if range_dict[key] < 1:
                raise ValueError(f"{key} must be > 0")
        if "max" in range_dict and range_dict["max"] < range_dict["min"]:
            raise ValueError("max must be >= min")
        if ("operand" in range_dict) != ("operator" in range_dict):
            raise ValueError("operand and operator must both be in range if either is")
        if "operator" in range_dict:
            operator = range_dict["operator"]
            if not isinstance(operator, str) or len(operator) != 1:
                raise TypeError("operator must be a single character str")
            if operator not in ("+", "*", "^"):
                raise ValueError("operator must be one of ['+', '*', '^']")
            if operator in ("*", "^") and range_dict["operand"] < 2:
                raise ValueError("operand must be > 1 for '*' or '^' operator")
            if operator == "^" and range_dict["min"] < 2:
                raise ValueError("min must be > 1 for '^' operator")

    @classmethod
    def _validate_count_string(cls, count: str) -> None:
        if _IDSET.match(count):
            return
        values = count.split(":")
        if len(values) > 3 or ("-" not in values[0] and "+" not in values[0]):
            raise ValueError("count string must be a valid idset or range")
        range_dict: dict[str, Any] = {}
        if "-" in values[0]:
            rmin, _, rmax = values[0].partition("-")
            range_dict["max"] = int(rmax)
        else:
            rmin = values[0].rstrip("+")
        range_dict["min"] = int(rmin)
        if len(values) > 1:
            range_dict["operand"] = int(values[1])
            range_dict["operator"] = "+"
        if len(values) > 2:
            range_dict["operator"] = values[2]
        cls._validate_complex_range(range_dict)

    @classmethod
    def _validate_resource(cls, res: Any) -> None:
        if not isinstance(res, abc.Mapping):
            raise TypeError("resource must be a mapping")
        if "type" not in res:
            raise ValueError("type is a required key for resources")
        if not isinstance(res["type"], str):
            raise TypeError("type must be a string")
        if "count" not in res:
            raise ValueError("count is a required key for resources")
        count = res["count"]
        if isinstance(count, abc.Mapping):
            cls._validate_complex_range(count)
        elif isinstance(count, str):
            cls._validate_count_string(count)
        elif not isinstance(count, int):
            raise TypeError("count must be an int or mapping")
        else:
            if res["type"] in ("node", "slot", "core") and count < 1:
                raise ValueError("node, slot, or core count must be > 0")
            if count < 0:
                raise ValueError("count must be >= 0")
        for key in ("id", "unit", "label"):
            if key in res and not isinstance(res[key], str):
                raise TypeError(f"{key} must be a string")
        if "exclusive" in res and res["exclusive"] not in (True, False):
            raise TypeError("exclusive must be a boolean")
        if res["type"] == "slot" and "label" not in res:
            raise ValueError("slots must have labels")

    @staticmethod
    def _validate_task(task: Any) -> None:
        if not isinstance(task, abc.Mapping):
            raise TypeError("task must be a mapping")
        _validate_keys(["command", "slot", "count"], task.keys(), allow_additional=True)
        count = task["count"]
        if not isinstance(count, abc.Mapping):
            raise TypeError("count must be a mapping")
        if len(count) != 1:
            raise ValueError("count must have exactly one key set")
        if count.keys().isdisjoint({"per_slot", "per_resource", "total"}):
            raise ValueError("count per_slot, per_resource, or total must be set")
        for key in ("total", "per_slot"):
            if key in count:
                if not isinstance(count[key], int):
                    raise TypeError(f"count {key} must be an int")
                if count[key] <= 0:
                    raise ValueError(f"count {key} must be > 0")
        if not isinstance(task["slot"], str):
            raise TypeError("slot must be a string")
        if "attributes" in task and not isinstance(task["attributes"], abc.Mapping):
            raise TypeError("attributes must be a mapping")
        command = task["command"]
        if len(command) == 0:
            raise TypeError("command array cannot have length of zero")
        if isinstance(command, str) or not isinstance(command, abc.Sequence) \
                or not all(isinstance(arg, str) for arg in command):
            raise TypeError("command must be a list of strings")

    @staticmethod
    def _validate_attributes(attributes: Any) -> None:
        _validate_keys(["system", "user"], attributes.keys(), keys_optional=True)

    @staticmethod
    def _validate_system_attributes(system: Any) -> None:
        if "dependencies" in system:
            if not isinstance(system["dependencies"], abc.Sequence):
                raise TypeError("attributes.system.dependencies must be a list")
            for dependency in system["dependencies"]:
                _validate_dependency(dependency)
        if "constraints" in system:
            _validate_constraint(system["constraints"])

    @staticmethod
    def _create_resource(res_type: str, count: int, with_child: Any = None,
                         exclusive: bool = False) -> dict[str, Any]:
        if with_child is not None and (not isinstance(with_child, abc.Sequence)):
            raise TypeError("child resource must None or a sequence")
        if isinstance(with_child, str):
            raise TypeError("child resource must not be a string")
        if not count > 0:
            raise ValueError("resource count must be > 0")
        res: dict[str, Any] = {"type": res_type, "count": count}
        if exclusive:
            res["exclusive"] = True
        if with_child:
            res["with"] = with_child
        return res

    @classmethod
    def _create_slot(cls, label: str, count: int, with_child: Any) -> dict[str, Any]:
        slot = cls._create_resource("slot", count, with_child)
        slot["label"] = label
        return slot

    # -- attributes -----------------------------------------------------------------------

    def _system(self, key: str) -> Any:
        try:
            return self.jobspec["attributes"]["system"][key]
        except KeyError:
            return None

    @property
    def duration(self) -> Any:
        """The time limit in seconds (0: none); set from seconds, an FSD string or a timedelta."""
        return self._system("duration")

    @duration.setter
    def duration(self, duration: Any) -> None:
        import datetime

        if isinstance(duration, str):
            seconds = parse_fsd(duration)
        elif isinstance(duration, datetime.timedelta):
            seconds = duration.total_seconds()
        elif isinstance(duration, (float, int)):
            seconds = float(duration)
        else:
            raise TypeError("duration must be an int, float, string, or timedelta")
        if seconds < 0:
            raise ValueError("duration must not be negative")
        if math.isnan(seconds) or math.isinf(seconds):
            raise ValueError("duration must be a normal, finite value")
        self.setattr("system.duration", seconds)

    @property
    def queue(self) -> str | None:
        """The queue the job is submitted to."""
        value: str | None = self._system("queue")
        return value

    @queue.setter
    def queue(self, queue: str) -> None:
        if not isinstance(queue, str):
            raise TypeError("queue must be a string")
        self.setattr("system.queue", queue)

    @property
    def cwd(self) -> str | None:
        """The job's working directory (a str or path-like when set)."""
        value: str | None = self._system("cwd")
        return value

    @cwd.setter
    def cwd(self, cwd: Any) -> None:
        if isinstance(cwd, os.PathLike):
            cwd = os.fspath(cwd)
        if not isinstance(cwd, str):
            raise ValueError("cwd must be a string")
        self.setattr("system.cwd", cwd)

    @property
    def environment(self) -> dict[str, Any] | None:
        """The job's whole environment (assigned as is, not copied)."""
        value: dict[str, Any] | None = self._system("environment")
        return value

    @environment.setter
    def environment(self, environ: Any) -> None:
        if not isinstance(environ, abc.Mapping):
            raise ValueError("environment must be a mapping")
        self.setattr("system.environment", environ)

    def _get_io_path(self, iotype: str, stream_name: str) -> str | None:
        try:
            path: str = self.jobspec["attributes"]["system"]["shell"]["options"][iotype][
                stream_name]["path"]
            return path
        except KeyError:
            return None

    def _set_io_path(self, iotype: str, stream_name: str, path: Any) -> None:
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if not isinstance(path, str):
            raise TypeError("The path must be a string or pathlib object, "
                            f"got {type(path).__name__}")
        self.setattr_shell_option(f"{iotype}.{stream_name}.type", "file")
        self.setattr_shell_option(f"{iotype}.{stream_name}.path", path)

    @property
    def input(self) -> str | None:
        """The file the job's stdin is read from."""
        return self._get_io_path("input", "stdin")

    @input.setter
    def input(self, path: Any) -> None:
        self._set_io_path("input", "stdin", path)

    @property
    def output(self) -> str | None:
        """The file the job's stdout goes to (stderr too unless set apart)."""
        return self._get_io_path("output", "stdout")

    @output.setter
    def output(self, path: Any) -> None:
        self._set_io_path("output", "stdout", path)

    @property
    def error(self) -> str | None:
        """The file the job's stderr goes to."""
        return self._get_io_path("output", "stderr")

    @error.setter
    def error(self, path: Any) -> None:
        self._set_io_path("output", "stderr", path)

    stdin = input
    stdout = output
    stderr = error

    @property
    def unbuffered(self) -> bool:
        """True when stdout and stderr are unbuffered."""
        try:
            both: bool = (self.getattr("shell.options.output.stdout.buffer.type") == "none"
                          and self.getattr("shell.options.output.stderr.buffer.type") == "none")
            return both
        except KeyError:
            return False

    @unbuffered.setter
    def unbuffered(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError("unbuffered must be True or False")
        if value:
            self.setattr_shell_option("output.stdout.buffer.type", "none")
            self.setattr_shell_option("output.stderr.buffer.type", "none")
            self.setattr_shell_option("output.batch-timeout", 0.05)
            self.setattr_shell_option("input.batch-timeout", 0.0)
            return
        try:
            _del_tree(self.attributes, "system.shell.options.output.stdout.buffer")
            _del_tree(self.attributes, "system.shell.options.output.stderr.buffer")
            if self.getattr("shell.options.output.batch-timeout") == 0.05:
                _del_tree(self.attributes, "system.shell.options.output.batch-timeout")
            if self.getattr("shell.options.input.batch-timeout") == 0.0:
                _del_tree(self.attributes, "system.shell.options.input.batch-timeout")
        except KeyError:
            pass

    def add_file(self, path: str, data: Any, perms: int | None = None,
                 encoding: str | None = None) -> None:
        """Add a file to the job's RFC 37 archive (``system.files``).

        ``data`` is a dict, content (when it has newlines or ``encoding`` is
        given), or else the path of a local file read now.
        """
        if not isinstance(data, (abc.Mapping, str)):
            raise TypeError("data must be a Mapping or string")
        if perms is None:
            perms = 0o600
        files = self.jobspec["attributes"]["system"].get("files", {})
        if encoding is None and "\n" in data:
            encoding = "utf-8"
        files[path] = _fileref(data, perms, encoding)
        self.jobspec["attributes"]["system"]["files"] = files

    def getattr(self, key: str) -> Any:
        """The attribute at a dotted key (``system.`` assumed); KeyError if missing."""
        value: Any = self.jobspec
        for part in _attr_key_prepend(key).split("."):
            value = value.get(part)
            if value is None:
                raise KeyError
        return value

    def setattr(self, key: str, val: Any) -> None:
        """Set the attribute at a dotted key (``system.`` assumed)."""
        key = _attr_key_prepend(key)
        try:
            _set_tree(self.jobspec, key, val)
        except TypeError as exc:
            raise TypeError(f"failed to set {key} to {val}: {exc}") from None

    def setattr_shell_option(self, key: str, val: Any) -> None:
        """Set ``system.shell.options.<key>``."""
        self.setattr("system.shell.options." + key, val)

    def dumps(self, **kwargs: Any) -> str:
        """The jobspec as JSON text (``json.dumps`` arguments accepted)."""
        return json.dumps(self.jobspec, ensure_ascii=False, **kwargs)

    @property
    def resources(self) -> Any:
        return self.jobspec.get("resources", None)

    @property
    def tasks(self) -> Any:
        return self.jobspec.get("tasks", None)

    @property
    def attributes(self) -> Any:
        return self.jobspec.get("attributes", None)

    @property
    def version(self) -> Any:
        return self.jobspec.get("version", None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The resources, depth first, parents before children."""

        def walk(res_list: Any) -> Iterator[dict[str, Any]]:
            for resource in res_list:
                yield resource
                yield from walk(resource.get("with", []))

        return walk(self.resources)

    def resource_walk(self) -> Iterator[tuple[Any, ...]]:
        """``(parent, resource, count)`` depth first; count multiplied down the ``with`` chain."""

        def walk(res_list: Any, parent: Any, count: int) -> Iterator[tuple[Any, ...]]:
            for resource in res_list:
                total = count * resource["count"]
                yield (parent, resource, total)
                yield from walk(resource.get("with", []), resource, total)

        return walk(self.resources, None, 1)

    def resource_counts(self) -> dict[str, Any]:
        """How many of each resource type the jobspec asks for (units ignored)."""
        import collections

        counts: dict[str, Any] = collections.defaultdict(lambda: 0)
        for _, resource, count in self.resource_walk():
            counts[resource["type"]] += count
        return counts

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.resources}, {self.tasks}, "
                f"attributes={self.attributes}, version={self.version})")

    def __str__(self) -> str:
        return str(self.jobspec)


class JobspecV1(Jobspec):
    """Jobspec version 1 (RFC 25): a duration, one task counted per slot or in total."""

    def __init__(self, resources: Any, tasks: Any, attributes: Any, version: Any = 1) -> None:
        if version != 1:
            raise ValueError("version must be 1")
        super().__init__(resources, tasks, attributes, version)
        self._v1_validate(resources, tasks, attributes, version)

    @staticmethod
    def _v1_validate(resources: Any, tasks: Any, attributes: Any, version: Any) -> None:
        if "system" not in attributes:
            raise ValueError("attributes.system is a required key")
        system = attributes["system"]
        if not isinstance(system, abc.Mapping):
            raise ValueError("attributes.system must be a mapping")
        if "duration" not in system:
            raise ValueError("attributes.system.duration is a required key")
        duration = system["duration"]
        if not isinstance(duration, (int, float)):  # the usual ones, without ``numbers``
            import numbers

            if not isinstance(duration, numbers.Number):
                raise ValueError("attributes.system.duration must be a number")
        for task in tasks:
            if task["count"].keys().isdisjoint({"per_slot", "total"}):
                raise ValueError("count per_slot or total must be set")
        validate_counts(resources)

    def _set_extra_options(self, duration: Any = None, environment: Any = None,
                           env_expand: Any = None, cwd: Any = None, rlimits: Any = None,
                           name: Any = None, input: Any = None, output: Any = None,
                           error: Any = None, label_io: bool = False, unbuffered: bool = False,
                           queue: Any = None, bank: Any = None) -> JobspecV1:
        """The factories' common options; the environment defaults to ``os.environ``."""
        if duration is not None:
            self.duration = duration
        self.environment = dict(os.environ) if environment is None else environment
        if env_expand is not None:
            if not isinstance(env_expand, abc.Mapping):
                raise ValueError("env_expand must be a mapping")
            self.setattr_shell_option("env-expand", env_expand)
        if cwd is not None:
            self.cwd = cwd
        if rlimits is not None:
            if not isinstance(rlimits, abc.Mapping):
                raise ValueError("rlimits must be a mapping")
            self.setattr_shell_option("rlimit", rlimits)
        if name is not None:
            self.setattr("job.name", name)
        if input is not None:
            self.input = input
        if output is not None and output not in ("none", "kvs"):
            self.output = output
            if label_io:
                self.setattr_shell_option("output.stdout.label", True)
        if error is not None and error not in ("none", "kvs"):
            self.error = error
            if label_io:
                self.setattr_shell_option("output.stderr.label", True)
        if unbuffered:
            self.unbuffered = True
        if queue is not None:
            self.setattr("queue", queue)
        if bank is not None:
            self.setattr("bank", bank)
        return self

    @classmethod
    def from_command(cls, command: Any, num_tasks: int = 1, cores_per_task: int = 1,
                     gpus_per_task: int | None = None, num_nodes: int | None = None,
                     exclusive: bool = False, duration: Any = None, environment: Any = None,
                     env_expand: Any = None, cwd: Any = None, rlimits: Any = None,
                     name: Any = None, input: Any = None, output: Any = None,
                     error: Any = None, label_io: bool = False, unbuffered: bool = False,
                     queue: Any = None, bank: Any = None) -> JobspecV1:
        """The smallest v1 jobspec running ``command``: ``num_tasks`` slots of
        ``cores_per_task`` cores (and GPUs), over ``num_nodes`` nodes if given."""
        if not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError("task count must be a integer >= 1")
        if not isinstance(cores_per_task, int) or cores_per_task < 1:
            raise ValueError("cores per task must be an integer >= 1")
        if gpus_per_task is not None and (not isinstance(gpus_per_task, int)
                                          or gpus_per_task < 0):
            raise ValueError("gpus per task must be an integer >= 0")
        if num_nodes is not None:
            if not isinstance(num_nodes, int) or num_nodes < 1:
                raise ValueError("node count must be an integer >= 1 (if set)")
            if num_nodes > num_tasks:
                raise ValueError("node count must not be greater than task count")
        elif exclusive:
            raise ValueError("exclusive can only be set with a node count")
        children = [cls._create_resource("core", cores_per_task)]
        if gpus_per_task not in (None, 0):
            children.append(cls._create_resource("gpu", gpus_per_task))
        task_count: dict[str, Any] = {"per_slot": 1}
        if num_nodes is not None:
            if num_tasks % num_nodes:
                task_count = {"total": num_tasks}  # uneven: some slots stay unused
            slot = cls._create_slot("task", -(-num_tasks // num_nodes), children)
            top = cls._create_resource("node", num_nodes, [slot], exclusive)
        else:
            top = cls._create_slot("task", num_tasks, children)
        tasks = [{"command": command, "slot": "task", "count": task_count}]
        jobspec = cls([top], tasks, attributes={"system": {"duration": 0}})
        return jobspec._set_extra_options(
            duration=duration, environment=environment, env_expand=env_expand, cwd=cwd,
            rlimits=rlimits, name=name, input=input, output=output, error=error,
            label_io=label_io, unbuffered=unbuffered, queue=queue, bank=bank)

    @classmethod
    def per_resource(cls, command: Any, ncores: int | None = None, nnodes: int | None = None,
                     per_resource_type: str | None = None,
                     per_resource_count: int | None = None,
                     gpus_per_node: int | None = None, exclusive: bool = False,
                     **kwargs: Any) -> JobspecV1:
        """A v1 jobspec from a count of cores and/or nodes, with tasks per node or core.

        The tasks are placed by the job shell's ``per-resource`` option (one
        per slot otherwise); ``kwargs`` are ``from_command``'s extra options.
        """
        per_resource = None
        if per_resource_type is not None and per_resource_count is not None:
            if not isinstance(per_resource_type, str):
                raise ValueError("per_resource_type must be a string")
            if per_resource_type not in ("node", "core"):
                raise ValueError(f"Invalid per_resource_type='{per_resource_type}' specified")
            if not isinstance(per_resource_count, int):
                raise ValueError("per_resource_count must be an integer")
            if per_resource_count < 1:
                raise ValueError("per_resource_count must be >= 1")
            per_resource = {"type": per_resource_type, "count": per_resource_count}
        elif per_resource_type is not None:
            raise ValueError("must specify a per_resource_count with per_resource_type")
        elif per_resource_count is not None:
            raise ValueError("must specify a per_resource_type with per_resource_count")
        if ncores is not None and (not isinstance(ncores, int) or ncores < 1):
            raise ValueError("ncores must be an integer >= 1")
        if gpus_per_node is not None:
            if not isinstance(gpus_per_node, int) or gpus_per_node < 0:
                raise ValueError("gpus_per_node must be an integer >= 0")
            if not nnodes:
                raise ValueError("gpus_per_node must be specified with nnodes")
        if nnodes is not None:
            if not isinstance(nnodes, int) or nnodes < 1:
                raise ValueError("nnodes must be an integer >= 1")
        elif exclusive:
            raise ValueError("exclusive can only be set with a node count")
        if nnodes and ncores:
            if ncores < nnodes:
                raise ValueError("number of cores cannot be less than nnodes")
            if ncores % nnodes:
                raise ValueError("number of cores must be evenly divisible by node count")
            nslots, slot_size = 1, ncores // nnodes  # one slot per node
        elif ncores:
            nslots, slot_size = ncores, 1
        elif nnodes:
            if not exclusive:
                raise ValueError("Specifying nnodes also requires ncores or exclusive")
            nslots, slot_size = 1, 1
        else:
            raise ValueError("must specify node or core count with per_resource")
        children = [cls._create_resource("core", slot_size)]
        if gpus_per_node:
            children.append(cls._create_resource("gpu", gpus_per_node))
        top = cls._create_slot("task", nslots, children)
        if nnodes:
            top = cls._create_resource("node", nnodes, [top], exclusive)
        tasks = [{"command": command, "slot": "task", "count": {"per_slot": 1}}]
        attributes: dict[str, Any] = {"system": {"duration": 0}}
        if per_resource:
            attributes["system"]["shell"] = {"options": {"per-resource": per_resource}}
        return cls([top], tasks, attributes=attributes)._set_extra_options(**kwargs)

    @classmethod
    def from_nest_command(cls, command: Any, num_slots: int = 1, cores_per_slot: int = 1,
                          gpus_per_slot: int | None = None, num_nodes: int | None = None,
                          broker_opts: Any = None, exclusive: bool = False, conf: Any = None,
                          **kwargs: Any) -> JobspecV1:
        """A jobspec starting a Flux instance (``flux broker``) that runs ``command``."""
        broker_opts = list(broker_opts) if broker_opts is not None else []
        if conf is not None:
            broker_opts.append("-c{{tmpdir}}/conf.json")
        jobspec = cls.from_command(
            command=["flux", "broker", *broker_opts, *command], num_tasks=num_slots,
            cores_per_task=cores_per_slot, gpus_per_task=gpus_per_slot,
            num_nodes=num_nodes, exclusive=exclusive, **kwargs)
        jobspec.setattr_shell_option("per-resource.type", "node")
        jobspec.setattr_shell_option("mpi", "none")
        jobspec.setattr_shell_option("exit-timeout", "none")
        if conf is not None:
            jobspec.add_file("conf.json", conf)
        return jobspec

    @classmethod
    def from_batch_command(cls, script: str, jobname: str, args: Any = None,
                           num_slots: int = 1, cores_per_slot: int = 1,
                           gpus_per_slot: int | None = None, num_nodes: int | None = None,
                           broker_opts: Any = None, exclusive: bool = False, conf: Any = None,
                           **kwargs: Any) -> JobspecV1:
        """A Flux instance whose initial program is ``script`` (text starting ``#!``)."""
        if not script.startswith("#!"):
            raise ValueError(f"{jobname} does not appear to start with '#!'")
        jobspec = cls.from_nest_command(
            command=["{{tmpdir}}/script", *(args or ())], num_slots=num_slots,
            cores_per_slot=cores_per_slot, gpus_per_slot=gpus_per_slot, num_nodes=num_nodes,
            broker_opts=broker_opts, exclusive=exclusive, conf=conf, name=jobname, **kwargs)
        jobspec.add_file("script", script, perms=0o700, encoding="utf-8")
        return jobspec
