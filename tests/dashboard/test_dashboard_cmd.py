"""``flux dashboard`` as a command: its errors, its end, and ``import flux`` staying light."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dashhelpers import start_dashboard, stop_dashboard


def test_without_aiohttp_one_line_says_how_to_install(instance, tmp_path):
    fake = tmp_path / "aiohttp"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('aiohttp is not installed')\n")
    res = instance.run("dashboard", env={"PYTHONPATH": str(tmp_path)})
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == ("flux-dashboard: the dashboard needs aiohttp: pip install "
                          "'pureflux[dashboard]' (or pip install 'aiohttp>=3.9')\n")


def test_bad_options_and_config(instance):
    res = instance.run("dashboard", "--port", "70000")
    assert (res.returncode, res.stderr) == (1, "flux-dashboard: invalid port 70000\n")
    res = instance.run("dashboard", "--interval", "0")
    assert res.returncode == 1 and "--interval" in res.stderr
    instance.run("config", "load", input='[dashboard]\nactions = ["reboot"]\n', check=True)
    res = instance.run("dashboard")
    assert (res.returncode, res.stderr) == (
        1, "flux-dashboard: dashboard.actions: unknown action 'reboot' "
           "(known: cancel, module-remove)\n")


def test_outside_an_instance(instance):
    res = instance.run("dashboard", env={"FLUX_URI": "local:///nonexistent-pf/local-0",
                                         "FLUX_LOCAL_CONNECTOR_RETRY_COUNT": "0"})
    assert res.returncode == 1 and res.stderr.startswith("flux-dashboard: ")
    assert "Traceback" not in res.stderr


def test_a_taken_port_is_one_line(instance):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = instance.run("dashboard", "--port", str(port))
    assert res.returncode == 1 and res.stderr.startswith(f"flux-dashboard: 127.0.0.1:{port}: ")
    assert len(res.stderr.splitlines()) == 1


def test_ends_with_the_instance(instance):
    dash = start_dashboard(instance)
    try:
        assert dash.json("/api/overview")["size"] == 1
        instance.stop()
        assert dash.proc.wait(timeout=20) == 1
        assert dash.proc.stderr.read() == "flux-dashboard: lost the connection to the instance\n"
    finally:
        if dash.proc.poll() is None:
            stop_dashboard(dash)


def test_sigterm_ends_it_cleanly(instance):
    dash = start_dashboard(instance)
    assert dash.json("/api/config")["actions"] == []
    assert stop_dashboard(dash) == 0


def test_import_flux_does_not_load_the_dashboard():
    code = ("import sys, flux, flux.cmd.dashboard; "
            "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'flux.dashboard'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out == "[]\n"


def test_an_instance_of_three_brokers(tmp_path):
    """The tree from overlay.topology, every rank's row and modules, in ``flux start
    --test-size=3`` (the dashboard is its initial program)."""
    import json
    import signal
    import urllib.request

    from conftest import base_env, flux_exe
    from proctree import kill_tree

    proc = subprocess.Popen([flux_exe(), "start", "--test-size=3", "flux", "dashboard"],
                            env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert "serving http://127.0.0.1:" in line, line + proc.stderr.read()
        base, _, token = line.split("serving ", 1)[1].strip().partition("/?token=")

        def get(path):
            req = urllib.request.Request(base + path, headers={"X-Dashboard-Token": token})
            with urllib.request.urlopen(req, timeout=15) as resp:
                return json.loads(resp.read())

        o = get("/api/overview")
        assert o["size"] == 3
        assert o["tree"] == {"rank": 0, "size": 3, "children": [
            {"rank": 1, "size": 1, "children": []}, {"rank": 2, "size": 1, "children": []}]}
        assert [(r["rank"], r["status"]) for r in o["ranks"]] == [(0, "full"), (1, "full"),
                                                                   (2, "full")]
        assert get("/api/modules?rank=2")["services"]["broker"] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_module_remove_when_the_owner_enabled_it(instance, tmp_path):
    mod = tmp_path / "rmmod.py"
    mod.write_text("from flux.brokermod import BrokerModule\n"
                   "class Mod(BrokerModule):\n    pass\n")
    instance.run("module", "load", str(mod), check=True)
    instance.run("config", "load", input='[dashboard]\nactions = ["module-remove"]\n',
                 check=True)
    dash = start_dashboard(instance)
    try:
        assert dash.json("/api/config")["actions"] == ["module-remove"]
        # cancel is not enabled here
        assert dash.request("/api/jobs/1/cancel", method="POST",
                            headers={"X-Dashboard-Action": "cancel"})[0] == 403
        assert dash.request("/api/modules/0/rmmod/remove", method="POST")[0] == 403
        status, _, body = dash.request("/api/modules/0/rmmod/remove", method="POST",
                                       headers={"X-Dashboard-Action": "module-remove"})
        assert status == 200, body
        assert "rmmod" not in instance.run("module", "list", check=True).stdout
        status, _, body = dash.request("/api/modules/0/rmmod/remove", method="POST",
                                       headers={"X-Dashboard-Action": "module-remove"})
        assert status == 404 and b'"errno": 2' in body
    finally:
        assert stop_dashboard(dash) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_only_the_owner_may_start_it():
    from conftest import start_instance
    from guest import run_as_guest

    import argparse  # noqa: F401  (everything the command imports is imported before the
    import contextlib  # fork: the guest may not read root's Python or this virtualenv)
    import io
    import secrets  # noqa: F401

    import asyncio  # noqa: F401
    import flux
    import flux.cmd.dashboard
    import flux.cmd.util  # noqa: F401
    import flux.dashboard.server  # noqa: F401

    with start_instance("access.allow-guest-user=true") as gi:
        # the handle's lazily imported parts, loaded now: the guest may not read them
        owner = flux.Flux(gi.uri)
        owner.rpc("attr.get", {"name": "rank"}).get()
        owner.attr_get("security.owner")
        del owner

        def work():
            os.environ["FLUX_URI"] = gi.uri
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = flux.cmd.dashboard.main([])
                except SystemExit as exc:
                    code = exc.code
            return [code, out.getvalue(), err.getvalue()]

        assert run_as_guest(work) == [
            1, "", "flux-dashboard: only the instance owner may start the dashboard\n"]
