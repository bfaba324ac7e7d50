"""What ``flux batch`` and ``flux alloc`` share (flux-core 0.88's ``BatchAllocCmd``):
the submission options, resource *slots* (``-n/--nslots``, ``-c/--cores-per-slot``,
``-g/--gpus-per-slot``, ``-N/--nodes``, ``-x``), ``--broker-opts``, ``--conf``,
``--dump``, and the jobspec of a nested instance: one ``flux broker`` per node of the
allocation (``-o per-resource.type=node``), bootstrapped by the job shell's PMI.
"""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["parser", "init_common", "finish_jobspec", "submit", "conf_value"]


class _ConfAction(argparse.Action):
    """``--conf``: JSON text, TOML text, KEY=VALUE or a .json/.toml file; merged."""

    def __call__(self, parser: Any, namespace: Any, values: Any,
                 option_string: Any = None) -> None:
        conf = getattr(namespace, self.dest, None) or {}
        try:
            _merge(conf, conf_value(values))
        except ValueError as exc:
            parser.error(f"--conf: {exc}")
        setattr(namespace, self.dest, conf)


def _merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def conf_value(text: str) -> dict:
    """One ``--conf`` argument as a config table (ValueError if it is none)."""
    import json

    from flux._util_config import _tomllib

    def toml_loads(body: str) -> dict:
        return _tomllib().loads(body)  # its errors are ValueErrors

    if os.path.isfile(text):
        with open(text, encoding="utf-8") as f:
            body = f.read()
        try:
            return json.loads(body) if text.endswith(".json") else toml_loads(body)
        except ValueError as exc:
            raise ValueError(f"{text}: {exc}") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value
    try:
        return toml_loads(text)  # TOML text, or one key=value line
    except ValueError as exc:
        raise ValueError(f"{text}: {exc}") from None


def parser(prog: str, usage: str) -> argparse.ArgumentParser:
    from ._job_cli import parser as make_parser
    from ._job_submit_options import add_common_options

    p = make_parser(prog, usage=usage, add_help=False)
    p.prog = prog.replace("-", " ", 1)
    add_common_options(p)
    add = p.add_argument
    add("--add-brokers", default=0, type=int, help=argparse.SUPPRESS)
    add("--conf", metavar="CONF", default=None, action=_ConfAction,
        help="Set configuration for a child Flux instance. CONF may be a multiline "
             "string in JSON or TOML, a configuration key=value, a path to a JSON or TOML "
             "file. This option may specified multiple times, in which case the config is "
             "iteratively updated.")
    add("--broker-opts", "--broker-opt", metavar="OPTS", default=None, action="append",
        help="Pass options to flux brokers")
    add("--dump", nargs="?", const="flux-{{jobid}}-dump.tgz", metavar="FILE",
        help="Archive KVS on exit")
    add("-n", "--nslots", type=int, metavar="N",
        help="Number of total resource slots requested. The size of a resource slot may "
             "be specified via the -c, --cores-per-slot and -g, --gpus-per-slot options. "
             "The default slot size is 1 core.")
    add("-c", "--cores-per-slot", type=int, metavar="N", default=1,
        help="Number of cores to allocate per slot")
    add("-g", "--gpus-per-slot", type=int, metavar="N",
        help="Number of GPUs to allocate per slot")
    add("-N", "--nodes", type=int, metavar="N",
        help="Distribute allocated resource slots across N individual nodes")
    add("-x", "--exclusive", action="store_true",
        help="With -N, --nodes, allocate nodes exclusively")
    return p


def _split(opts: Any) -> list[str]:
    """``--broker-opts`` values, each split on commas (flux-core's ``list_split``)."""
    out: list[str] = []
    for opt in opts or ():
        out.extend(o for o in opt.split(",") if o)
    return out


def init_common(args: Any) -> None:
    """Slots from nodes when not given; ``--dump``; ``--add-brokers``."""
    if not args.nslots:
        if not args.nodes:
            args.nodes = 1
        args.nslots = args.nodes
        args.exclusive = True
    if args.dump:
        args.broker_opts = (args.broker_opts or []) + ["-Scontent.dump=" + args.dump]
    if args.add_brokers > 0:
        if not args.nodes:
            raise ValueError("--add-brokers may only be specified with -N, --nnodes")
        raise ValueError("--add-brokers is not supported (the shell has no manual taskmap)")


def nest_options(args: Any) -> dict:
    """The keyword arguments of ``JobspecV1.from_nest_command``/``from_batch_command``."""
    return dict(num_slots=args.nslots, cores_per_slot=args.cores_per_slot,
                gpus_per_slot=args.gpus_per_slot, num_nodes=args.nodes,
                broker_opts=_split(args.broker_opts), exclusive=args.exclusive,
                conf=args.conf, cwd=args.cwd if args.cwd is not None else os.getcwd(),
                unbuffered=args.unbuffered, queue=args.queue, bank=args.bank)


def finish_jobspec(jobspec: Any, args: Any) -> Any:
    """The options every submission command applies (environment, limits, -o, -S...)."""
    from ._job_jobspec import apply_common_options

    time_limit = args.time_limit
    if time_limit is not None:
        try:
            time_limit = float(time_limit) * 60  # bare numbers are minutes
        except ValueError:
            pass
    jobspec = apply_common_options(jobspec, args, time_limit)
    # the job runs "flux broker": flux-core's flux(1) puts its own directory first in
    # the PATH its subcommands (this one) see, so the job finds the same flux
    from flux.environment import flux_environment

    env = jobspec.environment
    if isinstance(env, dict):
        env["PATH"] = dict(flux_environment(env))["PATH"]
    return jobspec


def submit(h: Any, jobspec: Any, args: Any) -> Any:
    """Submit; the job's id (JobID)."""
    from flux.job.submit import submit_async

    from ._job_submit_bulk import submit_flags, urgency_value

    return submit_async(h, jobspec.dumps(), urgency=urgency_value(args.urgency),
                        **submit_flags(args)).get_id()
