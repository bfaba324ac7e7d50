"""The broker: wires loop, router, connector, attributes, log, events and
modules together, and the services rank 0 holds.

An instance of many brokers (``flux start --test-size=N``, or any PMI-1
launcher: ``PMI_RANK``/``PMI_SIZE``/``PMI_FD`` in the environment) first
bootstraps through PMI (overlay/boot_pmi.py), then runs the overlay
(overlay/overlay.py) in the same loop; only rank 0 has the KVS, content and
job services (other ranks reach them upstream), and the states that wait for
the parent and the children are overlay/states.py's.  A size-1 instance
never imports the overlay (nor pyzmq).

This file builds a ``Broker`` (its attributes and parts); the class's other
responsibilities are mixins, one file each:

- broker_tbon.py: PMI or config bootstrap, the overlay, rank 0's reports;
- broker_lifecycle.py: state machine, runat and shutdown glue, ``run``, ``cleanup``;
- broker_program.py: the initial program, signals, the guardian;
- broker_services.py: ``broker.*`` and the default ``NAME.ping``/``NAME.rusage``;
- broker_config.py: ``config.*`` and access settings;
- broker_enclosing.py: the instance level and the ``uri`` memo of a nested instance;
- broker_fields.py: the attributes they share, typed for mypy.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any, Optional

import flux
from flux.codec import DEFAULT_MAX_MESSAGE_SIZE

from . import config
from .attrs import Attrs, check_cmdline
from .broker_config import ConfigAccess
from .broker_enclosing import Enclosing
from .broker_error import BrokerError
from .broker_lifecycle import Lifecycle
from .broker_program import InitialProgram
from .broker_services import BuiltinMethods
from .broker_tbon import TreeMember
from .connector import Connector
from .content import Content
from .events import Events
from .heartbeat import Heartbeat
from .job_info import JobInfo
from .job_ingest import JobIngest
from .job_list import JobList
from .job_manager import JobManagerService
from .job_exec import JobExec
from .kvs import KVS
from .kvs_watch import KVSWatch
from .log import Log
from .loop import ChildWatch, Loop
from .modules import ModuleTable
from .resource import Resource
from .router import Router
from .sched import Sched
from .topology import DEFAULT_FANOUT, Topology, parse_topo
from .rundir import make_rundir, remove_tree
from .uuids import uuid4

if TYPE_CHECKING:  # subprocess is imported where a program starts: ~5 ms of every start-up
    import subprocess

__all__ = ["Broker", "BrokerError", "parse_setattr"]

# After handling traffic the loop polls without sleeping this long (µs):
# the next request of a client in a request/response loop usually arrives
# within it, saving a process wake-up (bench/ping.py measures it).
DEFAULT_SPIN_US = 150.0


def parse_setattr(items: list[str]) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` -> dict (a bare NAME means the empty string)."""
    from .setattr_items import split_setattr

    try:
        return split_setattr(items)
    except ValueError as exc:
        raise BrokerError(str(exc)) from None


