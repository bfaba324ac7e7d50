#!/bin/sh
# Instances of several brokers (docs/guide/instances.md): flux start -s 3 sh examples/tbon_tour.sh
set -e
echo "size: $(flux getattr size)"
flux overlay status
flux exec -r all -l flux getattr rank | sort
flux run -N3 -n3 --label-io flux getattr rank | sort
flux ping -c 1 2 >/dev/null && echo "rank 2 answers"
echo "tbon_tour: ok"
