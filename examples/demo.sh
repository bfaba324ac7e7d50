#!/bin/sh
# The README's main job: run inside an instance (flux start sh examples/demo.sh).
# Loads the example Python broker modules, calls them, removes them.
set -e
here=$(cd "$(dirname "$0")" && pwd)

flux module load "$here/echo.py"
flux ping -c 1 echo
flux python -c 'import flux; print("echo.echo ->", flux.Flux().rpc("echo.echo", {"hello": "world"}).get())'

flux module load "$here/counter.py"
flux python -c 'import flux; h = flux.Flux(); h.rpc("counter.incr", {"by": 2}).get(); print("counter.incr ->", h.rpc("counter.incr").get())'

flux module load "$here/greeter.py" --greeting=Howdy
flux python -c 'import flux; print("greeter.greet ->", flux.Flux().rpc("greeter.greet", {"name": "flux"}).get())'

flux module list
flux module remove greeter
flux module remove counter
flux module remove echo
echo "demo: ok"
