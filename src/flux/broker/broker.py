"""The broker: wires loop, router, connector, attributes, log, events and
modules together and supervises the initial program.

An instance of many brokers (``flux start --test-size=N``, or any PMI-1
launcher: ``PMI_RANK``/``PMI_SIZE``/``PMI_FD`` in the environment) first
bootstraps through PMI (overlay/boot_pmi.py), then runs the overlay
(overlay/overlay.py) in the same loop; only rank 0 has the KVS, content and
job services (other ranks reach them upstream), and the states that wait for
the parent and the children are overlay/states.py's.  A size-1 instance
never imports the overlay (nor pyzmq).

Life cycle of a size-1 instance (rank 0):
1. create the run directory (or use ``-S rundir=DIR``), bind ``local-uri``;
2. run the initial program, if any, with ``FLUX_URI`` pointing at us;
3. serve until the initial program exits, ``shutdown.start`` is requested, or
   SIGINT/SIGTERM/SIGHUP arrives (which is forwarded to the initial program);
4. unload the modules, still on the loop (a second signal kills them);
5. kill leftovers of the initial program, close every connection, remove the
   socket and the run directory if we created it; exit with the initial
   program's status (signal -> 128+sig).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import time
from typing import TYPE_CHECKING, Any, Optional

import flux
from flux.codec import DEFAULT_MAX_MESSAGE_SIZE
from flux.constants import FLUX_ROLE_ALL, FLUX_ROLE_OWNER, FLUX_ROLE_USER
from flux.core.default_methods import ping_reply_payload, rusage_reply
from flux.message import Message
from flux.parentdeath import die_with_parent, guard_group
from flux.severity import LOG_ERR, LOG_INFO

from . import config
from .attrs import Attrs, check_cmdline
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
from .router import BuiltinService, RequestError, Router
from .sched import Sched
from .shutdown import Shutdown
from .topology import DEFAULT_FANOUT, Topology, parse_topo
from .rundir import make_rundir, remove_tree
from .uuids import uuid4

if TYPE_CHECKING:  # subprocess is imported where a program starts: ~5 ms of every start-up
    import subprocess

__all__ = ["Broker", "BrokerError", "parse_setattr"]

_TRUE = ("1", "true", "yes", "on")
# After handling traffic the loop polls without sleeping this long (µs):
# the next request of a client in a request/response loop usually arrives
# within it, saving a process wake-up (bench/ping.py measures it).
DEFAULT_SPIN_US = 150.0
KILL_GRACE = 5.0  # seconds between forwarding a signal and SIGKILL


class BrokerError(Exception):
    """A start-up failure worth one line on stderr (exit code 1)."""


def parse_setattr(items: list[str]) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` -> dict (a bare NAME means the empty string)."""
    from .setattr_items import split_setattr

    try:
        return split_setattr(items)
    except ValueError as exc:
        raise BrokerError(str(exc)) from None


