"""``flux shutdown`` as flux-core 0.88's: the log stream and its levels, --background,
TARGET, the broker's refusals (a second shutdown, rank > 0, outside run), --dump/--skip-gc,
the usage text; a non-streaming request of an older client still works."""

from __future__ import annotations

import os
import subprocess
import tarfile
import time

import pytest
from conftest import base_env, flux_exe, short_tmpdir, start_instance
from proctree import kill_tree, run_tree

from flux.broker.log import make_record
from flux.broker.shutdown import log_line

pytestmark = pytest.mark.timeout(60)

T = 20  # bound for each command and each broker's exit

# rc3 logs one record at each of three levels: what the stream shows depends on the level
RC3_LOGS = ("broker.rc3_path=flux logger -s debug dbg-marker"
            " && flux logger -s info info-marker && flux logger -s warning warn-marker")


def _shutdown(inst, *args: str, **kw) -> subprocess.CompletedProcess:
    r = inst.run("shutdown", *args, timeout=T, **kw)
    if r.returncode == 0:
        assert inst.proc.wait(timeout=T) == 0  # the instance is gone (no initial program)
    return r


def test_log_line_format():
    rec = make_record(6, "job-manager", "hello world", hostname="3")
    assert log_line(rec, 6) == "job-manager.info[3]: hello world\n"
    assert log_line(rec, 5) is None  # above the requested level
    assert log_line(make_record(3, "x", "t", hostname="host"), 7) == "x.err[0]: t\n"
    assert log_line(b"not a record", 7) is None


def test_default_level_streams_info_and_below_until_goodbye():
    with start_instance(RC3_LOGS) as inst:
        r = _shutdown(inst)
        assert r.returncode == 0, r.stderr
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert "logger.info[0]: info-marker" in lines
        assert "logger.warning[0]: warn-marker" in lines
        assert "logger.debug[0]: dbg-marker" not in lines
        # the state machine's steps, in order, up to goodbye (where the stream ends)
        steps = [next(i for i, line in enumerate(lines) if line.startswith(f"broker.info[0]: {s}"))
                 for s in ("shutdown: run->cleanup", "cleanup-none: cleanup->shutdown",
                           "children-none: shutdown->finalize", "rc3-success: finalize->goodbye")]
        assert steps == sorted(steps)
        assert lines[-1].startswith("broker.info[0]: rc3-success: finalize->goodbye")


def test_verbose_shows_debug_and_quiet_only_warnings():
    with start_instance(RC3_LOGS) as inst:
        r = _shutdown(inst, "-v")
        assert r.returncode == 0, r.stderr
        assert "logger.debug[0]: dbg-marker" in r.stderr.splitlines()
    with start_instance(RC3_LOGS) as inst:
        r = _shutdown(inst, "--quiet")
        assert r.returncode == 0, r.stderr
        assert r.stderr.splitlines() == ["logger.warning[0]: warn-marker"]


def test_background_returns_at_once_and_prints_nothing():
    with start_instance("broker.rc3_path=sleep 4") as inst:
        r = inst.run("shutdown", "--background", timeout=T)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr
        assert inst.proc.poll() is None  # rc3 still sleeping: the command did not wait
        assert inst.proc.wait(timeout=T) == 0


def test_target_uri_and_jobid_path():
    with start_instance() as inst:
        # a local:// URI: FLUX_URI is not needed
        r = inst.run("shutdown", "--quiet", inst.uri, env={"FLUX_URI": "local:///nonexistent/x"})
        assert r.returncode == 0, r.stderr
        assert inst.proc.wait(timeout=T) == 0
    with start_instance() as inst:
        # a jobid path, resolved as flux uri does: "/" is the root instance
        r = inst.run("shutdown", "--quiet", "/")
        assert r.returncode == 0, r.stderr
        assert inst.proc.wait(timeout=T) == 0
    with start_instance() as inst:
        r = inst.run("shutdown", "nosuchjob")
        assert r.returncode == 1
        assert r.stderr.splitlines()[-1] == \
            "flux-shutdown: failed to resolve target nosuchjob to a Flux URI"
        assert r.stderr.startswith("flux-uri: ERROR: ")
        assert inst.proc.poll() is None  # nothing happened


