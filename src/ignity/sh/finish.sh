#!/bin/sh
# Written by Ignity (ignity/sh/finish.sh) as NAME/finish; the author's finish is .ignity/finish.
# s6-supervise runs it after each death of the service, as the user Ignity runs as
# (root, normally), in the service's run-time copy.
# $1: exit code (256: killed), $2: signal. It may touch: the dead service's process
# group, NAME/.ignity/ (deaths, restart, failed, done, pgid), the container's stderr,
# and `ignity halt` for an essential service.
# Values written in by wrappers.finish_script (paths found at install, the restart policy).
# start filled
clean=1
author=0
job=0
name=web
essential=0
tell=1
policy=always
first=1000
max=1000
limit=0
window=0
waits=0
success=0
svstat=/usr/bin/s6-svstat
svc=/usr/bin/s6-svc
mv=/bin/mv
stopping=/run/ignity/state/stopping
booted=0
ignity=ignity
# end filled
code=0
# 0. A job (jobs.py): kill its run's own process group, which the loop started.
if [ "$job" = 1 ]; then
  jpg=''
  read -r jpg 2>/dev/null < .ignity/job-pgid
  case "$jpg" in ""|*[!0-9]*|0|1) ;; *) kill -KILL "-$jpg" 2>/dev/null ;; esac
fi
# 1. Kill what is left of the service's process group (unless keep-children).
if [ "$clean" = 1 ]; then
  # s6 >= 2.13 passes the process group as $4; older ones: what run recorded.
  pgid="${4:-}"
  [ -n "$pgid" ] || read -r pgid 2>/dev/null < .ignity/pgid
  : > .ignity/pgid
  # -KILL -N: the one spelling dash and busybox ash both read as "the group N".
  # Digits only, and never 0 or 1: `kill -KILL -1` would be every process.
  case "$pgid" in ""|*[!0-9]*|0|1) ;; *) kill -KILL "-$pgid" 2>/dev/null ;; esac
fi
# 2. A run that died in its restart wait never started the service: not a death.
#    (`s6-svc -r` during a delay restarts it now.)
if [ "$waits" = 1 ] && [ -s .ignity/restart ]; then : > .ignity/restart; exit 0; fi
# 3. The author's finish, with the same arguments.
if [ "$author" = 1 ]; then .ignity/finish "$@"; code=$?; fi
# 4. The restart policy. Times in centiseconds since boot (/proc/uptime: no fork),
#    except the ms of .ignity/restart (CLOCK_REALTIME, for ignity status).
put() { printf '%s\n' "$2" > "$1.new" && "$mv" -f "$1.new" "$1"; }
# The container stops (the latch, a test without a fork: a stop costs nothing more), or s6 no longer wants it up.
want=false
[ -e "$stopping" ] || want=$("$svstat" -o wantedup . 2>/dev/null)
if [ "$want" != true ]; then
  # Asked to stop (an operator, the container's stop): nothing to decide.
  [ ! -s .ignity/restart ] || : > .ignity/restart
  exit "$code"
fi
ok=0
if [ "$1" = 256 ]; then
  sig=$(kill -l "$2" 2>/dev/null) || sig=$2
  status=$((128 + $2)) what="crashed (signal $sig)"
  read -r h _ 2>/dev/null < .ignity/health && [ "$h" = unhealthy ] && what="crashed (unhealthy, stopped by signal $sig)"
else
  status=$1 what="exited $1"
  case " $success " in *" $1 "*) ok=1 ;; esac  # success-exit-codes (0 by default); never a signal
fi
read -r up _ < /proc/uptime
now=$((${up%.*} * 100 + 1${up#*.} - 100))
restarts=0 consec=0 since=$now start=0 told=0 times=
[ ! -s .ignity/deaths ] || read -r restarts consec since start told times < .ignity/deaths
# The count of consecutive deaths resets once a run lasted max ms, or passed its health check.
if [ "$start" = 0 ] || [ $(((now - start) * 10)) -ge "$max" ]; then consec=0; fi
if [ -s .ignity/health-passed ]; then consec=0; : > .ignity/health-passed; fi
consec=$((consec + 1))
[ "$consec" != 1 ] || since=$now
n=1 kept='' oldest=$now
if [ "$limit" -gt 0 ]; then
  for t in $times; do
    if [ $(((now - t) * 10)) -lt "$window" ]; then kept="$kept $t" n=$((n + 1)); [ "$t" -ge "$oldest" ] || oldest=$t; fi
  done
  kept="$kept $now"
fi
case $consec in *1[123]) th=th ;; *1) th=st ;; *2) th=nd ;; *3) th=rd ;; *) th=th ;; esac
count=" ($consec$th time in $(((now - since) / 100)) s)"
[ "$consec" != 1 ] || count=
reason='' done=''
[ "$code" != 125 ] || reason="finish exited 125"
case $policy in
  never) [ "$ok" = 1 ] && done=$what || reason=${reason:-"$what (restart never)"} ;;
  on-failure) [ "$ok" != 1 ] || done=$what ;;
esac
[ -z "$reason" ] || done=
if [ -z "$reason$done" ] && [ "$limit" -gt 0 ] && [ "$n" -ge "$limit" ]; then
  reason="given up after $n exits in $(((now - oldest) / 100)) s"
fi
if [ -n "$reason$done" ]; then
  : > .ignity/restart
  # Forgotten: a start by hand (ignity start) begins a new count and a new window.
  put .ignity/deaths "$restarts $consec $since 0 $told"
  if [ -n "$reason" ]; then
    [ "$essential" = 1 ] || put .ignity/failed "$reason"
    echo "[ignity] $name $what$count: $reason" >&2
  else
    [ "$essential" = 1 ] || put .ignity/done "$done"
    [ "$tell" = 0 ] || echo "[ignity] $name $what$count: done (restart $policy)" >&2
  fi
  if [ "$essential" = 1 ]; then  # the container stops with its status; failed and done stay empty
    "$ignity" halt "$status"
    # Not restarted while the container stops. Not `exit 125` ("permanent failure"):
    # its 'O' event would end a start-up wait as if the service were ready.
    "$svc" -d .
    exit "$code"
  fi
  exit 125
fi
d=$first k=1
while [ "$k" -lt "$consec" ] && [ "$d" -lt "$max" ]; do d=$((d * 2)) k=$((k + 1)); done
[ "$d" -le "$max" ] || d=$max
[ "$d" -ge 1000 ] || d=1000
restarts=$((restarts + 1))
if [ "$tell" = 1 ] && { [ "$consec" -le 3 ] || [ $((now - told)) -ge 1000 ]; }; then
  echo "[ignity] $name $what$count: restarting in $d ms" >&2
  told=$now
fi
put .ignity/deaths "$restarts $consec $since $((now + d / 10)) $told$kept"
# NEXT_MS: the boot's time on CLOCK_REALTIME (written in at install) + uptime: no fork of date(1).
put .ignity/restart "$consec $d $((booted + now * 10 + d))"
exit "$code"