class Broker:
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
        self.job_info = JobInfo(self.router, self.kvs, self.owner)
        self.job_list = JobList(self.router, self.events, self.loop, self.kvs, self.owner,
                                self.log.log)
        self._apply_access()  # private-mode reaches the job services

    # -- many brokers ----------------------------------------------------------------

    def _pmi_init(self) -> tuple[int, int]:
        """Rank and size from a PMI-1 launcher, if one started us (else 0, 1)."""
        env = self.environ
        if "PMI_RANK" not in env or not ("PMI_FD" in env or "PMI_PORT" in env):
            return 0, 1
        from flux.pmi.client import PMIError, from_environ

        try:
            pmi = from_environ(env)
            if pmi is None:
                return 0, 1
            pmi.init()
        except PMIError as exc:
            raise BrokerError(f"PMI: {exc}") from None
        if not 0 <= pmi.rank < pmi.size:
            raise BrokerError(f"PMI: rank {pmi.rank} is not in size {pmi.size}")
        try:
            # a Flux job shell preloads it: then the KVS name is our jobid (flux-core)
            level = pmi.get("flux.instance-level")
        except PMIError:
            level = None
        if level is not None and level.isdigit() and pmi.kvsname:
            self.enclosing = (pmi.kvsname, level)
        for name in ("PMI_FD", "PMI_RANK", "PMI_SIZE", "PMI_PORT"):
            if name in self.environ:  # not for the initial program
                del self.environ[name]
        if pmi.size == 1:  # nobody to exchange cards with (as flux-core)
            pmi.finalize()
            pmi.close()
            return 0, 1
        self.pmi = pmi
        return pmi.rank, pmi.size

    def _config_boot_early(self) -> Any:
        """The config's ``[bootstrap]`` (rank and size of a config-booted instance of
        more than one broker), or None."""
        path = self.setattrs.get("config.path")
        if not path:
            return None
        try:
            conf = config.load(os.path.abspath(path))
        except config.ConfigError as exc:
            raise BrokerError(str(exc)) from None
        if "bootstrap" not in conf:
            return None
        from .overlay.boot_config import BootConfigError, parse_bootstrap

        hostname = self.setattrs.get("hostname") or socket.gethostname().split(".")[0]
        try:
            bc = parse_bootstrap(conf, hostname)
        except BootConfigError as exc:
            raise BrokerError(str(exc)) from None
        return bc if bc is not None and bc.size > 1 else None

    def _pmi_abort(self, text: str) -> None:
        if self.pmi is not None:
            self.pmi.abort(1, text)
            self.pmi.close()
            self.pmi = None

    def _boot_overlay(self, hostname: str, sa: dict[str, str]) -> None:
        """Create the overlay and bootstrap it through PMI; sets the attributes
        the bootstrap decides (hostlist, broker.mapping, tbon.*endpoint)."""
        from .overlay.boot_pmi import BootError, boot_pmi
        from .overlay.overlay import Overlay, version_hex

        from .attrs import parse_fsd

        def num(name: str, default: float) -> float:
            value = sa.pop(name, None)
            if value is None:
                return default
            try:
                return parse_fsd(value)
            except ValueError:
                raise BrokerError(f"{name}: invalid value {value!r}") from None

        torpid_min = num("tbon.torpid_min", 5.0)
        torpid_max = num("tbon.torpid_max", 30.0)
        self.connect_timeout = num("tbon.connect_timeout", 30.0)
        prefer_tcp = sa.pop("tbon.prefertcp", "0") not in ("", "0")
        self.overlay = Overlay(self.loop, self.router, self.events, self.topology, self.uuid,
                               hostname, self.log.log, version_hex(flux.FLUX_CORE_COMPAT_VERSION),
                               lambda: self.hosts, torpid_min=torpid_min, torpid_max=torpid_max)
        if self.boot_conf is not None:
            from .overlay.boot_config import BootConfigError, boot_config

            try:
                endpoint, parent_endpoint = boot_config(self.boot_conf, self.overlay)
            except BootConfigError as exc:
                self.overlay.close()
                self._remove_rundir()
                raise BrokerError(str(exc)) from None
            hosts = self.boot_conf.names
            mapping = f"[[0,{len(hosts)},1,1]]"  # one broker per host
            self.attrs.add("broker.boot-method", "config")
        else:
            try:
                boot = boot_pmi(self.pmi, self.overlay, hostname, self.rundir, prefer_tcp)
            except BootError as exc:
                self._pmi_abort(str(exc))
                self.overlay.close()
                self._remove_rundir()
                raise BrokerError(str(exc)) from None
            self.pmi.finalize()
            self.pmi = None
            hosts, mapping = boot.hosts, boot.mapping
            endpoint, parent_endpoint = boot.endpoint, boot.parent_endpoint
        self.hosts = hosts
        from .overlay.boot_util import hostlist_encode

        self.attrs.add("hostlist", hostlist_encode(hosts))
        self.attrs.add("broker.mapping", mapping)
        if endpoint:
            self.attrs.add("tbon.endpoint", endpoint)
        if parent_endpoint:
            self.attrs.add("tbon.parent-endpoint", parent_endpoint)
        self.attrs.add("tbon.prefertcp", "1" if prefer_tcp else "0")
        self.attrs.add("tbon.torpid_min", f"{torpid_min:g}s")
        self.attrs.add("tbon.torpid_max", f"{torpid_max:g}s")
        self.attrs.add("tbon.connect_timeout", f"{self.connect_timeout:g}s")
        self.router.overlay = self.overlay
        self.events.downstream = self.overlay.fan_out_event
        if self.topology.rank > 0:
            self.events.upstream = self.overlay.forward_up
            self.log.forward = self._forward_log

    def _forward_log(self, record: bytes) -> bool:
        """A record for the parent's log (``log.append`` UPSTREAM, no response)."""
        from flux.constants import FLUX_MSGFLAG_NORESPONSE, FLUX_MSGFLAG_UPSTREAM

        msg = Message()
        msg.topic = "log.append"
        msg.payload_bytes = record
        msg.aux1 = self.topology.rank
        msg.flags |= FLUX_MSGFLAG_UPSTREAM | FLUX_MSGFLAG_NORESPONSE
        msg.userid = self.owner
        msg.rolemask = FLUX_ROLE_OWNER
        return self.overlay is not None and self.overlay.forward_up(msg)

    def _setup_lifecycle(self, hostname: str) -> None:
        """Glue: the state machine (flux-core's broker states), runat (rc1, cleanup,
        rc3) and ``broker.getenv``/``broker.setenv``.  ``broker.rc1_path`` and
        ``broker.rc3_path`` name shell command lines run before and after the
        initial program; pureflux has no rc scripts of its own, so both are empty
        (disabled) unless set, e.g. ``-S broker.rc1_path=/path/rc1``."""
        from .brokerenv import BrokerEnv
        from .runat import Runat
        from .state_machine import CLEANUP, UNLOAD_BUILTINS, StateMachine

        self.attrs.add("broker.rc1_path", "")
        self.attrs.add("broker.rc3_path", "")
        self.runat = Runat(self.router, self.loop, self.log.log, self.environ, self.local_uri,
                           self.enclosing[0] if self.enclosing is not None else None)
        self.state_machine = StateMachine(self.router, self.loop, self.log.log, self.runat,
                                          self._start_program if self.command else None,
                                          hostname)
        # cleanup: running jobs are canceled and waited for first (flux-core's rc1 pushes
        # that as cleanup commands), then the cleanup list runs
        # (rank 0 only: the job services live there)
        if hasattr(self, "job_manager"):
            run_cleanup = self.state_machine.actions[CLEANUP]
            self.state_machine.actions[CLEANUP] = lambda: self.job_manager.shutdown_jobs(
                run_cleanup)
        # unload-builtins: every module is unloaded on the loop, then the machine goes on
        self.state_machine.actions[UNLOAD_BUILTINS] = lambda: self.modules.shutdown(
            lambda: self.state_machine.post("builtins-done"))
        if self.topology.rank == 0:  # content.dump: rc3 dumps the KVS
            from .content_dump import install_dump

            install_dump(self.state_machine, self.runat, self.attrs)
        BrokerEnv(self.router, self.router.services["broker"], self.environ)
        if self.overlay is not None:
            from .overlay.states import TreeStates

            timeout = self.setattrs.get("broker.shutdown-timeout")
            self.tree_states = TreeStates(self.state_machine, self.overlay, self.router,
                                          self.loop, self.owner, self.hosts,
                                          shutdown_timeout=float(timeout) if timeout else -1.0,
                                          connect_timeout=self.connect_timeout)
            self._wire_resources(hostname)
        # flux shutdown: the initial program gets SIGHUP (flux-core aborts rc2 so), or the
        # machine leaves run; rank 0's goodbye waits for the command to read its stream
        self.shutdown = Shutdown(self.router, self.loop, self.log, self.state_machine,
                                 self.topology.rank, lambda: self.terminate(signal.SIGHUP))

    def _wire_resources(self, hostname: str) -> None:
        """Each rank's cores reach rank 0's resource service: ranks > 0 report once
        joined (``resource.topo-reduce``, no response); rank 0 holds its quorum until all
        have, and marks the ranks it loses offline."""
        assert self.overlay is not None
        if self.topology.rank == 0:
            resource = self.resource
            self.tree_states.quorum_gate = resource.gate
            subtree = self.topology.subtree

            groups = self.groups

            def lost(child: int) -> None:
                ranks = set(subtree(child))
                for r in sorted(ranks):
                    resource.rank_lost(r)
                groups.lost(ranks)  # after: offline, leaving broker.torpid is not "lively"

            self.overlay.on_child_lost = lost
            # broker.torpid: rank 0's children as its overlay finds them, deeper ranks as
            # a flux-core broker between reports them (groups.update)
            self.overlay.on_torpid = groups.set_torpid
            groups.on_torpid = resource.rank_torpid
            # ranks further down that leave broker.online (their parent lost them)
            groups.on_offline = resource.rank_lost
            return

        def report() -> None:
            from flux.services.resource.reduce import topo_report
            from flux.services.resource.rv1 import discover_cores

            rank = self.topology.rank
            self.tree_states.client.rpc("resource.topo-reduce",
                                        topo_report(rank, discover_cores(), hostname),
                                        nodeid=rank, upstream=True)

        self.tree_states.on_joined = report
        self._wire_groups_upstream()

    def _wire_groups_upstream(self) -> None:
        """A rank > 0 tells rank 0's groups what its overlay sees below it, as flux-core's
        groups module does (``groups.update`` upstream, no response): a subtree it lost
        leaves broker.online and broker.torpid, a child torpid or lively again."""
        assert self.overlay is not None and self.tree_states is not None
        rank = self.topology.rank
        client = self.tree_states.client
        subtree = self.topology.subtree

        def update(groups: dict) -> None:
            client.rpc("groups.update", {"update": groups}, nodeid=rank, upstream=True)

        def lost(child: int) -> None:
            from flux.services.resource.rv1 import idset_encode

            ids = idset_encode(subtree(child))
            update({"broker.online": [{"ranks": ids, "set": False}],
                    "broker.torpid": [{"ranks": ids, "set": False}]})

        self.overlay.on_child_lost = lost
        self.overlay.on_torpid = lambda child, torpid: update(
            {"broker.torpid": [{"ranks": str(child), "set": torpid}]})

    def _hostname_of(self, rank: int) -> str:
        """The hostname of broker ``rank`` (from the bootstrap)."""
        return self.hosts[rank] if 0 <= rank < len(self.hosts) else str(rank)

    def _kickoff(self) -> None:
        """Glue: queue rc1/rc3 from their attributes, then enter the first state
        (the state machine starts the initial program when it reaches run)."""
        for phase, attr in (("rc1", "broker.rc1_path"), ("rc3", "broker.rc3_path")):
            cmdline = self.attrs.get(attr)
            if cmdline:
                self.runat.push(phase, cmdline)
        self.state_machine.kickoff()

    def _apply_access(self) -> None:
        """Who may connect: ``-S access.*`` attributes, else the config's ``[access]``."""
        access = self.conf.get("access", {})
        for key, attr in (("allow-guest-user", "allow_guest"), ("allow-root-owner", "allow_root_owner")):
            value = self.setattrs.get(f"access.{key}")
            on = value.lower() in _TRUE if value is not None else bool(access.get(key, False))
            setattr(self.connector, attr, on)
        private = bool(access.get("private-mode", False))  # job data: guests see their own
        for name in ("job_manager", "job_list"):
            svc = getattr(self, name, None)
            if svc is not None:
                svc.private_mode = private

    def _set_conf(self, conf: Any) -> None:
        try:
            self.conf = config.check(conf)
        except config.ConfigError as exc:
            raise RequestError(errno.EINVAL, str(exc)) from None
        self._apply_access()
        self.modules.config_changed(self.conf)

    def _config_get(self, msg: Message) -> None:
        self.router.respond(msg, self.conf)

    def _config_load(self, msg: Message) -> None:
        self._set_conf(msg.payload_json())
        self.router.respond(msg)

    def _config_reload(self, msg: Message) -> None:
        if not self.config_path:
            self._set_conf({})
        else:
            try:
                conf = config.load(self.config_path)
            except config.ConfigError as exc:
                raise RequestError(errno.EINVAL, str(exc)) from None
            self._set_conf(conf)
        self.router.respond(msg)

    def _notify_parent(self) -> None:
        """An instance run as a job tells its parent where it listens: the memo ``uri``
        (``ssh://HOST/PATH``, as flux-core's bootstrap; ``flux jobs``, ``flux proxy`` and
        ``flux alloc`` find the instance from it)."""
        assert self.enclosing is not None
        parent = self.attrs.get("parent-uri")
        if not parent:
            return
        from flux.job.JobID import id_parse

        from .client import SimpleClient

        host = self.attrs.get("hostname") or socket.gethostname().split(".")[0]
        uri = f"ssh://{host}{self.local_uri[len('local://'):]}"
        try:
            with SimpleClient(parent, timeout=10.0) as c:
                c.rpc("job-manager.memo", {"id": id_parse(self.enclosing[0]),
                                           "memo": {"uri": uri}})
        except (OSError, ValueError) as exc:
            self.log.log(LOG_ERR, f"job-manager.memo uri: {exc}")

    def _parent_level(self, uri: str) -> int:
        """The enclosing instance's level (one quick attr.get), else $FLUX_INSTANCE_LEVEL."""
        try:
            from .client import SimpleClient

            with SimpleClient(uri, timeout=2.0) as c:
                return int(c.rpc("attr.get", {"name": "instance-level"})["value"])
        except (OSError, ValueError, KeyError, TypeError):
            try:
                return int(self.environ.get("FLUX_INSTANCE_LEVEL", "0"))
            except ValueError:
                return 0

    def _register_services(self) -> None:
        cfg = self.router.builtin("config")
        cfg.method("get", self._config_get, FLUX_ROLE_USER)
        cfg.method("load", self._config_load)
        cfg.method("reload", self._config_reload)
        svc = self.router.builtin("broker")
        svc.method("ping", self._ping, FLUX_ROLE_USER)
        svc.method("stats-get", self._stats_get, FLUX_ROLE_ALL)
        svc.method("stats-clear", self._stats_clear)
        svc.method("service-stats", self._service_stats, FLUX_ROLE_USER)
        svc.method("rusage", self._rusage, FLUX_ROLE_USER)
        svc.method("disconnect", lambda msg: None)
        conn = self.router.builtin("connector-local")
        # owner only, as flux-core's: it names every client's uuid, uid and pid
        conn.method("stats-get", lambda msg: self.router.respond(msg, self.connector.stats()))
        # each peer link answers service.add/remove itself (peerlink.py); the name is ours
        self.router.builtin("service")

    #: services that are modules in flux-core: libflux gives each NAME.ping and NAME.rusage,
    #: open to guests (``flux ping job-manager``); a service's own method of that name wins
    _MODULE_SERVICES = ("connector-local", "config", "content", "job-exec", "job-info",
                        "job-ingest", "job-list", "job-manager", "kvs", "kvs-watch", "overlay",
                        "resource", "rexec")

    def _module_default_methods(self, rank: int) -> None:
        for name in self._MODULE_SERVICES:
            svc = self.router.services.get(name)
            if not isinstance(svc, BuiltinService):
                continue
            if f"{name}.ping" not in svc.methods:
                svc.method("ping", lambda msg: self.router.respond(
                    msg, ping_reply_payload(msg, self.uuid, rank)), FLUX_ROLE_USER)
            if f"{name}.rusage" not in svc.methods:
                svc.method("rusage", self._rusage, FLUX_ROLE_USER)

    # -- default service methods --------------------------------------------------------

    def _ping(self, msg: Message) -> None:
        self.router.respond(msg, ping_reply_payload(msg, self.uuid, self.topology.rank))

    def _stats_get(self, msg: Message) -> None:
        rx, tx = self.router.rx, self.router.tx

        def counts(c: list[int]) -> dict[str, int]:
            return {"request": c[1], "response": c[2], "event": c[4], "control": c[8]}

        self.router.respond(msg, {"tx": counts(tx), "rx": counts(rx)})

    def _stats_clear(self, msg: Message) -> None:
        self.router.rx[:] = [0] * 9
        self.router.tx[:] = [0] * 9
        self.router.requests_by_service.clear()
        self.router.respond(msg)

    def _service_stats(self, msg: Message) -> None:
        """pureflux's own: requests delivered to each service of this broker since start
        (or the last stats-clear), for ``flux dashboard``'s requests-per-service chart."""
        self.router.respond(msg, {"requests": dict(self.router.requests_by_service)})

    def _rusage(self, msg: Message) -> None:
        try:
            self.router.respond(msg, rusage_reply(msg))
        except ValueError as exc:
            raise RequestError(errno.EINVAL, str(exc)) from None

    # -- initial program ------------------------------------------------------------------

    def _program_env(self) -> dict[str, str]:
        """The initial program's environment: ours plus the instance's paths
        (PATH with our ``flux`` first, PYTHONPATH so any Python can ``import flux``)."""
        from flux.environment import flux_environment

        env = dict(self.environ)
        if self.enclosing is not None:
            # a job's instance: none of the enclosing job's variables (FLUX_KVS_NAMESPACE
            # would send our own commands to the parent's job namespace), as runat's lists
            from .runat import ENV_BLOCKLIST

            env = {k: v for k, v in env.items()
                   if not any(k == b or b.endswith("*") and k.startswith(b[:-1])
                              for b in ENV_BLOCKLIST)}
            env["FLUX_ENCLOSING_ID"] = self.enclosing[0]
        env.update(flux_environment(env))
        env["FLUX_URI"] = self.local_uri
        return env

    def _start_program(self) -> None:
        assert self.command is not None
        # Our own process group lets us signal the program and everything it
        # started; but a program that uses the terminal stays in the terminal's
        # foreground group (Ctrl-C reaches it directly there).
        own_group = not (self.interactive_shell or _isatty(0))
        kwargs: dict[str, Any] = {}
        # it dies with this broker, even one killed with SIGKILL (no orphan left): its
        # process group is killed by a guardian; a program in the terminal's group gets
        # the kernel's parent-death signal itself
        if own_group:
            kwargs["process_group"] = 0
        else:
            preexec = die_with_parent()
            if preexec is not None:
                kwargs["preexec_fn"] = preexec
        import subprocess

        self.proc_started = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.command, env=self._program_env(), **kwargs)
        except OSError as exc:
            self.log.log(LOG_ERR, f"{self.command[0]}: {exc.strerror}")
            self.exit_code = 127 if exc.errno == errno.ENOENT else 126
            self.state_machine.post("rc2-fail")
            return
        self.proc_pgid = self.proc.pid if own_group else None
        if own_group:
            self.guardian = guard_group(self.proc.pid)
        self.proc_watch = self.loop.watch_child(self.proc.pid, self._reap)

    def _reap(self) -> None:
        if self.proc is None or self.proc_status is not None:
            return
        rc = self.proc.poll()
        if rc is None:
            return
        from .runat import exit_record, exit_status

        self.proc_status, what = exit_status(rc)
        # logged as flux-core logs its rc2 entry (an error unless it succeeded, so
        # flux start prints it), as runat logs rc1 and rc3
        assert self.command is not None
        self.log.log(*exit_record("rc2.0", " ".join(self.command), self.proc_status, what,
                                  time.monotonic() - self.proc_started))
        if self.proc_watch is not None:
            self.proc_watch.close()
            self.proc_watch = None
        if self.kill_timer is not None:
            self.kill_timer.cancel()
        # leftovers of the program (background jobs) go with it
        self._signal_program(signal.SIGKILL if self.stopping else signal.SIGTERM, group_only=True)
        self.exit_code = self.proc_status
        self.state_machine.post("rc2-success" if rc == 0 else "rc2-fail")

    def _signal_program(self, signum: int, group_only: bool = False) -> None:
        try:
            if self.proc_pgid is not None:
                os.killpg(self.proc_pgid, signum)
            elif not group_only and self.proc is not None and self.proc_status is None:
                self.proc.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self, signum: int) -> None:
        """Stop the instance: signal the initial program (if any), then exit."""
        if self.proc is None or self.proc_status is not None:
            if self.modules.closing:  # asked again while modules unload: no more patience
                self.modules.kill_all()
            else:
                self.state_machine.kill(signum)  # no program (or it ended): the machine decides
            return
        if self.stopping:  # second request: no more patience
            self._signal_program(signal.SIGKILL)
            return
        self.stopping = True
        self._signal_program(signum)
        self.kill_timer = self.loop.call_later(KILL_GRACE,
                                               lambda: self._signal_program(signal.SIGKILL))

    def _on_signal(self, signum: int) -> None:
        self.log.log(LOG_INFO, f"{signal.Signals(signum).name} received")
        self.terminate(signum)

    # -- running -------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until done; returns the exit code."""
        try:
            try:
                if self.topology.rank == 0 and (self.content.statedir
                                                or self.attrs.get("content.restore")):
                    from .content_dump import restore_at_start

                    restore_at_start(self.content, self.attrs, self.log.log)
                    self.kvs.restore()
                    self.job_manager.restore()
            except OSError as exc:
                raise BrokerError(f"content store: {exc.strerror}") from None
            try:
                self.connector.listen()
            except OSError as exc:
                raise BrokerError(f"{self.local_uri}: {exc.strerror}") from None
            if self.topology.rank == 0 and self.enclosing is not None:
                self._notify_parent()
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self.loop.add_signal(signum, self._on_signal)
            self.log.log(LOG_INFO, f"start: {self.local_uri} (pid {os.getpid()})")
            if self.overlay is not None:
                self.overlay.start()
            if self.topology.rank == 0:
                self.heartbeat.start()
            self._kickoff()
            self.loop.run()
            return self.exit_code or self.state_machine.exit_rc
        finally:
            self.cleanup()

    @staticmethod
    def _reap_guardian(pid: int) -> None:
        """SIGTERM the guardian and reap it; SIGKILL if it has not ended within a
        second (it never holds up the broker's exit)."""
        pidfd = -1
        try:
            os.kill(pid, signal.SIGTERM)
            try:  # woken by its exit: a polling sleep held every broker's exit ~2 ms
                pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):
                pass
            deadline = time.monotonic() + 1.0
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                if pidfd >= 0:
                    select.select([pidfd], [], [], left)
                else:
                    time.sleep(0.002)
        except (ChildProcessError, ProcessLookupError):
            pass
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def cleanup(self) -> None:
        """Release everything: program leftovers, connections, socket, rundir."""
        self.heartbeat.stop()
        self.runat.close()
        self.modules.close()  # normally unloaded already (unload-builtins); else killed, reaped
        if self.proc is not None and self.proc_status is None:
            import subprocess

            self._signal_program(signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc_watch is not None:
            self.proc_watch.close()
            self.proc_watch = None
        if self.guardian is not None:  # what is left of the program's group goes, and it
            if self.proc_pgid is not None:
                try:
                    os.killpg(self.proc_pgid, signal.SIGKILL)
                except OSError:
                    pass
            self._reap_guardian(self.guardian)
            self.guardian = None
        if self.topology.rank == 0:
            self.job_list.close()  # first: the services it follows end their streams at close
            self.job_info.close()
            self.job_ingest.close()
            self.job_manager.close()
            self.kvs.close()
            self.kvs_watch.close()
            self.job_exec.close()
            self.sched.close()
            self.resource.close()
            self.groups.close()
        self.rexec.close()
        self.connector.close()
        if self.topology.rank == 0:
            self.content.close()
        if self.tree_states is not None:
            self.tree_states.close()
        if self.overlay is not None:
            self.overlay.close()
        self.loop.close()
        self._remove_rundir()

    def _remove_rundir(self) -> None:
        if self.rundir_created:
            remove_tree(self.rundir)
            self.rundir_created = False


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _parse_size(text: str) -> Optional[int]:
    """Bytes from ``N``, ``Nk``, ``NM`` or ``NG`` (powers of 1024); None if it is neither."""
    units = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    scale = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    return int(digits) * scale if digits.isdigit() else None