def test_second_shutdown_is_refused():
    d = short_tmpdir()
    marker = os.path.join(d, "rc3")
    try:
        rc3 = f"broker.rc3_path=touch {marker} && sleep 3"
        with start_instance(rc3) as inst:
            first = subprocess.Popen([inst.flux, "shutdown"], env=inst.env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
            try:
                deadline = time.monotonic() + T
                while not os.path.exists(marker):
                    assert time.monotonic() < deadline and first.poll() is None
                    time.sleep(0.05)
                r = inst.run("shutdown", timeout=T)
                assert r.returncode == 1
                assert r.stderr == "flux-shutdown: shutdown is already in progress\n"
                r = inst.run("shutdown", "--background", timeout=T)
                assert r.stderr == "flux-shutdown: shutdown is already in progress\n"
                _, err = first.communicate(timeout=T)
                assert first.returncode == 0, err
                assert "rc3-success: finalize->goodbye" in err
            finally:
                kill_tree(first.pid)
        os.unlink(marker)
        # a shutdown begun in the background is no streaming request: the state speaks
        with start_instance(rc3) as inst:
            assert inst.run("shutdown", "--background", timeout=T).returncode == 0
            deadline = time.monotonic() + T
            while not os.path.exists(marker):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            r = inst.run("shutdown", timeout=T)
            assert r.returncode == 1
            assert r.stderr == "flux-shutdown: shutdown cannot be initiated in state finalize\n"
            assert inst.proc.wait(timeout=T) == 0
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def test_initial_program_gets_sighup_and_the_instance_exits_129():
    d = short_tmpdir()
    env = dict(base_env(), TMPDIR=d)
    try:
        r = run_tree([flux_exe(), "start", "sh", "-c",
                      "trap 'echo hup; exit 129' HUP; flux shutdown --background; sleep 30 & wait"],
                     env=env, capture_output=True, text=True, timeout=T)
        assert r.returncode == 129, r.stderr
        assert r.stdout == "hup\n"
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def test_only_rank_0_may_shut_down():
    d = short_tmpdir()
    env = dict(base_env(), TMPDIR=d)
    try:
        script = ("flux exec -r 1 flux shutdown; echo rc=$?;"
                  " flux exec -r 1 flux shutdown --background; echo rc=$?")
        r = run_tree([flux_exe(), "start", "--test-size=2", "sh", "-c", script],
                     env=env, capture_output=True, text=True, timeout=2 * T)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["rc=1", "rc=1"]
        assert r.stderr.count("flux-shutdown: shutdown may only be initiated on rank 0\n") == 2
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def test_dump_sets_content_dump_and_skip_gc_removes_it():
    """--dump=PATH sets content.dump (what rc3 sees); --gc is incompatible with --dump or
    --skip-gc; --skip-gc removes it.  (The dump itself: tests/cmd/test_cmd_dump.py.)"""
    d = short_tmpdir()
    out = os.path.join(d, "dump-attr")
    dump = os.path.join(d, "x.tar")
    try:
        with start_instance(f"broker.rc3_path=flux getattr content.dump >{out} 2>&1;"
                            " true") as inst:
            r = _shutdown(inst, f"--dump={dump}", "--quiet")
            assert r.returncode == 0, r.stderr
            assert r.stderr == (f"flux-shutdown: shutdown will dump KVS to {dump}"
                                " (this may take some time)\n")
        assert open(out).read() == f"{dump}\n"
        assert tarfile.is_tarfile(dump)
        with start_instance("content.dump=/nonexistent/x.tar",
                            f"broker.rc3_path=flux getattr content.dump >{out} 2>&1;"
                            " true") as inst:
            r = inst.run("shutdown", "--gc", "--skip-gc", timeout=T)
            assert (r.returncode, r.stderr) == (
                1, "flux-shutdown: --gc is incompatible with --skip-gc or --dump\n")
            r = inst.run("shutdown", "--gc", "--dump=x", timeout=T)
            assert r.returncode == 1
            assert inst.proc.poll() is None  # still running
            r = _shutdown(inst, "--skip-gc", "--quiet")
            assert r.returncode == 0, r.stderr
        assert open(out).read() == "flux-getattr: content.dump: No such file or directory\n"
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


def test_a_non_streaming_request_still_works():
    """An older pureflux client sent ``shutdown.start`` with no payload, no STREAMING."""
    from rawclient import request

    with start_instance() as inst:
        with inst.client() as c:
            c.send(request("shutdown.start", None, matchtag=1))
            resp = c.recv(timeout=T)
            assert resp.errnum == 0 and not resp.payload_bytes
        assert inst.proc.wait(timeout=T) == 0


def test_usage_and_bad_arguments():
    env = base_env()
    r = run_tree([flux_exe(), "shutdown", "--help"], env=env, capture_output=True, text=True,
                 timeout=T)
    assert r.returncode == 0
    text = r.stdout + r.stderr
    assert text.splitlines()[:4] == [
        "Usage: flux shutdown [OPTIONS] [TARGET]",
        "Shut down the Flux instance",
        "  -h, --help             Display this message.",
        "      --skip-gc          Skip KVS garbage collection this time, if already",
    ]
    assert "  -v, --verbose=[LEVEL]  Increase log verbosity: 0=show log messages <= LOG_INFO\n" \
        in text
    assert "  -n, --no               Answer no to any yes/no questions" in text
    r = run_tree([flux_exe(), "shutdown", "--bogus"], env=env, capture_output=True, text=True,
                 timeout=T)
    assert r.returncode == 1
    assert r.stderr == ("flux shutdown: unrecognized option '--bogus'\n"
                        "Try `flux shutdown --help' for more information.\n")
    r = run_tree([flux_exe(), "shutdown", "a", "b"], env=env, capture_output=True, text=True,
                 timeout=T)
    assert r.returncode == 1
    assert r.stderr.startswith("Usage: flux shutdown [OPTIONS] [TARGET]\n")


def test_raw_streaming_request_ends_with_enodata_and_waits_for_the_client():
    """Each response is ``{"log": LINE}``; ENODATA at goodbye; the broker exits once the
    client has gone (not before: it would lose the end of the stream)."""
    import errno

    from flux.constants import FLUX_MSGFLAG_STREAMING
    from rawclient import request

    with start_instance("broker.rc3_path=flux logger -s err rc3-marker") as inst:
        with inst.client() as c:
            c.send(request("shutdown.start", {"loglevel": 3}, matchtag=7,
                           flags=FLUX_MSGFLAG_STREAMING))
            logs = []
            while True:
                resp = c.recv(timeout=T)
                assert resp.matchtag == 7
                if resp.errnum:
                    assert resp.errnum == errno.ENODATA
                    break
                logs.append(resp.payload["log"])
            assert logs == ["logger.err[0]: rc3-marker\n"]
            time.sleep(0.3)
            assert inst.proc.poll() is None  # in goodbye until this client goes away
        assert inst.proc.wait(timeout=T) == 0


def test_a_client_gone_mid_stream_or_a_bad_payload_does_not_hold_the_broker():
    from flux.constants import FLUX_MSGFLAG_STREAMING
    from rawclient import request

    with start_instance("broker.rc3_path=sleep 1") as inst:
        c = inst.client()
        msg = request("shutdown.start", None, matchtag=1, flags=FLUX_MSGFLAG_STREAMING)
        msg.payload_bytes = b"not json"
        c.send(msg)
        time.sleep(0.3)
        c.close()
        t0 = time.monotonic()
        assert inst.proc.wait(timeout=T) == 0
        assert time.monotonic() - t0 < 10
