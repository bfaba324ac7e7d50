"""The job shell (``flux shell``): starts and watches one job's tasks on one broker rank.

Reserved for the job-execution work (RFC 32, 24, 34): the shell is a client of
the instance, so it sits in the same layer as broker modules, above the handle.
"""
