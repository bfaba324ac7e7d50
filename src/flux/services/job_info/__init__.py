"""The ``job-info`` service (flux-core's job-info module, RFC 41): a job's KVS keys and
eventlogs, read with the job owner's rights; ``service.py`` holds it all."""
