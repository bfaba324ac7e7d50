"""Fixtures of the dashboard tests: one instance and one ``flux dashboard`` per test module,
started for real, on an ephemeral port of 127.0.0.1, with the ``cancel`` action enabled in the
instance's config.  A test module imports ``dash`` (and ``dash_instance``) from here.

Modules importing this are skipped (with the reason) when aiohttp is not installed: the
dashboard is an optional extra.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from conftest import start_instance  # noqa: E402
from proctree import kill_tree  # noqa: E402

pytest.importorskip("aiohttp", reason="the dashboard extra is not installed "
                                      "(pip install 'pureflux[dashboard]')")

CONFIG = '[dashboard]\nactions = ["cancel"]\n'


class Dashboard:
    """A running ``flux dashboard``: its URL, token, and plain HTTP helpers."""

    def __init__(self, inst: Any, proc: subprocess.Popen, url: str) -> None:
        self.inst = inst
        self.proc = proc
        self.url = url
        self.base, _, self.token = url.partition("/?token=")

    def request(self, path: str, token: Optional[str] = "header", method: str = "GET",
                headers: Optional[dict[str, str]] = None, timeout: float = 15.0
                ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of ``path``; ``token="header"`` sends the right one as a
        header, None sends none, any other string is sent as ``?token=``."""
        hdrs = dict(headers or {})
        url = self.base + urllib.parse.quote(path, safe="/?=&%.")
        if token == "header":
            hdrs["X-Dashboard-Token"] = self.token
        elif token is not None:
            url += ("&" if "?" in path else "?") + "token=" + token
        req = urllib.request.Request(url, method=method, headers=hdrs,
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, path: str, expect: int = 200) -> Any:
        import json

        status, _, body = self.request(path)
        assert status == expect, (path, status, body)
        return json.loads(body)

    def wait_json(self, path: str, check: Any, timeout: float = 20.0) -> Any:
        """Poll ``path`` until ``check(answer)`` is true; the answer."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.json(path)
            if check(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: condition not met in {timeout}s: {value!r}")
            time.sleep(0.2)


def start_dashboard(inst: Any, *args: str) -> Dashboard:
    """``flux dashboard --port 0 ARGS`` in ``inst``; returns once its URL is printed."""
    proc = subprocess.Popen([inst.flux, "dashboard", "--port", "0", *args], env=inst.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded by the watchdog below
    if "serving http://" not in line:
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"flux dashboard did not start: {line!r} {err!r}")
    return Dashboard(inst, proc, line.split("serving ", 1)[1].strip())


def stop_dashboard(dash: Dashboard) -> int:
    dash.proc.send_signal(signal.SIGTERM)
    try:
        code = dash.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill_tree(dash.proc.pid)
        code = dash.proc.wait()
    for stream in (dash.proc.stdout, dash.proc.stderr):
        if stream:
            stream.close()
    return code


@pytest.fixture(scope="module")
def dash_instance() -> Iterator[Any]:
    confdir = tempfile.mkdtemp(prefix="pf-dash-")
    Path(confdir, "dashboard.toml").write_text(CONFIG)
    try:
        with start_instance(args=("-c", confdir)) as inst:
            yield inst
    finally:
        for name in os.listdir(confdir):
            os.unlink(os.path.join(confdir, name))
        os.rmdir(confdir)


@pytest.fixture(scope="module")
def dash(dash_instance: Any) -> Iterator[Dashboard]:
    d = start_dashboard(dash_instance)
    try:
        yield d
    finally:
        assert stop_dashboard(d) == 0
