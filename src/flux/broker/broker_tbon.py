"""A broker of an instance of many: its rank and size from a PMI-1 launcher or
the config's ``[bootstrap]``, the overlay bootstrapped and wired to the
router, events and log, and what ranks report to rank 0 once joined
(resources, groups).  A size-1 instance runs none of this past ``_pmi_init``
(and never imports the overlay, nor pyzmq)."""

from __future__ import annotations

import os
import socket

import flux
from flux.constants import FLUX_ROLE_OWNER
from flux.message import Message

from . import config
from .broker_error import BrokerError
from .broker_fields import BrokerFields

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TreeMember"]


class TreeMember(BrokerFields):
    """The ``Broker``'s part that joins it to a tree of brokers."""

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
