"""The job-manager: RFC 21's job states and events, sans I/O.

``job`` holds one job's record and the RFC 21/30 constants; ``manager`` is the
state machine (``JobManager``), one class per concern in files of their own
(submission, priority, dependencies, the scheduler and exec interfaces of RFC
27 and 32, waits, the journal, queues, update, purge), which takes inputs and
returns actions for the broker's wiring (``flux.broker.job_manager``).
"""
