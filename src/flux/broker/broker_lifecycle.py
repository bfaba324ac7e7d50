"""A broker's life cycle: the state machine, runat and shutdown wired together,
serving, and releasing everything at the end.

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

import os
import signal

from flux.severity import LOG_INFO

from .broker_error import BrokerError
from .broker_fields import BrokerFields
from .shutdown import Shutdown

__all__ = ["Lifecycle"]


class Lifecycle(BrokerFields):
    """The ``Broker``'s part that runs it from start to end."""

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

    def _kickoff(self) -> None:
        """Glue: queue rc1/rc3 from their attributes, then enter the first state
        (the state machine starts the initial program when it reaches run)."""
        for phase, attr in (("rc1", "broker.rc1_path"), ("rc3", "broker.rc3_path")):
            cmdline = self.attrs.get(attr)
            if cmdline:
                self.runat.push(phase, cmdline)
        self.state_machine.kickoff()

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

    def cleanup(self) -> None:
        """Release everything: program leftovers, connections, socket, rundir."""
        self.heartbeat.stop()
        self.runat.close()
        self.modules.close()  # normally unloaded already (unload-builtins); else killed, reaped
        self._end_program()
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
