"""Broker modules that ship with pureflux: one thin entry point per module, ``NAME.py``.

Each file here is what ``flux module load NAME`` finds on the module path: it
names the module and wires a service's implementation (under
``flux.services.<name>``) to a handle, and nothing else, as flux-core keeps
one directory per module under ``src/modules/<name>/``.
"""
