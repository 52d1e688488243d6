#!/bin/sh
# Written by Ignity (ignity/sh/job-loop.sh) as NAME/run of a job (a service with a schedule).
# s6-supervise runs it, as the user Ignity runs as (root, normally), for the life of the job.
# Per slot of the schedule it starts .ignity/job-run (the author's run, with its wrappers) in a
# new process group and may signal that group (TERM, CONT, KILL). It writes .ignity/job,
# job-exit, job-pgid and pgid, and tells ignity start through the fifodir .ignity/job-event.
# Values written in by jobs.loop_script (the schedule, paths found at install).
# start filled
name=job
kind=every
every=6000
base=0
limit=''
policy=forbid
chunk=60
late=90
date=/bin/date
mv=/bin/mv
rm=/bin/rm
mkdir=/bin/mkdir
sleep=/bin/sleep
setsid=/usr/bin/s6-setsid
notify=/usr/bin/s6-ftrig-notify
nextprog=.ignity/next
# end filled
loop=$$
echo "$loop" > .ignity/pgid
job='' jsh='' asked='' term='' ondemand='' killat='' stopat='' timedout='' pending=''

uptime() {
  read -r up _ < /proc/uptime
  up=${up%%.*}${up#*.}
  up=${up#"${up%%[!0]*}"}
  up=${up:-0}
}
ms() {
  t=$("$date" +%s%3N)
  case $t in ''|*[!0-9]*) t=$("$date" +%s)000 ;; esac
}
say() {
  echo "$name: $*"
}
# The slot due, for a message: the local time of a cron line's, "now" for the others.
when() {
  if [ "$kind" = cron ]; then
    w=$("$date" -d "@$slot" '+%Y-%m-%d %H:%M %z' 2>/dev/null) || w="@$slot"
    w="at $w"
  else
    w=now
  fi
}
grace() {
  g=5000
  read -r g 2>/dev/null < timeout-kill || g=5000
  case $g in ''|*[!0-9]*) g=5000 ;; esac
  [ "$g" -gt 0 ] || g=1
  g=$((g / 10 + 1))
}
record() {
  printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" > .ignity/job.new && "$mv" -f .ignity/job.new .ignity/job
}
notify() {
  "$notify" .ignity/job-event "$1" 2>/dev/null
}
# The slot after the one due, and the slots missed between (the clock jumped, or a suspend).
advance() {
  if [ "$kind" = every ]; then
    uptime
    missed=$(((up - next) / every))
    next=$((next + (missed + 1) * every))
    return
  fi
  if [ "$kind" = reboot ]; then
    missed=0 next=-
    return
  fi
  if ! out=$("$nextprog" schedule "$next" "$("$date" +%s)"); then
    say "cannot compute the next time: no more runs"
    next=- missed=0
    return
  fi
  missed=${out%% *} next=${out#* }
}
# Milliseconds since the epoch of the next slot, for .ignity/job (t and up: the clocks, read just before).
next_ms() {
  case $kind:$next in
    *:-) nms=- ;;
    every:*) nms=$((t + (next - up) * 10)) ;;
    *) nms=${next}000 ;;
  esac
}
start_job() {
  ms; started=$t; ondemand=$1
  uptime
  killat='' stopat='' timedout=''
  [ -z "$limit" ] || killat=$((up + limit))
  : > .ignity/job-exit
  # The watcher: a stop's TERM to every process must not end it before it tells the status
  # (a trap, not an ignored TERM, which the job would inherit).
  (
    trap : TERM INT HUP
    "$setsid" -b .ignity/job-run &
    j=$!
    echo "$j" > .ignity/job-pgid
    wait "$j"
    c=$?
    while kill -0 "$j" 2>/dev/null; do wait "$j"; c=$?; done
    wait "$j" 2>/dev/null
    c2=$?
    [ "$c2" = 127 ] || c=$c2
    echo "$c" > .ignity/job-exit
    kill -USR1 "$loop" 2>/dev/null
  ) &
  jsh=$!
  job=1
  next_ms
  record "$started" "$lend" "$lexit" "$nms"
}
rm_now() {
  [ ! -e .ignity/job-now ] || "$rm" -f .ignity/job-now
}
stop_job() {
  jpg=''
  read -r jpg 2>/dev/null < .ignity/job-pgid
  case $jpg in ''|*[!0-9]*|0|1) return ;; esac
  kill -"$1" "-$jpg" 2>/dev/null
  [ "$1" != TERM ] || kill -CONT "-$jpg" 2>/dev/null
  if [ "$1" = TERM ] && [ -z "$stopat" ]; then grace; uptime; stopat=$((up + g)); fi
}
job_ended() {
  code=''
  read -r code 2>/dev/null < .ignity/job-exit
  if [ -z "$code" ]; then
    # Still going, unless its watcher was killed (a stop's TERM to every process) before it could tell.
    ! kill -0 "$jsh" 2>/dev/null || return 1
    code=-
  fi
  wait "$jsh" 2>/dev/null
  ms; lend=$t; lexit=$code
  uptime
  [ "$lend" -ge "$started" ] || lend=$started
  [ -z "$timedout" ] || say "the run exceeded its timeout: stopped, counts as failed (status $code)"
  job='' jsh='' killat='' stopat=''
  : > .ignity/job-pgid
  # The run's wrapper wrote its own pid in .ignity/pgid (the finish wrapper's group to kill):
  # the loop's group again, not a pid that may be reused.
  echo "$loop" > .ignity/pgid
  next_ms
  record "$started" "$lend" "$lexit" "$nms"
  [ -z "$ondemand" ] || notify n
  return 0
}

