"""Implementations of the services that run as broker modules, one package per service.

``flux.services.<name>`` holds a service's logic, with a sans-I/O core (pure
state and decisions over messages and payloads, tested without a broker)
where that fits, and the handle-side glue beside it; ``flux.modules.<name>``
is its thin entry point.  The KVS, the content store and the job services
are built here.
"""
