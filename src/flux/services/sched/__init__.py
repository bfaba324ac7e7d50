"""sched: a FIFO scheduler speaking RFC 27 with the job-manager, as flux-core's sched-simple."""