trap 'term=1' TERM INT HUP
trap 'asked=1' WINCH
trap ':' USR1

lstart=- lend=- lexit=- nms=-
read -r lstart lend lexit _ 2>/dev/null < .ignity/job || { lstart=- lend=- lexit=-; }
# A run cut short with the previous loop (the job was stopped) is not running any more.
if [ "$lstart" != - ] && { [ "$lend" = - ] || [ "$lend" -lt "$lstart" ]; }; then lend=$lstart lexit=-; fi
started=$lstart
[ -d .ignity/job-event ] || { "$mkdir" -m 0700 .ignity/job-event 2>/dev/null; }
if [ "$kind" = every ]; then
  uptime
  next=$((base + every))
  [ "$next" -gt "$up" ] || next=$((next + ((up - next) / every + 1) * every))
elif [ "$kind" = reboot ]; then
  next=0
  [ "$lstart" = - ] || next=-
else
  next=$("$date" +%s)
  advance
fi
uptime; ms; next_ms
record "$lstart" "$lend" "$lexit" "$nms"

while :; do
  if [ -n "$job" ] && job_ended; then
    if [ -n "$term" ]; then exit 0; fi
    if [ -n "$pending" ]; then od=$pending; pending=''; start_job "${od#x}"; fi
    continue
  fi
  if [ -n "$term" ]; then
    [ -n "$job" ] || exit 0
    [ -n "$stopat" ] || stop_job TERM
  fi
  if [ -e .ignity/job-now ] || [ -n "$asked" ]; then
    asked=''
    if [ -e .ignity/job-now ] && [ -z "$term" ]; then
      rm_now
      if [ -z "$job" ]; then
        say "run now (asked)"
        start_job 1
        continue
      elif [ "$policy" = replace ]; then
        say "run now (asked): replaces the run still going (concurrency replace)"
        pending=x1 ondemand=''  # the replaced run's end is not the answer the asker waits for
        stop_job TERM
      else
        say "run now (asked) refused: a run is still going (concurrency forbid)"
        notify s
      fi
    fi
  fi
  uptime
  if [ -n "$stopat" ] && [ "$up" -ge "$stopat" ]; then stop_job KILL; stopat=$((up + 500)); fi
  if [ -n "$killat" ] && [ "$up" -ge "$killat" ]; then killat=''; timedout=1; stop_job TERM; fi
  # Is the slot due?
  wait_cs=$((chunk * 100))
  if [ "$next" != - ] && [ -z "$term" ]; then
    if [ "$kind" = every ]; then
      due=$((next - up))
    elif [ "$kind" = reboot ]; then
      due=0
    else
      ms; due=$(((next * 1000 - t) / 10))
    fi
    if [ "$due" -le 0 ]; then
      slot=$next
      advance
      when
      [ "$missed" = 0 ] || say "$missed scheduled run(s) missed: the clock jumped or the container was suspended"
      [ "$due" -gt $((0 - late * 100)) ] || say "the run due $w starts $((-due / 100)) s late"
      if [ -z "$job" ]; then
        start_job ''
      elif [ "$policy" = replace ]; then
        say "the run due $w replaces the one still going (concurrency replace)"
        pending=x
        stop_job TERM
      else
        say "the run due $w is skipped: the previous one is still going (concurrency forbid)"
        uptime; ms; next_ms
        record "$started" "$lend" "$lexit" "$nms"
      fi
      continue
    fi
    [ "$due" -ge "$wait_cs" ] || wait_cs=$due
  fi
  for at in "$killat" "$stopat"; do
    [ -n "$at" ] || continue
    [ $((at - up)) -ge "$wait_cs" ] || wait_cs=$((at - up))
  done
  [ "$wait_cs" -gt 0 ] || wait_cs=1
  # A signal that came since the checks above would not end the wait below: look once more.
  [ -z "$asked" ] || continue
  [ -z "$job" ] || [ ! -s .ignity/job-exit ] || continue
  "$sleep" "$((wait_cs / 100)).$((wait_cs % 100 / 10))$((wait_cs % 10))" &
  sp=$!
  wait "$sp"
  kill "$sp" 2>/dev/null
done
