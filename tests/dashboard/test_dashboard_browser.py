"""The dashboard page in a real browser: Playwright driving Debian's Chromium, headless.

One browser and one instance for the module.  Each view is saved as a screenshot into
``$FLUX_DASHBOARD_SCREENSHOTS`` when set (docs/images/ holds the committed copies), else into
pytest's temporary directory.  Skipped with the reason when aiohttp, playwright or chromium is
missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from dashhelpers import dash, dash_instance  # noqa: F401  (fixtures)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                                             "(pip install playwright)")

CHROMIUM = os.environ.get("FLUX_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)

TIMEOUT_MS = 20000
expect = sync_api.expect  # locator checks: no eval, so the page's CSP stays in force


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: Any) -> Path:
    where = os.environ.get("FLUX_DASHBOARD_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("dashboard-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(browser: Any, dash: Any) -> Iterator[Any]:
    """One page, opened with the printed URL; console errors and failed requests recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.problems = []
    pg.on("console", lambda msg: pg.problems.append(f"console {msg.type}: {msg.text}")
          if msg.type in ("error", "warning") else None)
    pg.on("pageerror", lambda exc: pg.problems.append(f"page error: {exc}"))
    pg.on("requestfailed", lambda req: pg.problems.append(f"request failed: {req.url}")
          if "/api/events" not in req.url and "/api/kvs/follow" not in req.url else None)
    pg.goto(dash.url)
    try:
        yield pg
    finally:
        context.close()


def view(pg: Any, name: str) -> None:
    pg.click(f"#tabs a[data-view={name}]")
    pg.wait_for_selector(f"#view-{name}.active")


def test_page_loads_with_no_console_error(page, shots):
    page.wait_for_selector("#ranks-table tbody tr[data-rank='0'] td.status-full")
    assert "?token=" not in page.url  # the token left the address bar (a cookie holds it)
    page.wait_for_selector("#chart-messages svg polyline")  # two samples make a line
    page.wait_for_selector("#connection.conn-ok")
    assert page.problems == []


def test_a_job_submitted_from_the_cli_appears_and_reaches_inactive(page, dash_instance, shots):
    view(page, "jobs")
    jobid = dash_instance.run("submit", "--job-name=browserjob", "sh", "-c",
                              "echo browser-out; sleep 1", check=True).stdout.strip()
    row = page.locator(f"#jobs-table tr[data-jobid='{jobid}']")
    row.wait_for()
    page.wait_for_selector(f"#jobs-table tr[data-jobid='{jobid}'][data-state='INACTIVE']")
    assert row.locator("td.state").inner_text() == "INACTIVE"
    assert "COMPLETED" in row.inner_text() and "browserjob" in row.inner_text()
    row.click()
    expect(page.locator("#job-output")).to_contain_text("browser-out", timeout=TIMEOUT_MS)
    page.screenshot(path=str(shots / "jobs.png"), full_page=True)
    assert page.problems == []


def test_cancel_from_the_page(page, dash_instance):
    """The owner enabled ``cancel`` (dashhelpers.CONFIG): an active job has a cancel button."""
    view(page, "jobs")
    jobid = dash_instance.run("submit", "sleep", "300", check=True).stdout.strip()
    button = page.locator(f"#jobs-table tr[data-jobid='{jobid}'] button", has_text="cancel")
    button.click()
    page.wait_for_selector(f"#jobs-table tr[data-jobid='{jobid}'][data-state='INACTIVE']")
    row = page.locator(f"#jobs-table tr[data-jobid='{jobid}']")
    assert "CANCELED" in row.inner_text() and row.locator("button").count() == 0
    assert page.problems == []


def test_a_logger_line_appears(page, dash_instance, shots):
    view(page, "log")
    dash_instance.run("logger", "--appname=browsertest", "hello from flux logger", check=True)
    line = page.locator("#dmesg-lines div", has_text="hello from flux logger")
    line.wait_for()
    assert "browsertest" in line.inner_text()
    page.select_option("#log-level", "3")  # err and worse: the notice line goes away
    assert page.locator("#dmesg-lines div", has_text="hello from flux logger").count() == 0
    page.select_option("#log-level", "7")
    page.select_option("#log-subsystem", "browsertest")
    assert page.locator("#dmesg-lines div").count() >= 1
    assert all("browsertest" in t for t in page.locator("#dmesg-lines div").all_inner_texts())
    page.select_option("#log-subsystem", "")
    page.screenshot(path=str(shots / "log.png"))
    assert page.problems == []


def test_a_kvs_value_put_from_the_cli_shows(page, dash_instance, shots):
    dash_instance.run("kvs", "put", 'browser.cfg={"answer": 42, "list": [1, 2]}', check=True)
    view(page, "kvs")
    page.locator("#kvs-dir tr[data-key='browser']").click()
    page.locator("#kvs-dir tr[data-key='browser.cfg']").click()
    value = page.locator("#kvs-value")
    value.wait_for()
    assert '"answer": 42' in value.inner_text()
    page.screenshot(path=str(shots / "kvs.png"))
    # following a key: a change made from the command line shows without a reload
    page.check("#kvs-follow")
    page.fill("#kvs-key", "browser.counter")
    dash_instance.run("kvs", "put", "browser.counter=1", check=True)
    page.click("#kvs-go")
    expect(page.locator("#kvs-value")).to_have_text("1", timeout=TIMEOUT_MS)
    dash_instance.run("kvs", "put", "browser.counter=2", check=True)
    expect(page.locator("#kvs-value")).to_have_text("2", timeout=TIMEOUT_MS)
    page.uncheck("#kvs-follow")
    assert page.problems == []


def test_modules_view(page, dash_instance, shots, tmp_path):
    mod = tmp_path / "browsermod.py"
    mod.write_text("from flux.brokermod import BrokerModule\n"
                   "class Mod(BrokerModule):\n    pass\n")
    dash_instance.run("module", "load", str(mod), check=True)
    try:
        view(page, "modules")
        page.wait_for_selector("#modules-table tr[data-module='browsermod']")
        page.wait_for_selector("#services-table tr[data-service='kvs']")
        page.screenshot(path=str(shots / "modules.png"))
    finally:
        dash_instance.run("module", "remove", "browsermod", check=True)
    page.wait_for_selector("#modules-table tr[data-module='browsermod']", state="detached")
    assert page.problems == []


def test_overview_after_the_traffic(page, dash, shots):
    """Back on the first view: the tree, the ranks and charts with the jobs above in them."""
    view(page, "overview")
    dash.wait_json("/api/history", lambda ss: any(s["finished"] > 0 for s in ss))
    page.wait_for_selector("#chart-jobs svg polyline")
    page.wait_for_timeout(1500)  # one more sample drawn
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    assert page.problems == []


def test_a_wrong_or_missing_token_gets_nothing(browser, dash):
    context = browser.new_context()
    try:
        pg = context.new_page()
        seen = []
        pg.on("response", lambda resp: seen.append((resp.url, resp.status)))
        for url in (dash.base + "/", dash.base + "/?token=wrong", dash.base + "/api/overview",
                    dash.base + "/static/app.js"):
            # Chromium shows its own error page for an empty 403 (the navigation "fails")
            try:
                pg.goto(url)
            except sync_api.Error as exc:
                assert "ERR_HTTP_RESPONSE_CODE_FAILURE" in str(exc)
            assert pg.locator("#tabs").count() == 0 and "dashboard" not in pg.content()
            resp = context.request.get(url)
            assert (resp.status, resp.body()) == (403, b""), url
        assert seen and all(status == 403 for _, status in seen), seen
        assert context.cookies() == []
    finally:
        context.close()
