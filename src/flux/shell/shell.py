"""The job shell's main flow, in flux-core's order: read the job, write the output
header, (barrier), ``shell.init``, start the tasks, (barrier), ``shell.start``, then
serve until every task has ended and its output is committed; exit with the highest
task exit code (128 + signal for a signalled task).

Signals SIGINT, SIGTERM, SIGALRM sent to the shell, and ``shell-<id>.kill`` events
(``flux job kill``), are passed on to the tasks.  Standard input comes from the
``<uid>-shell-<id>.stdin`` service (what ``flux job attach`` sends; also recorded in the
``input`` eventlog) or from the ``--input`` file.

Tasks get a PMI-1 server (pmi.py: ``PMI_FD``/``PMI_RANK``/``PMI_SIZE``, a socketpair
per task) unless ``-o pmi=`` turns it off.

Not here yet: shell plugins and initrc, pty, rlimits, cpu affinity.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys

from flux.ioencode import iodecode_data
from flux.shell.info import ShellInfo
from flux.shell.kvsappend import Appender
from flux.shell.output import Output
from flux.shell.task import Task, exit_code

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["JobShell", "main"]

#: log levels of the output eventlog's ``log`` entries (syslog numbering)
FATAL, ERR, WARN = 0, 3, 4


class ShellExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class JobShell:
    def __init__(self, h: Any, info: ShellInfo, namespace: str,
                 early: Optional[dict[str, Any]] = None) -> None:
        from flux.job.JobID import id_encode

        self.h = h
        self.info = info
        self.namespace = namespace
        self.f58 = id_encode(info.jobid, "f58")
        self.appender = Appender(h, namespace)
        self.output = Output(info, self.appender)
        self.tasks: list[Task] = []
        #: task ranks whose standard input has not been closed by the stdin service
        #: (the leader's service takes input for every task of the job)
        self.stdin_open: set[int] = (set(range(info.total_ntasks))
                                     if info.shell_rank == 0 else set(info.taskids))
        self.input_watch: Any = None  # other shells: the ``input`` eventlog, followed
        self.input_rest = b""  # a partial line of it
        self.exit_code = 0
        self.leader = info.shell_rank == 0
        # flux-core names it with the plain (ASCII) f58 of the job's id
        self.service = service_name(info.jobid)
        self.watchers: list[Any] = []
        self.tmpdir: Optional[str] = None
        self.finished = False
        #: broker attributes the shell needs, asked for at once (see ``_prefetch``)
        self.attrs: dict[str, Optional[str]] = {}
        self.early = early if early is not None else early_requests(h, info.jobid)
        self.pmi: Any = None
        self.doom: Any = None  # flux.shell.doom.Doom, once the services are up
        self.tasks_complete: Any = None  # flux.shell.tasks_complete.TasksComplete, likewise
        #: input that came before the tasks were made (then None)
        self.early_input: Optional[list[tuple[bytes, bool, Optional[set[int]]]]] = []

    # -- set-up -----------------------------------------------------------------------

    def _exec_event(self, name: str, context: Optional[dict]) -> None:
        self.appender.append("exec.eventlog", name, context)

    def _barrier(self) -> None:
        if self.info.shell_size > 1:
            self.h.rpc("job-exec.shell-barrier", {"id": self.info.jobid}, nodeid=0).get()

    def _prefetch(self, early: dict[str, Any]) -> list[Any]:
        """Collect what start-up asked for at once (``early_requests``, sent beside
        the job's lookup) and register the stdin service, so that start-up waits one
        round trip for all of them, not one each."""
        # every shell serves the job's shell service (pmi-exchange), the leader's also
        # has stdin: registered beside the job's lookup too
        waits = [early.pop("subscribe"), early.pop("register")]
        for name, fut in early.items():
            self.attrs[name] = _attr_value(fut)
        return waits

    def _watch(self, waits: list[Any]) -> None:
        from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_MSGTYPE_REQUEST

        topic = f"shell-{self.info.jobid}."
        for fut in waits:
            fut.get()
        w = self.h.msg_watcher_create(self._kill_event, FLUX_MSGTYPE_EVENT, topic + "kill")
        w.start()
        self.watchers.append(w)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            sw = self.h.signal_watcher_create(signum, self._signal)
            sw.start()
            self.watchers.append(sw)
        if self.leader:
            for method, cb in (("stdin", self._stdin_request),
                               ("exception", self._exception_request)):
                w = self.h.msg_watcher_create(cb, FLUX_MSGTYPE_REQUEST,
                                              f"{self.service}.{method}")
                w.start()
                self.watchers.append(w)
        self._doom_init()

    def _doom_init(self) -> None:
        from flux.shell.doom import Doom
        from flux.shell.tasks_complete import TasksComplete

        self.tasks_complete = TasksComplete(self.h, self.info, self.service,
                                            self._all_tasks_complete)
        self.tasks_complete.start()

        try:
            self.doom = Doom(self.h, self.info, self.service, self._exec_event,
                             self._die_exit)
        except ValueError as exc:
            # as flux-core's shell, whose task-exit plugin then fails shell.init
            self.output.log(ERR, str(exc), {"component": "task-exit"})
            self.output.log(ERR, "plugin 'task-exit': shell.init failed")
            self._die(1, "shell_init: No such file or directory")
        self.doom.start()

    def _die_exit(self, code: int, text: str, wait_status: int = -1) -> None:
        self._die(code, text, component="task-exit", wait_status=wait_status)

    def _exception_request(self, h: Any, watcher: Any, msg: Any, args: Any) -> None:
        """``<service>.exception`` (leader): job-exec's notice of an exception, such as a
        lost shell (its node failed, or it was killed): warned, and a lost shell counts
        as a failed exit for the exit timeout (flux.shell.doom)."""
        try:
            p = msg.payload_json()
            kind, severity = p["type"], p["severity"]
            shell_rank, message = p["shell_rank"], p.get("message", "")
            if (not isinstance(kind, str) or not isinstance(severity, int)
                    or not isinstance(shell_rank, int) or not isinstance(message, str)):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            h.respond_error(msg, errno.EPROTO, None)
            return
        if message:
            self.output.log(WARN, message, {"component": "exception"})
        if kind == "lost-shell" and self.doom is not None:
            self.doom.lost(shell_rank)
            self.tasks_complete.lost(shell_rank)
        h.respond(msg, None)

    def _pmi_init(self) -> None:
        """The PMI-1 server of the tasks (flux-core's pmi-simple plugin), if enabled."""
        from flux.shell import pmi

        try:
            if not pmi.enabled(self.info.option("pmi")):
                return
        except ValueError as exc:
            self._die(1, str(exc))
        self.pmi = pmi.ShellPMI(self.h, self.info, self.f58, self.service,
                                self.attrs.get("instance-level"), self._pmi_abort,
                                lambda text: self._die(1, text),
                                lambda text: self.output.log(WARN, text))
        self.pmi.register()

    def _pmi_abort(self, text: str) -> None:
        """PMI_Abort: an exec exception; the tasks are then killed by job-exec."""
        self.output.log(ERR, text)
        self.h.rpc("job-manager.raise", {"id": self.info.jobid, "type": "exec",
                                         "severity": 0, "note": text})

    def _make_tmpdir(self) -> None:
        base = self.attrs.get("rundir") or os.environ.get("TMPDIR", "/tmp")
        path = os.path.join(base, f"jobtmp-{self.info.shell_rank}-{self.f58}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return
        self.tmpdir = path

    def _extract_files(self) -> None:
        files = self.info.jobspec.get("attributes", {}).get("system", {}).get("files")
        if not files:
            return
        if self.tmpdir is None:
            return self._die(1, "no job temporary directory for the job's files")
        from flux.shell import files as jobfiles

        try:
            jobfiles.extract(files, self.tmpdir)
        except (OSError, ValueError) as exc:
            self._die(1, f"error extracting job files: {exc}")

    def _cwd(self) -> str:
        """Go to the job's working directory (relative output paths start there too)."""
        cwd = self.info.cwd
        if cwd is None:
            return os.getcwd()
        try:
            os.chdir(cwd)
        except OSError as exc:
            self.output.log(WARN, f"Could not change dir to {cwd}: {exc.strerror}. "
                                  "Going to /tmp instead")
            cwd = "/tmp"
            os.chdir(cwd)
        return cwd

    def _task_env(self, rank: int, localid: int) -> dict[str, str]:
        info = self.info
        env = dict(info.environment)
        env.pop("FLUX_PROXY_REMOTE", None)
        env["FLUX_URI"] = os.environ.get("FLUX_URI", "")
        env["FLUX_KVS_NAMESPACE"] = self.namespace
        env["FLUX_JOB_ID"] = self.f58
        env["FLUX_JOB_SIZE"] = str(info.total_ntasks)
        env["FLUX_JOB_NNODES"] = str(info.shell_size)
        jobid_path = self.attrs.get("jobid-path")
        if jobid_path is not None:
            prefix = "" if jobid_path == "/" else jobid_path
            env["FLUX_JOB_ID_PATH"] = f"{prefix}/{self.f58}"
        if "HOSTNAME" in env:
            env["HOSTNAME"] = info.hostname
        if self.tmpdir is not None:
            env["FLUX_JOB_TMPDIR"] = self.tmpdir
        env["FLUX_TASK_RANK"] = str(rank)
        env["FLUX_TASK_LOCAL_ID"] = str(localid)
        if self.pmi is not None:
            env.update(self.pmi.task_env(rank))
        return env

    # -- tasks ------------------------------------------------------------------------

    def _start_tasks(self) -> None:
        from flux.shell import mustache

        info = self.info
        cwd = self._cwd()
        stdin_file = None
        if info.option("input.stdin.type") == "file":
            path = info.option("input.stdin.path")
            stdin_file = path if isinstance(path, str) else None
        nosetpgrp = bool(info.option("nosetpgrp", 0))
        for localid, rank in enumerate(info.taskids):
            task = Task(self.h, rank, localid, self._task_output, self._task_exit)
            self.tasks.append(task)
            values = info.mustache(rank, localid)
            if self.tmpdir is not None:
                values["tmpdir"] = self.tmpdir
            argv = [mustache.render(a, values, info.jobid) if "{{" in a else a
                    for a in info.command]
            try:
                self.output.open_task(rank, localid)
                path = (mustache.render(stdin_file, values, info.jobid)
                        if stdin_file is not None else None)
                env = self._task_env(rank, localid)
                fds = self.pmi.task_fds(rank) if self.pmi is not None else ()
                try:
                    task.start(argv, env, cwd, path, not nosetpgrp, fds)
                finally:
                    if self.pmi is not None:
                        self.pmi.task_started(rank)
            except OSError as exc:
                what = argv[0] if exc.filename in (None, argv[0]) else exc.filename
                text = (f"task {rank} (host {info.hostname}): start failed: "
                        f"{what}: {exc.strerror}")
                code = 127 if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126
                self._die(code, text)

    def _task_output(self, task: Task, stream: str, data: Optional[bytes]) -> None:
        if data is None:
            self.output.eof(stream, task.rank, task.localid)
        else:
            self.output.write(stream, task.rank, task.localid, data)

    def _task_exit(self, task: Task) -> None:
        assert task.status is not None
        code = exit_code(task.status)
        self.exit_code = max(self.exit_code, code)
        if self.doom is not None:
            signaled = os.WTERMSIG(task.status) if os.WIFSIGNALED(task.status) else 0
            self.doom.task_exit({
                "localid": task.localid, "rank": task.rank, "state": "Exited",
                "pid": task.pid, "wait_status": task.status, "signaled": signaled,
                "exitcode": code})
        if all(t.done for t in self.tasks):
            self._finish()

    def killall(self, signum: int) -> None:
        for task in self.tasks:
            task.kill(signum)

    def _kill_event(self, h: Any, watcher: Any, msg: Any, args: Any) -> None:
        try:
            signum = msg.payload_json().get("signum")
        except (ValueError, AttributeError):
            return
        if isinstance(signum, int) and 0 < signum < signal.NSIG:
            self.killall(signum)

    def _signal(self, h: Any, watcher: Any, signum: int, args: Any) -> None:
        self.killall(signum)

    def _stdin_request(self, h: Any, watcher: Any, msg: Any, args: Any) -> None:
        """``<service>.stdin``: an RFC 24 ``data`` context for the tasks' input."""
        try:
            p = msg.payload_json()
            if not isinstance(p, dict) or p.get("stream") != "stdin":
                raise ValueError
            raw = iodecode_data(p)
            eof = bool(p.get("eof", False))
            ranks = p.get("rank", "all")
            wanted: Optional[set[int]] = None
            if ranks != "all":
                from flux.services.resource.rv1 import idset_decode

                wanted = set(idset_decode(ranks))
        except (ValueError, TypeError, AttributeError, OSError):
            h.respond_error(msg, errno.EPROTO, "malformed stdin request")
            return
        if self.info.option("input.stdin.type") == "file":
            h.respond_error(msg, errno.EINVAL, "stdin is read from a file")
            return
        # as flux-core's shell: input is refused (EPIPE) only once its EOF has come for
        # the tasks it names; a task that has exited still "accepts" it (it is recorded)
        if not self.stdin_open or (wanted is not None and not wanted <= self.stdin_open):
            h.respond_error(msg, errno.EPIPE, None)
            return
        self.appender.append("input", "data", p)
        self._input(raw, eof, wanted)
        if eof:
            self.appender.flush()  # EOF is delivered at once, as flux-core's shell
        h.respond(msg, None)

    def _input(self, raw: bytes, eof: bool, wanted: Optional[set[int]]) -> None:
        """Input for the tasks ``wanted`` (None: all), those of this shell get it (kept
        until the tasks exist: it may come as soon as ``shell.init`` is committed)."""
        if self.early_input is not None:
            self.early_input.append((raw, eof, wanted))
            return
        for task in self.tasks:
            if task.rank in self.stdin_open and (wanted is None or task.rank in wanted):
                task.write_stdin(raw, eof)
        if eof:
            self.stdin_open -= wanted if wanted is not None else set(self.stdin_open)
            if not self.stdin_open and self.input_watch is not None:
                self.input_watch.cancel()
                self.input_watch = None

    def _follow_input(self) -> None:
        """Shells other than the leader read their tasks' input from the ``input``
        eventlog of the job's namespace, which the leader writes (flux-core's shells
        watch it likewise)."""
        from flux.constants import FLUX_KVS_WAITCREATE, FLUX_KVS_WATCH, FLUX_KVS_WATCH_APPEND
        from flux.kvs.lookups import lookup

        self.input_watch = lookup(self.h, "input", FLUX_KVS_WATCH | FLUX_KVS_WAITCREATE
                                  | FLUX_KVS_WATCH_APPEND, namespace=self.namespace)
        self.input_watch.then(self._input_entries)

    def _input_entries(self, future: Any) -> None:
        import json

        try:
            data = self.input_rest + (future.get_value() or b"")
        except OSError:
            return
        future.reset()
        *lines, self.input_rest = data.split(b"\n")
        for line in lines:
            try:
                entry = json.loads(line)
                if entry.get("name") != "data":
                    continue
                p = entry["context"]
                raw = iodecode_data(p)
                ranks = p.get("rank", "all")
                wanted: Optional[set[int]] = None
                if ranks != "all":
                    from flux.services.resource.rv1 import idset_decode

                    wanted = set(idset_decode(ranks))
            except (ValueError, TypeError, AttributeError, KeyError, OSError):
                continue
            self._input(raw, bool(p.get("eof", False)), wanted)

    # -- the end ------------------------------------------------------------------------

    def _die(self, code: int, text: str, component: Optional[str] = None,
             wait_status: int = -1) -> None:
        """flux-core's shell_die: a FATAL log entry, an exec exception (with the task
        ``wait_status`` it names, if any: the job's status then), exit ``code``."""
        self.output.log(FATAL, text, {"component": component} if component else None)
        self._flush_quietly()  # the log entry first, as flux-core's shell
        try:
            payload: dict[str, Any] = {"id": self.info.jobid, "type": "exec",
                                       "severity": 0, "note": text}
            if wait_status >= 0:
                payload["wait_status"] = wait_status
            self.h.rpc("job-manager.raise", payload).get()
        except OSError:
            pass
        self.killall(signal.SIGKILL)
        raise ShellExit(code)

    def _finish(self) -> None:
        """This shell's tasks have ended: it exits once its writes are committed; the
        leader once every shell's tasks have ended (``_all_tasks_complete``)."""
        if self.finished:
            return
        self.finished = True
        if self.tasks_complete is not None:
            self.tasks_complete.finish()
        if not self.leader or self.tasks_complete is None:
            self.appender.when_idle(self.h.reactor_stop)
        # every task has ended: its tmpdir goes while the last commit is on its way
        self._remove_tmpdir()

    def _all_tasks_complete(self) -> None:
        if self.doom is not None:
            self.doom.tasks_complete()
        if self.finished:
            self.appender.when_idle(self.h.reactor_stop)

    def _remove_tmpdir(self) -> None:
        if self.tmpdir is not None:
            tmpdir, self.tmpdir = self.tmpdir, None
            try:
                os.rmdir(tmpdir)  # mostly left empty: one call, not rmtree's walk
            except OSError:
                import shutil

                shutil.rmtree(tmpdir, ignore_errors=True)

    def _cleanup(self) -> None:
        for part in (self.doom, self.tasks_complete):
            if part is not None:
                part.stop()
        if self.pmi is not None:
            self.pmi.close()
        self.output.close()
        self._remove_tmpdir()

    def run(self) -> int:
        info = self.info
        try:
            self.output.header()
            if self.leader:
                self.appender.append("input", "header", {
                    "version": 1, "encoding": {"stdin": "UTF-8"}, "count": {"stdin": 1},
                    "options": {}})
            self._watch(self._prefetch(self.early))
            self._make_tmpdir()
            self._extract_files()
            self._pmi_init()
            if self.leader and info.shell_size > 1:
                # the output header is in the KVS before any shell passes the barrier
                # and writes its tasks' output after it
                self._commit_pending()
            self._barrier()
            if self.leader:
                self._exec_event("shell.init", {"service": self.service,
                                                "leader-rank": info.broker_rank,
                                                "size": info.shell_size})
                # committed before the tasks start, as flux-core's shell waits for it:
                # `flux run` sends input once it sees it, while the tasks still run
                self._flush_quietly()
            self._start_tasks()
            early, self.early_input = self.early_input or [], None
            for raw, eof, wanted in early:
                self._input(raw, eof, wanted)
            if not self.leader and self.info.option("input.stdin.type") != "file":
                self._follow_input()
            self._barrier()
            if self.leader:
                from flux.shell import taskmap

                self._exec_event("shell.start", {"taskmap": taskmap.encode(info.counts)})
            if not self.tasks:
                self.finished = True
                self._flush_quietly()
                return 0
            self.h.reactor_run()
            return self.exit_code
        except ShellExit as exc:
            self._flush_quietly()
            return exc.code
        finally:
            self.killall(signal.SIGKILL) if not self.finished else None
            self._cleanup()

    def _commit_pending(self) -> None:
        """Commit what is queued and wait for the answer (the reactor runs meanwhile)."""
        if self.appender.busy:
            self.appender.when_idle(self.h.reactor_stop)
            self.h.reactor_run()

    def _flush_quietly(self) -> None:
        """Run the reactor until what was appended is committed (if anything is left)."""
        if not self.appender.busy:
            return
        self.appender.when_idle(self.h.reactor_stop)
        try:
            self.h.reactor_run()
        except Exception:  # noqa: BLE001 - dying anyway
            pass


def service_name(jobid: int) -> str:
    """The leader's service, as flux-core's shell names it: ``UID-shell-JOBID`` (f58,
    plain letters); registered by every early request and announced in ``shell.init``."""
    from flux.job.JobID import id_encode

    return f"{os.getuid()}-shell-{id_encode(jobid, 'f58plain')}"


def early_requests(h: Any, jobid: int, known: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """The requests a shell sends before it knows its job: the ``shell-<id>.`` event
    subscription (kill events), its service's registration and the attributes it reads
    (those not ``known`` already: their values stand in for the requests)."""

    from flux.shell import SHELL_ATTRS

    early = {"subscribe": h.rpc("event.subscribe", {"topic": f"shell-{jobid}."}),
             "register": h.service_register(service_name(jobid))}
    for name in SHELL_ATTRS[1:]:  # the rank is read first, in main
        value = known.get(name) if known else None
        early[name] = value if isinstance(value, str) else h.rpc("attr.get", {"name": name})
    return early


def _attr_value(answer: Any) -> Optional[str]:
    """An attribute's value: given (a str), or the answer to its ``attr.get`` (None if
    the broker has no such attribute)."""
    if answer is None or isinstance(answer, str):
        return answer
    try:
        return answer.get()["value"]
    except OSError:
        return None


def _log(text: str) -> None:
    print(f"flux-shell: {text}", file=sys.stderr, flush=True)


def main(argv: list[str], h: Any = None, attrs: Optional[dict[str, str]] = None) -> int:
    """``flux-shell JOBID``: exit code as described above; 1 if the job cannot be read.
    ``h``: a handle already connected to the broker (the fork server's spare shells);
    ``attrs``: values of the broker's ``SHELL_ATTRS`` known already (the launcher's)."""
    import flux
    from flux.job.JobID import id_parse

    if len(argv) != 1:
        _log("Usage: flux-shell JOBID")
        return 1
    try:
        jobid = id_parse(argv[0])
    except (ValueError, OSError):
        _log(f"invalid jobid: {argv[0]}")
        return 1
    try:
        if h is None:
            h = flux.Flux()
        # the rank is asked for (if not known) beside the job's lookup: one round trip
        known_rank = attrs.get("rank") if attrs else None
        rank_f = known_rank if isinstance(known_rank, str) else h.rpc("attr.get",
                                                                      {"name": "rank"})
        # the whole jobspec (with its environment) is only in J, as flux-core's shell reads it
        lookup = h.rpc("job-info.lookup", {"id": jobid, "keys": ["J", "R"], "flags": 0})
        early = early_requests(h, jobid, attrs)
        rank = int(_attr_value(rank_f) or "")
        resp = lookup.get()
        from flux.services.job_ingest.sign_none import unwrap

        jobspec = json.loads(unwrap(resp["J"])[0])
        R = resp["R"]
        if isinstance(R, str):
            R = json.loads(R)
        info = ShellInfo(jobid, jobspec, R, rank)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log(f"FATAL: failed to initialize shell info: {exc}")
        return 1
    namespace = os.environ.get("FLUX_KVS_NAMESPACE") or f"job-{jobid}"
    return JobShell(h, info, namespace, early).run()
