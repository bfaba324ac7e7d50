"""The common errors of docs/guide/troubleshooting.md, caught:
``flux start python3 examples/errors.py``."""

import errno
import os
import subprocess

import flux


def main():
    h = flux.Flux()
    for topic in ("nosuch.method", "broker.nosuch"):
        try:
            h.rpc(topic).get()
        except OSError as exc:
            assert exc.errno == errno.ENOSYS
            print(f"{topic}: ENOSYS: {exc.strerror}")

    try:
        flux.Flux("local:///tmp/no-such-instance/local-0")
    except OSError as exc:
        assert exc.errno == errno.ENOENT
        print("no instance: ENOENT:", exc.strerror)

    # a service that never answers: bound the wait
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["flux", "module", "load", "--name", "quiet", os.path.join(here, "echo.py")],
                   check=True)
    try:
        h.rpc("quiet.nosuch").get()  # a module answers unknown methods with ENOSYS
    except OSError as exc:
        print("quiet.nosuch:", errno.errorcode[exc.errno])
    try:
        h.rpc("broker.ping", {}, nodeid=0).wait_for(10).get()
        print("a bounded wait that was answered")
    finally:
        subprocess.run(["flux", "module", "remove", "quiet"], check=True)


if __name__ == "__main__":
    main()
