"""The ``job-list`` service (flux-core's job-list module, RFC 43): jobs listed and filtered.

``job.py`` is one job's fields and what its jobspec and R say (``ranges.py``:
the idset and hostlist forms); ``attrs.py`` answers a job's attributes;
``constraint.py`` compiles RFC 31 constraints; ``stats.py`` counts jobs by state
and result; ``service.py`` follows the job-manager's journal and answers requests.
"""
