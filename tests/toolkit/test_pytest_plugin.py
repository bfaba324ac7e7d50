"""The pytest plugin (flux.testing.pytest_plugin), run through pytest's own ``pytester``:
each fixture, scopes, the marker and the factory, module removal, the dmesg section of a
failure report, cleanup, pytest-xdist and pytest-asyncio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flux.testing.instance  # noqa: F401  (kept across pytester's inline runs: one class
from flux.testing.proctree import tree_of  # identity for InstanceError in every run)

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

# what the inner tests record, one JSON object a line, for the outer test to check
RECORDER = '''
import json, os
def record(**kw):
    kw.setdefault("worker", os.environ.get("PYTEST_XDIST_WORKER", ""))
    with open({path!r}, "a") as f:
        f.write(json.dumps(kw) + "\\n")
'''


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def ini(pytester: pytest.Pytester, extra: str = "") -> None:
    """The inner run's ini: pytest-asyncio's loop scope (it warns when unset) plus ``extra``."""
    pytester.makeini(INI + extra)


@pytest.fixture(autouse=True)
def default_ini(request: pytest.FixtureRequest) -> None:
    if "pytester" in request.fixturenames:
        ini(request.getfixturevalue("pytester"))


@pytest.fixture
def recorder(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "records.jsonl"
    pytester.makepyfile(recorder=RECORDER.format(path=str(path)))
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_gone(recs: list[dict]) -> None:
    """Every instance the inner run recorded is stopped: no process, no directory."""
    assert recs
    for rec in recs:
        deadline = time.monotonic() + 5
        while tree_of(rec["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not tree_of(rec["pid"]), f"instance processes left: {rec}"
        assert not os.path.exists(rec["tmpdir"]), f"instance directory left: {rec}"


def test_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--trace-config", "-q", "--co")
    result.stdout.fnmatch_lines(["*flux.testing.pytest_plugin*"])
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.flux_instance(size=1, attrs=None*"])


def test_import_is_cheap_and_starts_nothing() -> None:
    code = ("import sys, flux.testing.pytest_plugin as p; "
            "heavy = [m for m in ('flux.testing.instance', 'flux.core.handle', "
            "'yaml', 'jsonschema') if m in sys.modules]; "
            "print(heavy, len(p._live))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[] 0"


def test_unused_plugin_starts_no_instance(pytester: pytest.Pytester) -> None:
    before = set(os.listdir("/tmp"))
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not [d for d in set(os.listdir("/tmp")) - before if d.startswith("pftest-")]


def test_flux_instance_and_handle(pytester: pytest.Pytester, recorder: Path) -> None:
    pytester.makepyfile('''
        from recorder import record

        def test_instance(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)
            assert flux_instance.uri.startswith("local:///")
            r = flux_instance.run(["flux", "getattr", "size"])
            assert (r.returncode, r.stdout) == (0, "1\\n")
            r = flux_instance.run("echo $FLUX_URI; flux getattr nosuch")
            assert r.stdout.strip() == flux_instance.uri and r.returncode == 1
            assert "nosuch" in r.stderr
            h = flux_instance.handle()
            assert h.rpc("broker.ping", {"seq": 7}).get()["seq"] == 7
            flux_instance.run(["flux", "logger", "--severity=err", "hello-dmesg"])
            assert any("logger.err[0]: hello-dmesg" in str(r) for r in flux_instance.dmesg())

        def test_handle(flux_handle, flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)
            assert flux_handle.attr_get("size") == "1"
            assert flux_handle.get_rank() == 0
    ''')
    pytester.runpytest("-q").assert_outcomes(passed=2)
    recs = records(recorder)
    assert len({r["uri"] for r in recs}) == 2  # function scope: one instance per test
    assert_gone(recs)


def test_marker_sets_size_attrs_config(pytester: pytest.Pytester, recorder: Path) -> None:
    pytester.makepyfile('''
        import json, pytest
        from recorder import record

        @pytest.mark.flux_instance(size=2, attrs={"test.color": "blue"},
                                   config={"access": {"allow-guest-user": True},
                                           "queues": {"batch": {}}})
        def test_configured(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)
            assert flux_instance.run("flux getattr size").stdout == "2\\n"
            assert flux_instance.run("flux getattr test.color").stdout == "blue\\n"
            conf = json.loads(flux_instance.run("flux config get").stdout)
            assert conf["access"] == {"allow-guest-user": True}
            assert conf["queues"] == {"batch": {}}
            assert flux_instance.run("flux exec -r 1 flux getattr rank").stdout == "1\\n"

        @pytest.mark.flux_instance(sizes=2)
        def test_bad_marker(flux_instance):
            pass
    ''')
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) sizes*"])
    assert_gone(records(recorder))


def test_factory_makes_independent_instances(pytester: pytest.Pytester, recorder: Path) -> None:
    pytester.makepyfile('''
        from recorder import record

        def test_two(flux_instance_factory):
            a = flux_instance_factory()
            b = flux_instance_factory(size=3, attrs={"test.x": 1}, config={"t": {"k": "v"}})
            for inst in (a, b):
                record(uri=inst.uri, pid=inst.proc.pid, tmpdir=inst.tmpdir)
            assert a.uri != b.uri
            assert a.run("flux getattr size").stdout == "1\\n"
            assert b.run("flux getattr size").stdout == "3\\n"
            assert b.run("flux config get t.k").stdout == "v\\n"
            assert a.run("flux getattr test.x").returncode == 1
    ''')
    pytester.runpytest("-q").assert_outcomes(passed=1)
    assert_gone(records(recorder))


@pytest.mark.parametrize("scope,distinct", [("module", 2), ("session", 1)])
def test_scope_from_ini(pytester: pytest.Pytester, recorder: Path, scope: str,
                        distinct: int) -> None:
    ini(pytester, f"flux_instance_scope = {scope}\n")
    body = '''
        from recorder import record

        def test_one(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)

        def test_two(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)
    '''
    pytester.makepyfile(test_a=body, test_b=body)
    pytester.runpytest("-q").assert_outcomes(passed=4)
    recs = records(recorder)
    assert len(recs) == 4 and len({r["uri"] for r in recs}) == distinct
    assert_gone(recs)


def test_bad_scope_is_a_usage_error(pytester: pytest.Pytester) -> None:
    ini(pytester, "flux_instance_scope = forever\n")
    pytester.makepyfile("def test_x(flux_instance):\n    pass\n")
    result = pytester.runpytest("-q")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*flux_instance_scope = 'forever'*"])


def test_load_module_is_removed_after_the_test(pytester: pytest.Pytester) -> None:
    ini(pytester, "flux_instance_scope = module\n")
    pytester.copy_example(str(REPO / "examples" / "echo.py"))
    pytester.makepyfile('''
        import pytest
        from flux.testing import InstanceError

        def test_load(flux_instance):
            assert flux_instance.load_module("echo.py") == "echo"
            assert flux_instance.load_module("echo.py", name="echo2") == "echo2"
            h = flux_instance.handle()
            assert h.rpc("echo2.echo", {"a": 1}).get() == {"a": 1}

        def test_removed(flux_instance):
            listing = flux_instance.run("flux module list").stdout
            assert "echo" not in listing
            with pytest.raises(InstanceError, match="nosuch"):
                flux_instance.load_module("nosuch.py")
    ''')
    pytester.runpytest("-q").assert_outcomes(passed=2)


CRASHER = '''
import os
from flux.brokermod import BrokerModule, request_handler

class Crasher(BrokerModule):
    @request_handler("crash")
    def crash(self, msg):
        raise RuntimeError("kaboom in the handler")
'''


def test_failure_report_shows_dmesg(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(crasher=CRASHER)
    pytester.makepyfile('''
        import pytest

        def test_module_crash(flux_instance):
            flux_instance.load_module("crasher.py")
            with pytest.raises(OSError):
                flux_instance.handle().rpc("crasher.crash").get()
            assert False, "the test fails after the crash"

        def test_logged_err(flux_instance):
            flux_instance.run("flux logger --severity=crit disk-on-fire")
            flux_instance.run("flux logger --severity=warning only-a-warning")
            assert 0

        def test_clean_failure(flux_instance):
            flux_instance.run("flux logger --severity=info all-fine")
            assert 0

        def test_passes_despite_err(flux_instance):
            flux_instance.run("flux logger --severity=err ignored-when-passing")
    ''')
    result = pytester.runpytest("-q", "-rN")
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()
    sections = out.split("_____ ")
    crash = next(s for s in sections if s.startswith("test_module_crash"))
    assert "flux dmesg local://" in crash
    assert "crasher module runtime failure" in crash and "kaboom in the handler" in crash
    logged = next(s for s in sections if s.startswith("test_logged_err"))
    assert "logger.crit[0]: disk-on-fire" in logged
    assert "logger.warning[0]: only-a-warning" not in logged
    clean = next(s for s in sections if s.startswith("test_clean_failure"))
    assert "flux dmesg" not in clean
    assert "ignored-when-passing" not in out


def test_dmesg_section_covers_only_the_failing_test(pytester: pytest.Pytester) -> None:
    ini(pytester, "flux_instance_scope = module\n")
    pytester.makepyfile('''
        def test_earlier(flux_instance):
            flux_instance.run("flux logger --severity=err from-the-earlier-test")

        def test_later(flux_instance):
            flux_instance.run("flux logger --severity=err from-the-later-test")
            assert 0
    ''')
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "from-the-later-test" in out and "from-the-earlier-test" not in out


def test_flux_loop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import errno, pytest
        from flux.constants import FLUX_MSGTYPE_REQUEST

        def test_loop(flux_loop):
            def on_request(h, w, msg, arg):
                h.respond(msg, {"got": msg.payload["x"]})
                w.stop()  # nothing else keeps the reactor running
            w = flux_loop.msg_watcher_create(on_request, FLUX_MSGTYPE_REQUEST, "demo.hello")
            w.start()
            f = flux_loop.rpc("demo.hello", {"x": 5})
            flux_loop.reactor_run()
            assert f.get() == {"got": 5}
            errors = []
            def done(f):
                try:
                    f.get()
                except OSError as exc:
                    errors.append(exc.errno)
            flux_loop.rpc("nobody.here").then(done)
            flux_loop.reactor_run()  # nobody serves it: the handle answers ENOSYS itself
            assert errors == [errno.ENOSYS]
    ''')
    pytester.runpytest("-q").assert_outcomes(passed=1)


def test_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
        import asyncio, pytest

        @pytest.mark.asyncio
        async def test_async_rpc(flux_handle):
            replies = await asyncio.gather(*(flux_handle.rpc("broker.ping", {"seq": i})
                                             for i in range(5)))
            assert [r["seq"] for r in replies] == list(range(5))
            await asyncio.sleep(0)

        @pytest.mark.asyncio
        async def test_async_events(flux_handle, flux_instance):
            loop = asyncio.get_running_loop()
            async with flux_handle.events("demo.") as stream:
                nxt = asyncio.ensure_future(stream.__anext__())  # subscribes, then waits
                for _ in range(50):  # publish until the subscription has seen one
                    await loop.run_in_executor(None, flux_instance.run, "flux event pub demo.hi")
                    done, _ = await asyncio.wait([nxt], timeout=0.2)
                    if done:
                        break
                msg = nxt.result()
            assert msg.topic == "demo.hi"
    ''')
    pytester.runpytest("-q", "-p", "asyncio").assert_outcomes(passed=2)


def test_xdist_workers_have_their_own_instances(pytester: pytest.Pytester,
                                                recorder: Path) -> None:
    ini(pytester, "flux_instance_scope = session\n")
    body = '''
        from recorder import record

        def test_{n}(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid,
                   tmpdir=flux_instance.tmpdir)
            r = flux_instance.run("flux kvs put k={n} && flux kvs get k")
            assert r.stdout == "{n}\\n"
    '''
    pytester.makepyfile(**{f"test_x{i}": "\n".join(body.format(n=f"{i}_{j}") for j in range(2))
                           for i in range(3)})
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "-q", timeout=120)
    result.assert_outcomes(passed=6)
    recs = records(recorder)
    assert {r["worker"] for r in recs} == {"gw0", "gw1"}
    by_worker: dict[str, set[str]] = {}
    for r in recs:
        by_worker.setdefault(r["worker"], set()).add(r["uri"])
    assert all(len(uris) == 1 for uris in by_worker.values())  # session scope, per worker
    assert by_worker["gw0"] != by_worker["gw1"]
    assert_gone(recs)


def test_module_marker_with_module_scope(pytester: pytest.Pytester, recorder: Path) -> None:
    """A wider-scoped instance takes the marker of its scope's node (``pytestmark``)."""
    ini(pytester, "flux_instance_scope = module\n")
    pytester.makepyfile('''
        import pytest
        from recorder import record

        pytestmark = pytest.mark.flux_instance(size=2, attrs={"test.tag": "m"})

        def test_one(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)
            assert flux_instance.run("flux getattr size; flux getattr test.tag").stdout == "2\\nm\\n"

        def test_two(flux_instance):
            record(uri=flux_instance.uri, pid=flux_instance.proc.pid, tmpdir=flux_instance.tmpdir)
    ''')
    pytester.runpytest("-q").assert_outcomes(passed=2)
    recs = records(recorder)
    assert len({r["uri"] for r in recs}) == 1
    assert_gone(recs)