class Broker(TreeMember, Lifecycle, InitialProgram, BuiltinMethods, ConfigAccess, Enclosing):
    """One broker process (rank 0 of a size-1 instance)."""

    def __init__(self, setattrs: Optional[dict[str, str]] = None,
                 command: Optional[list[str]] = None,
                 environ: Optional[dict[str, str]] = None,
                 interactive_shell: bool = False) -> None:
        self.setattrs = dict(setattrs or {})
        self.command = list(command) if command else None
        self.environ = dict(os.environ if environ is None else environ)
        self.interactive_shell = interactive_shell
        for name in self.setattrs:  # as flux-core: registered names only, not READONLY ones
            try:
                check_cmdline(name)
            except ValueError as exc:
                raise BrokerError(f"{name}: {exc}") from None
        self.uuid = uuid4()
        self.pmi: Any = None
        #: (jobid, instance-level) when a job shell of an enclosing instance launched us
        self.enclosing: Optional[tuple[str, str]] = None
        self.overlay: Any = None
        self.tree_states: Any = None
        rank, size = self._pmi_init()
        self.boot_conf: Any = None
        if self.pmi is None:
            self.boot_conf = self._config_boot_early()
            if self.boot_conf is not None:
                rank, size = self.boot_conf.rank, self.boot_conf.size
        topo = self.setattrs.get("tbon.topo")
        fanout_s = self.setattrs.get("tbon.fanout")
        if fanout_s is not None:
            topo = f"kary:{fanout_s}"
        parents = None
        if topo is None and self.boot_conf is not None:
            from .overlay.boot_config import BootConfigError

            topo = "custom"
            try:
                parents = self.boot_conf.parents()
            except BootConfigError as exc:
                raise BrokerError(str(exc)) from None
        self.topo_uri = topo or f"kary:{DEFAULT_FANOUT}"
        try:
            fanout = 0 if parents is not None else parse_topo(self.topo_uri)
        except ValueError as exc:
            self._pmi_abort(str(exc))
            raise BrokerError(f"tbon.topo: {exc}") from None
        self.topology = Topology(rank=rank, size=size, fanout=fanout, parents=parents)
        if rank > 0:  # only rank 0 runs the initial program (mpiexec gives all the same argv)
            self.command = None
        self.owner = os.getuid()
        self.start_time = time.time()
        spin = self.setattrs.pop("broker.spin-us", str(DEFAULT_SPIN_US))
        try:
            self.spin_us = float(spin)
            if not 0 <= self.spin_us <= 100000:
                raise ValueError
        except ValueError:
            raise BrokerError(f"broker.spin-us: invalid value {spin!r}") from None
        limit = self.setattrs.pop("broker.message-max", str(DEFAULT_MAX_MESSAGE_SIZE))
        message_max = _parse_size(limit)
        if message_max is None or not 1024 <= message_max <= DEFAULT_MAX_MESSAGE_SIZE:
            raise BrokerError(f"broker.message-max: invalid value {limit!r} "
                              f"(1024 to {DEFAULT_MAX_MESSAGE_SIZE} bytes, or with k, M, G)")
        self.message_max: int = message_max
        # FLUX_SPIN_POLICY=always: spin after every wake-up (the old default); see loop.py
        self.loop = Loop(spin_us=self.spin_us,
                         adaptive=os.environ.get("FLUX_SPIN_POLICY", "adaptive") != "always")
        self.router = Router(self.uuid, self.topology, self.owner)
        self.attrs = Attrs()
        self.rundir_created = False
        self.proc: Optional[subprocess.Popen] = None
        self.proc_pgid: Optional[int] = None
        self.guardian: Optional[int] = None  # kills the program's group if we die (flux.parentdeath)
        self.proc_status: Optional[int] = None
        self.proc_started = 0.0
        self.proc_watch: Optional[ChildWatch] = None
        self.kill_timer: Any = None
        self.stopping = False
        self.exit_code = 0
        self._setup()

    # -- construction ---------------------------------------------------------------

    def _setup(self) -> None:
        sa = self.setattrs
        attrs = self.attrs
        rundir = sa.pop("rundir", None)
        if rundir:
            rundir = os.path.abspath(rundir)
            if not os.path.isdir(rundir):
                try:
                    os.makedirs(rundir, mode=0o755)
                except OSError as exc:
                    raise BrokerError(f"rundir {rundir}: {exc.strerror}") from None
                self.rundir_created = True
        else:
            tmp = self.environ.get("TMPDIR") or "/tmp"
            try:
                rundir = make_rundir(tmp)
            except OSError as exc:
                raise BrokerError(f"rundir {tmp}: {exc.strerror}") from None
            self.rundir_created = True
        if self.rundir_created:
            os.chmod(rundir, 0o755)  # guests must reach the socket inside
        self.rundir = rundir
        rank = self.topology.rank
        local_uri = sa.pop("local-uri", None) or f"local://{rundir}/local-{rank}"
        if not local_uri.startswith("local://"):
            self._remove_rundir()
            raise BrokerError(f"local-uri {local_uri}: only local:// is supported")
        self.local_uri = local_uri
        parent_uri = self.environ.get("FLUX_URI") or None
        level = 0
        if self.enclosing is not None:  # the shell gave our level (as flux-core's boot)
            level = int(self.enclosing[1])
        elif parent_uri:
            level = self._parent_level(parent_uri) + 1
        hostname = sa.pop("hostname", None) or socket.gethostname().split(".")[0]
        own = {
            "rank": str(rank),
            "size": str(self.topology.size),
            "version": flux.FLUX_CORE_COMPAT_VERSION,
            "rundir": rundir,
            "local-uri": local_uri,
            "instance-level": str(level),
            "hostname": hostname,
            "hostlist": sa.pop("hostlist", "") or hostname,
            "broker.pid": str(os.getpid()),
            "broker.uuid": self.uuid,
            "security.owner": str(self.owner),
            "broker.mapping": "[[0,1,1,1]]",
            "broker.boot-method": "pmi" if self.pmi is not None else "single",
        }
        if self.boot_conf is not None:
            del own["broker.boot-method"]  # "config", below
        if self.topology.size > 1:  # from the bootstrap, below
            del own["hostlist"], own["broker.mapping"]
        if parent_uri:
            own["parent-uri"] = parent_uri
        if self.enclosing is not None:  # a job: its id, namespace and path in the parent
            own["jobid"] = self.enclosing[0]
            ns = self.environ.get("FLUX_KVS_NAMESPACE")
            if ns:
                own["parent-kvs-namespace"] = ns
        # "/" unless run as a job, as flux-core (its job shell needs it on every rank)
        own["jobid-path"] = (self.environ.get("FLUX_JOB_ID_PATH") or "/"
                             if self.enclosing is not None else "/")
        own["broker.starttime"] = f"{self.start_time:.2f}"  # as flux-core
        own["broker.spin-us"] = f"{self.spin_us:g}"
        own["broker.message-max"] = str(self.message_max)
        for name, value in own.items():  # flags from the registry (attrs.py)
            attrs.add(name, value)

        self.log = Log(self.router, attrs, rank)
        self.router.logger.disabled = False
        attrs.register(self.router)
        self.events = Events(self.router)
        self.hosts = [own.get("hostlist") or hostname]
        if self.topology.size > 1:
            self._boot_overlay(hostname, sa)
        else:
            from .overlay_solo import register_solo_overlay

            register_solo_overlay(self.router)
        for name, value in self.topology.attributes(self.topo_uri).items():
            attrs.add(name, value)
        sa.pop("tbon.topo", None)
        sa.pop("tbon.fanout", None)
        self.heartbeat = Heartbeat(self.loop, self.events, attrs)
        self.config_path = sa.pop("config.path", None)
        self.conf: dict[str, Any] = {}
        if self.config_path:
            self.config_path = os.path.abspath(self.config_path)
            try:
                self.conf = config.check(config.load(self.config_path))
            except config.ConfigError as exc:
                self._remove_rundir()
                raise BrokerError(str(exc)) from None
            attrs.add("config.path", self.config_path)
        self.connector = Connector(self.loop, self.router, self.events,
                                   local_uri[len("local://"):], self.owner, log=self.log.log,
                                   max_message=self.message_max)
        self._apply_access()
        self._register_config()
        self._register_services()
        from .rexec import Rexec

        self.rexec = Rexec(self.router, self.loop, rank, local_uri)
        if rank == 0:
            self._setup_rank0_services(attrs, sa, hostname)
        self.modules = ModuleTable(self.loop, self.router, self.events, attrs, self.owner,
                                   self.environ, lambda: self.conf, log=self.log.log)
        self._setup_lifecycle(hostname)
        self._module_default_methods(rank)
        # remaining -S values (names checked in __init__): initial values, a setter validates
        for name, value in sa.items():
            try:
                attrs.set_cmdline(name, value)
            except ValueError as exc:
                self._remove_rundir()
                raise BrokerError(f"{name}: {exc}") from None

    def _setup_rank0_services(self, attrs: Attrs, sa: dict[str, str], hostname: str) -> None:
        """The services only rank 0 has (other ranks reach them upstream)."""
        rank = 0
        try:
            self.content = Content(self.router, attrs, sa, self.environ)
        except ValueError as exc:
            self._remove_rundir()
            raise BrokerError(str(exc)) from None
        self.kvs = KVS(self.router, self.events, self.loop, self.content, self.owner,
                       rank, self.log.log)
        self.kvs_watch = KVSWatch(self.router, self.events, self.kvs)
        self.job_manager = JobManagerService(self.router, self.events, self.loop, self.kvs,
                                             self.owner, self.log.log)
        self.job_ingest = JobIngest(self.router, self.loop, self.kvs, self.job_manager,
                                    self.owner, rank, self.log.log)
        parent = None
        parent_uri = attrs.get("parent-uri")
        if self.enclosing is not None and parent_uri:
            parent = (parent_uri, self.enclosing[0])
        self.resource = Resource(self.router, self.loop, self.kvs, hostname,
                                 self.topology.size, self.hosts, parent)
        from .groups import Groups

        self.groups = Groups(self.router)
        self.sched = Sched(self.router, self.loop, self.kvs, self.owner, self.log.log)
        self.job_exec = JobExec(self.router, self.loop, self.events, self.kvs, self.owner,
                                self.log.log, rank, self.environ, lambda: self.local_uri,
                                self._hostname_of, self.topology.size,
                                self.conf.get("exec"), self.attrs.get)
        self.job_info = JobInfo(self.router, self.kvs, self.owner, self.kvs_watch)
        self.job_list = JobList(self.router, self.events, self.loop, self.kvs, self.owner,
                                self.log.log)
        self._apply_access()  # private-mode reaches the job services

    def _remove_rundir(self) -> None:
        if self.rundir_created:
            remove_tree(self.rundir)
            self.rundir_created = False


def _parse_size(text: str) -> Optional[int]:
    """Bytes from ``N``, ``Nk``, ``NM`` or ``NG`` (powers of 1024); None if it is neither."""
    units = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    scale = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    return int(digits) * scale if digits.isdigit() else None
