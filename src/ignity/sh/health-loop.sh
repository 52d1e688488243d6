#!/bin/sh
# Written by Ignity (ignity/sh/health-loop.sh) as NAME/.ignity/health-loop.
# The first lines of the service's run start it in the background, as the user
# Ignity runs as (root, normally): it lives in the service's process group.
# $1: the pid of the run. It runs ./health, writes
# .ignity/health* for ignity status, and may signal the run's pid and group
# (down-signal, CONT, KILL), or call `ignity halt 1` for an essential service.
# Values written in by health.loop_script (numbers, paths found at install).
# start filled
interval=10.000
retries=3
timeout_ms=5000
timeout_s=5.000
notifies=0
essential=0
clean=1
downsig=TERM
grace_ms=5000
svwait=/usr/bin/s6-svwait
timeout=/usr/bin/timeout
sleep=/bin/sleep
mv=/bin/mv
tail=/usr/bin/tail
ignity=ignity
# end filled
# Escalation: the down-signal (and CONT, for a stopped one) to run's pid, then past
# the stop grace, KILL to it and its process group (this loop too, last). s6 sees a
# death while the service is wanted up, and the finish applies the restart policy.
main=$1
put() { echo "$1" > .ignity/health.new && "$mv" -f .ignity/health.new .ignity/health; }
put "starting 0"
if [ "$notifies" = 1 ]; then up=-U; else up=-u; fi
"$svwait" "$up" . || exit 0
fails=0 state=starting
while "$sleep" "$interval"; do
  kill -0 "$main" 2>/dev/null || exit 0
  # Output to a file, not a pipe: what a check leaves behind cannot hold the loop.
  "$timeout" -s KILL "$timeout_s" ./health > .ignity/health-out 2>&1 < /dev/null
  rc=$?
  if [ "$rc" = 0 ]; then
    if [ "$state" != healthy ]; then
      fails=0 state=healthy
      put "healthy 0"
      echo 1 > .ignity/health-passed
    fi
    continue
  fi
  fails=$((fails + 1))
  case "$rc" in
    124|137) line="timed out after $timeout_ms ms" ;;
    *) line="exit $rc: $("$tail" -n 1 .ignity/health-out 2>/dev/null)" ;;
  esac
  echo "$line" > .ignity/health-last.new && "$mv" -f .ignity/health-last.new .ignity/health-last
  if [ "$fails" -ge "$retries" ]; then
    put "unhealthy $fails"
    [ "$essential" = 0 ] || exec "$ignity" halt 1
    echo >> .ignity/health-restarts
    kill -s "$downsig" "$main" 2>/dev/null
    kill -s CONT "$main" 2>/dev/null
    "$svwait" -d -t "$grace_ms" . 2>/dev/null && exit 0
    kill -KILL "$main" 2>/dev/null
    [ "$clean" = 0 ] || kill -KILL "-$main" 2>/dev/null
    exit 0
  fi
  state=failing
  put "failing $fails"
done
