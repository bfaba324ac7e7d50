"""pytest fixtures for code that runs on Flux: ``flux_instance``, ``flux_instance_factory``,
``flux_handle``, ``flux_loop``, and the ``flux_instance`` marker.

Registered through the ``pytest11`` entry point (name ``flux``; ``-p no:flux``
turns it off), so it is loaded in every pytest run of an environment where
pureflux is installed: importing it starts nothing and imports nothing heavy;
tests that use none of its fixtures see no difference.

Around each test, the instances alive in this process (the test's own or a
wider-scoped one) note the position of their log; when the test fails, the
records at LOG_ERR or worse logged since then (a module that crashed logs
"NAME module runtime failure" at LOG_CRIT) are added to the failure report as
a ``flux dmesg`` section.  Modules a test body loads with ``load_module`` are
removed when the test ends.  Under pytest-xdist each worker process starts its
own instances, each in its own temporary directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.handle import Flux

    from .instance import Instance

__all__ = ["flux_instance", "flux_instance_factory", "flux_handle", "flux_loop"]

MARKER = "flux_instance"
OPTIONS = ("size", "attrs", "config", "env")
SCOPES = ("function", "class", "module", "package", "session")

#: instances started by this plugin in this process and not yet stopped
_live: list["Instance"] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("flux_instance_scope",
                  "scope of the flux_instance fixture (function, class, module, package, "
                  "session); default function", default="function")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(size=1, attrs=None, config=None, env=None): how the "
        "flux_instance fixture starts its instance (brokers, -S attributes, TOML "
        "configuration as a dict or a path, extra environment)")


def _instance_scope(fixture_name: str, config: pytest.Config) -> Any:
    scope = str(config.getini("flux_instance_scope") or "function").strip()
    if scope not in SCOPES:
        raise pytest.UsageError(f"flux_instance_scope = {scope!r}: expected one of "
                                f"{', '.join(SCOPES)}")
    return scope


def _marker_options(node: Any) -> dict[str, Any]:
    mark = node.get_closest_marker(MARKER)
    if mark is None:
        return {}
    if mark.args:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only "
                                f"({', '.join(OPTIONS)})")
    unknown = sorted(set(mark.kwargs) - set(OPTIONS))
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: unknown option(s) "
                                f"{', '.join(unknown)}; expected {', '.join(OPTIONS)}")
    return dict(mark.kwargs)


def _start(**options: Any) -> "Instance":
    from .instance import Instance

    inst = Instance(**options)
    inst.start()
    _live.append(inst)
    return inst


def _stop(inst: "Instance") -> None:
    try:
        inst.stop()
    finally:
        if inst in _live:
            _live.remove(inst)


@pytest.fixture(scope=_instance_scope)
def flux_instance(request: pytest.FixtureRequest) -> Iterator["Instance"]:
    """A running instance (``flux start`` in a temporary directory), stopped at the end of
    its scope; ``@pytest.mark.flux_instance(size=..., attrs=..., config=...)`` sets it up."""
    inst = _start(**_marker_options(request.node))
    try:
        yield inst
    finally:
        _stop(inst)


@pytest.fixture
def flux_instance_factory() -> Iterator[Callable[..., "Instance"]]:
    """``factory(size=1, attrs=None, config=None, env=None)`` starts an instance; each one
    is stopped when the test ends."""
    made: list[Instance] = []

    def factory(size: int = 1, attrs: Any = None, config: Any = None,
                env: Any = None) -> "Instance":
        inst = _start(size=size, attrs=attrs, config=config, env=env)
        made.append(inst)
        return inst

    try:
        yield factory
    finally:
        for inst in reversed(made):
            _stop(inst)


@pytest.fixture
def flux_handle(flux_instance: "Instance") -> Iterator["Flux"]:
    """A handle on ``flux_instance``, closed after the test."""
    h = flux_instance.handle()
    try:
        yield h
    finally:
        h.__exit__(None, None, None)


@pytest.fixture
def flux_loop() -> Iterator["Flux"]:
    """A ``loop://`` handle: no broker; what it sends comes back to it (unit tests of
    message handlers)."""
    import flux

    h = flux.Flux("loop://")
    try:
        yield h
    finally:
        h.__exit__(None, None, None)


def _mine() -> list["Instance"]:
    return [inst for inst in _live if inst.owned_here]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    for inst in _mine():  # wider-scoped instances: the test's log starts here
        inst.begin_test()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    for inst in _mine():
        inst.begin_test_body()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
    errors = []
    for inst in _mine():
        errors += inst.end_test()
    result = yield
    if errors:
        raise RuntimeError("removing the modules the test loaded failed: " + "; ".join(errors))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed:
        for inst in _mine():
            _add_dmesg_section(report, inst)
    return report


def _add_dmesg_section(report: pytest.TestReport, inst: "Instance") -> None:
    if not inst.running:
        if inst.proc is not None and inst.tmpdir:
            report.sections.append((f"flux start exited ({inst.proc.returncode}): {inst.uri}",
                                    inst.output()))
        return
    try:
        records = inst.problems_since_test_began()
    except Exception as exc:  # the broker may be the problem: say so, do not hide the failure
        report.sections.append((f"flux dmesg {inst.uri}", f"(could not read the log: {exc})"))
        return
    if records:
        report.sections.append((f"flux dmesg {inst.uri} (err and worse, during the test)",
                                "\n".join(str(r) for r in records)))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A last resort: nothing this plugin started outlives the session."""
    for inst in _mine():
        _stop(inst)
