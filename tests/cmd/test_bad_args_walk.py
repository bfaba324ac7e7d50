"""Every command, every subcommand and every option that takes a value, given bad
input: an error and an exit status, never a traceback, a crash by signal or a hang.

The option list is read from each command's own ``--help``, so a new option is
walked as soon as it exists.  Commands that start or end instances (``start``,
``alloc``, ``batch``, ``shutdown``), relay or proxy a connection, or stream until
interrupted are left out: they have their own tests.
"""

from __future__ import annotations

import concurrent.futures
import re
import subprocess

import pytest

SUBCOMMANDS = {
    "job": "urgency raise raiseall kill killall cancel cancelall attach status wait submit "
           "list info eventlog wait-event id namespace memo timeleft last purge stats taskmap "
           "hostpids".split(),
    "kvs": "namespace get put dir ls unlink link readlink mkdir copy move dropcache getroot "
           "eventlog version wait sync".split(),
    "module": "load remove reload list stats debug".split(),
    "resource": "drain undrain status list info reload R eventlog".split(),
    "queue": "list status enable disable start stop drain idle".split(),
    "overlay": "status parentof disconnect".split(),
    "content": "load store dropcache flush checkpoint".split(),
    "config": "get set unset load reload builtin".split(),
    "event": ["pub"],
}
COMMANDS = ("bulksubmit cancel config content dmesg dump env event exec getattr job jobs keygen "
            "kvs logger lsattr module overlay pgrep ping pkill queue resource restore run setattr "
            "submit update uptime uri version").split()
#: ``--name=ARG`` (liboptparse) and ``--name ARG`` (argparse) in --help texts
OPTION = re.compile(r"--([a-z][a-z0-9-]*)[= ]([A-Z][A-Z_|=-]*)")


def _run(inst, argv: list[str], cwd, out: bool = False) -> tuple[list[str], object, str]:
    """(argv, exit status or "timeout", stderr (with stdout before it if ``out``))."""
    try:
        r = subprocess.run([inst.flux, *argv], capture_output=True, env=inst.env, cwd=cwd,
                           timeout=30, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return argv, "timeout", ""
    text = (r.stdout if out else b"") + r.stderr
    return argv, r.returncode, text.decode(errors="replace")


def _vectors(inst, cwd) -> list[list[str]]:
    targets = []
    for cmd in COMMANDS:
        targets.append([cmd])
        targets += [[cmd, sub] for sub in SUBCOMMANDS.get(cmd, [])]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        helps = list(pool.map(lambda t: _run(inst, [*t, "--help"], cwd, out=True), targets))
    vectors = []
    for target, (_, _, text) in zip(targets, helps):
        vectors += [[*target, "--no-such-option"], [*target, "%%bad%%"],
                    [*target, "x", "y", "z", "w"]]
        for name in sorted({m.group(1) for m in OPTION.finditer(text)}):
            vectors += [[*target, f"--{name}=%%bad%%", "x"],
                        [*target, f"--{name}=-999999999999999999999", "x"]]
    return vectors


def test_bad_arguments_never_crash_a_command(shared_instance, tmp_path):
    vectors = _vectors(shared_instance, tmp_path)
    assert len(vectors) > 600  # the --help texts were read: options were found
    failures = []
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for argv, rc, err in pool.map(lambda v: _run(shared_instance, v, tmp_path), vectors):
            if rc == "timeout" or (isinstance(rc, int) and rc < 0) or "Traceback" in err:
                failures.append(f"flux {' '.join(argv)}: {rc}: {err[-300:]}")
            elif "--no-such-option" in argv and rc == 0:
                failures.append(f"flux {' '.join(argv)}: an unknown option was accepted")
    assert failures == [], "\n".join(failures)
    # and the instance is still serving
    assert shared_instance.run("ping", "-c", "1", "broker").returncode == 0


@pytest.mark.parametrize("argv", [["event", "sub", "--no-such-option"],
                                  ["module", "trace", "--no-such-option"],
                                  ["dmesg", "--no-such-option"]])
def test_streaming_commands_refuse_bad_options(shared_instance, tmp_path, argv):
    _, rc, err = _run(shared_instance, argv, tmp_path)
    assert rc == 1 and "Traceback" not in err and err
