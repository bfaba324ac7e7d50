"""Tests of the example modules with the pytest plugin (docs/guide/testing.md):
``python -m pytest examples/test_modules.py``.

One instance for the file (the marker on the module), the modules loaded by each test and
removed after it; a unit test on ``loop://`` without a broker.
"""

import errno
import importlib.util
import os
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

pytestmark = pytest.mark.flux_instance(attrs={"log-level": 7})


def load_source(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_echo_on_loop(flux_loop):
    echo = load_source("echo").Echo(flux_loop)
    replies = []

    def done(f):
        replies.append(f.get())
        echo.stop()

    flux_loop.rpc("unknown.echo", {"hi": 1}).then(done)
    echo.run()
    assert replies == [{"hi": 1}]


def test_echo(flux_instance, flux_handle):
    flux_instance.load_module(os.path.join(HERE, "echo.py"))
    assert flux_handle.rpc("echo.echo", [1, "two"]).get() == [1, "two"]


def test_counter(flux_instance, flux_handle):
    flux_instance.load_module(os.path.join(HERE, "counter.py"))
    assert flux_handle.rpc("counter.incr", {"by": 5}).get() == {"count": 5}
    with pytest.raises(OSError) as exc:
        flux_handle.rpc("counter.incr", {"by": "x"}).get()
    assert exc.value.errno == errno.EINVAL
    flux_instance.run("flux event pub counter.reset", check=True)
    for _ in range(100):  # the event reaches the module asynchronously
        if flux_handle.rpc("counter.get").get() == {"count": 0}:
            break
        time.sleep(0.02)
    assert flux_handle.rpc("counter.get").get() == {"count": 0}
    assert any("counter.info[0]: reset at 5" in str(r) for r in flux_instance.dmesg())


def test_greeter(flux_instance, flux_handle):
    flux_instance.load_module(os.path.join(HERE, "greeter.py"), "--greeting=Howdy")
    assert flux_handle.rpc("greeter.greet", {"name": "ann"}).get() == {"text": "Howdy, ann!"}


def test_greeter_bad_argument(flux_instance):
    from flux.testing import InstanceError

    with pytest.raises(InstanceError, match="unknown argument '--colour=red'"):
        flux_instance.load_module(os.path.join(HERE, "greeter.py"), "--colour=red")
