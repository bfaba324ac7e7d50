"""The ``kvs-watch`` service (flux-core's kvs-watch module): streams of a KVS key's values.

``watcher.py`` is one watch request's state and what it answers to each new
value (sans-I/O); ``monitor.py`` is one namespace's watchers, indexed so a
commit finds the ones it concerns; ``service.py`` handles the requests and
the KVS's namespace events, looking values up through the KVS service it runs
beside.
"""
