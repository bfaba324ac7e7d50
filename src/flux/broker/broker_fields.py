"""What the ``Broker`` class's parts share: the attributes its ``broker_*.py``
mixins use, declared once for the type checker (``Broker.__init__`` and
``_setup`` in broker.py assign them), and the methods one part calls in
another.  Declarations only: nothing here exists at run time but the class."""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any, Optional

    from .attrs import Attrs
    from .connector import Connector
    from .content import Content
    from .events import Events
    from .groups import Groups
    from .heartbeat import Heartbeat
    from .job_exec import JobExec
    from .job_info import JobInfo
    from .job_ingest import JobIngest
    from .job_list import JobList
    from .job_manager import JobManagerService
    from .kvs import KVS
    from .kvs_watch import KVSWatch
    from .log import Log
    from .loop import ChildWatch, Loop
    from .modules import ModuleTable
    from .resource import Resource
    from .rexec import Rexec
    from .router import Router
    from .runat import Runat
    from .sched import Sched
    from .shutdown import Shutdown
    from .state_machine import StateMachine
    from .topology import Topology

    import subprocess

__all__ = ["BrokerFields"]


class BrokerFields:
    """The attributes of a ``Broker`` that more than one of its files use."""

    # given to the constructor (broker.py)
    setattrs: dict[str, str]
    command: Optional[list[str]]
    environ: dict[str, str]
    interactive_shell: bool
    uuid: str
    owner: int
    # how this broker joined its instance (broker_tbon.py)
    pmi: Any
    boot_conf: Any
    enclosing: Optional[tuple[str, str]]
    topology: Topology
    overlay: Any
    tree_states: Any
    hosts: list[str]
    connect_timeout: float
    # its parts (broker.py's _setup)
    loop: Loop
    router: Router
    attrs: Attrs
    log: Log
    events: Events
    heartbeat: Heartbeat
    connector: Connector
    rexec: Rexec
    modules: ModuleTable
    rundir: str
    local_uri: str
    config_path: Optional[str]
    conf: dict[str, Any]
    # rank 0's services (broker.py's _setup_rank0_services)
    content: Content
    kvs: KVS
    kvs_watch: KVSWatch
    job_manager: JobManagerService
    job_ingest: JobIngest
    resource: Resource
    groups: Groups
    sched: Sched
    job_exec: JobExec
    job_info: JobInfo
    job_list: JobList
    # its life cycle (broker_lifecycle.py) and initial program (broker_program.py)
    runat: Runat
    state_machine: StateMachine
    shutdown: Shutdown
    proc: Optional[subprocess.Popen]
    proc_pgid: Optional[int]
    guardian: Optional[int]
    proc_status: Optional[int]
    proc_started: float
    proc_watch: Optional[ChildWatch]
    kill_timer: Any
    stopping: bool
    exit_code: int

    if TYPE_CHECKING:  # defined in one file, called from another
        def _remove_rundir(self) -> None: ...
        def _start_program(self) -> None: ...
        def _end_program(self) -> None: ...
        def terminate(self, signum: int) -> None: ...
        def _on_signal(self, signum: int) -> None: ...
        def _wire_resources(self, hostname: str) -> None: ...
        def _notify_parent(self) -> None: ...
