#!/bin/sh
# Written by Ignity (ignity/sh/log-run.sh) as NAME/log/run, for output mode prefixed or json.
# s6-supervise runs it in NAME/log, as the user Ignity runs as (root, normally). stdin is
# s6's pipe from the service's stdout; its stderr comes through the fifo log/stderr.
# It writes the container's stdout and stderr, log/ring/ (ignity logs) and stderr-reader.pid.
# Values written in by outputs.logger_script (paths found at install; ring: s6-log's
# rotation size of each stream's ring, 0 for none; interactive: 1 for mawk's -W interactive).
# shellcheck disable=SC2089,SC2090 # head_*: JSON text whose quotes are meant literally
# start filled
mode=prefixed
prefix_out='web | '
prefix_err='web ! '
head_out='"service": "web", "stream": "stdout"'
head_err='"service": "web", "stream": "stderr"'
pipeline=/usr/bin/pipeline
s6log=/usr/bin/s6-log
line_limit=1048576
ring=0
awk=/usr/bin/mawk
interactive=1
# end filled
export LC_ALL=C TZ=UTC0 IGNITY_OUTPUT_MODE="$mode"

# chain STREAM [-p]: s6-log splits lines (and stamps them, for json), format.awk writes them.
# Words of pipeline's block start with a space (execline's block syntax). It never returns.
chain() {
  stream=$1 protect=${2:-}
  set -- " $s6log" " -l" " $line_limit"
  [ -z "$protect" ] || set -- "$@" " $protect"
  [ "$mode" != json ] || set -- "$@" " T"
  set -- "$@" " 1"
  [ "$ring" = 0 ] || set -- "$@" " n1" " s$ring" " T" " ./ring/$stream"
  if [ "$interactive" = 1 ]; then
    exec "$pipeline" "$@" '' "$awk" -W interactive -f format.awk
  fi
  exec "$pipeline" "$@" '' "$awk" -f format.awk
}

# One stderr reader per service instance. TERM is ignored once the fifo is open, so that
# the reader drains what the service wrote last. The loop stops when the reader cannot
# run (not on a signal).
while :; do
  (
    exec <stderr || exit 111
    trap '' TERM
    # shellcheck disable=SC2030 # the reader's own values, in its own subshell
    export IGNITY_OUTPUT_PREFIX="$prefix_err" IGNITY_OUTPUT_HEAD="$head_err"
    chain stderr -p
  ) >&2
  st=$?
  [ "$st" -eq 0 ] || [ "$st" -gt 128 ] || break
done &
echo $! > stderr-reader.pid
# shellcheck disable=SC2031 # the stdout formatter's values: the subshell's never meant to last
export IGNITY_OUTPUT_PREFIX="$prefix_out" IGNITY_OUTPUT_HEAD="$head_out"
chain stdout
