"""The ``job-info`` service (flux-core's job-info module, RFC 41): a job's KVS keys and
eventlogs, read with the job owner's rights: ``service.py`` (requests, lookups,
watches), ``guest.py`` (where a ``guest.*`` eventlog is read as the job runs),
``keys.py`` (RFC 16's layout)."""
