"""The job shell (``python -m flux.shell JOBID``, flux-core's ``flux-shell JOBID``):
started by job-exec on each broker rank of a job's R, it runs the job's tasks of that
rank (RFC 32, 24, 34).  The shell is a client of the instance, so it sits in the same
layer as broker modules, above the handle.
"""

#: the broker attributes a shell reads (all immutable): the broker that launches it
#: through the fork server hands their values over with the launch, sparing the
#: shell an ``attr.get`` each
SHELL_ATTRS = ("rank", "rundir", "jobid-path", "instance-level")
