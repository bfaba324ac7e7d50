"""``python -m flux.shell JOBID``: what job-exec runs on each rank of a job."""

import sys

from flux.shell.shell import main

sys.exit(main(sys.argv[1:]))
