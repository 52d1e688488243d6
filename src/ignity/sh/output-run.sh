#!/bin/sh
# Written by Ignity (ignity/sh/output-run.sh) as NAME/run, for output mode prefixed or json.
# s6-supervise runs it, as the user Ignity runs as (root, normally). It sends stderr to the
# fifo log/stderr (the open waits for log/run's reader), then runs the service's own run.
exec 2>log/stderr
exec ./run.user "$@"
