"""Scheduled jobs: a service directory with a `schedule` file.

A job is an s6 service like any other (linked, held for its dependencies,
stopped at the container's stop by s6-supervise with the grace), whose `run`
is a generated sh loop (LOOP below) instead of the author's program: stage 2
installs the wrappers (outputs, wrappers.install) as for a service, then
`install` here moves the resulting `run` to `.ignity/job-run` and writes the
loop in its place. Between runs only the loop (dash, ~1 MiB) and a `sleep`
are left; no Python stays resident.

The loop, per time the schedule names (a "slot"):
  - sleeps in chunks of at most CHUNK_S seconds and re-reads the clock after
    each (the wall clock for a cron line, /proc/uptime for @every), so that a
    clock step or a suspend is noticed: a slot fires once when now >= slot,
    never twice (the next slot is always after the last one), and slots that
    passed unseen are told in one line, not run;
  - asks `.ignity/next` (one `python3 -IS` per slot, cron.py) for the slot
    after; @every is plain sh arithmetic counted from the container's start;
  - starts `.ignity/job-run` (the author's run, with its wrappers: with-env,
    user drop, output mode all apply) in a new process group (s6-setsid -b),
    in the background: the loop keeps watching the clock, the `timeout`, the
    next slot (`concurrency`: forbid skips it, telling so; replace stops the
    running one, TERM then KILL after the grace, and starts anew) and its
    signals: TERM (s6's stop: forwarded to the job's group, then waits for
    it), WINCH (run now: `ignity start JOB`, `run_now` below);
  - records `.ignity/job` (docs/service-states.md) by temp+rename at each
    start and end, and tells `run_now` through the fifodir `.ignity/job-event`
    (`n`: an on-demand run ended, `s`: it was refused).

`.ignity/job`: `LAST_START_MS LAST_END_MS LAST_EXIT NEXT_MS`; a run is going
while LAST_START_MS is later than LAST_END_MS. `parse_state` reads it (pure);
`describe` gives what `ignity status` shows.
"""

from __future__ import annotations

import os
import sys

from ignity import cron, tools
from ignity.errors import IgnityError

PRIVATE = ".ignity"
STATE = f"{PRIVATE}/job"
EVENT = f"{PRIVATE}/job-event"
NOW = f"{PRIVATE}/job-now"
JOB_RUN = f"{PRIVATE}/job-run"
NEXT = f"{PRIVATE}/next"
JOB_PGID = f"{PRIVATE}/job-pgid"
CHUNK_S = 60
LATE_S = 90  # a slot fired later than this is told
POLICIES = ("forbid", "replace")
# run_now's answer when a run is going and concurrency is forbid (EX_TEMPFAIL)
REFUSED = 75

LOOP = r"""#!/bin/sh
# Written by Ignity: the job @NAME@ (schedule: @SHOWN@).
# Its own run is .ignity/job-run; see the module docstring of ignity/jobs.py.
name=@QNAME@
kind=@KIND@
every=@EVERY_CS@
base=@BASE_CS@
limit=@TIMEOUT_CS@
policy=@POLICY@
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
  t=$(@DATE@ +%s%3N)
  case $t in ''|*[!0-9]*) t=$(@DATE@ +%s)000 ;; esac
}
say() {
  echo "$name: $*"
}
# The slot due, for a message: the local time of a cron line's, "now" for the others.
when() {
  if [ "$kind" = cron ]; then
    w=$(@DATE@ -d "@$slot" '+%Y-%m-%d %H:%M %z' 2>/dev/null) || w="@$slot"
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
  printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" > .ignity/job.new && @MV@ -f .ignity/job.new .ignity/job
}
notify() {
  @NOTIFY@ .ignity/job-event "$1" 2>/dev/null
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
  if ! out=$(@NEXT@ schedule "$next" "$(@DATE@ +%s)"); then
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
    @SETSID@ -b .ignity/job-run &
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
  [ ! -e .ignity/job-now ] || @RM@ -f .ignity/job-now
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
[ -d .ignity/job-event ] || { @MKDIR@ -m 3730 .ignity/job-event 2>/dev/null; }
if [ "$kind" = every ]; then
  uptime
  next=$((base + every))
  [ "$next" -gt "$up" ] || next=$((next + ((up - next) / every + 1) * every))
elif [ "$kind" = reboot ]; then
  next=0
  [ "$lstart" = - ] || next=-
else
  next=$(@DATE@ +%s)
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
  wait_cs=$((@CHUNK@ * 100))
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
      [ "$due" -gt -@LATE@00 ] || say "the run due $w starts $((-due / 100)) s late"
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
  @SLEEP@ "$((wait_cs / 100)).$((wait_cs % 100 / 10))$((wait_cs % 10))" &
  sp=$!
  wait "$sp"
  kill "$sp" 2>/dev/null
done
"""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def is_job(path: str) -> bool:
    return os.path.lexists(f"{path}/schedule")


def _read_number(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read(64).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def policy(path: str) -> str:
    try:
        with open(f"{path}/concurrency") as f:
            text = f.read(64).strip()
    except OSError:
        return "forbid"
    return text if text in POLICIES else "forbid"


def boot_uptime_cs() -> int:
    """/proc/uptime in hundredths of a second (the clock @every counts on)."""
    with open("/proc/uptime") as f:
        up = f.read().split()[0]
    whole, _, frac = up.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def loop_script(name: str, schedule: cron.Schedule, concurrency: str, timeout_ms: int | None, base_cs: int) -> str:
    """The job's `run` (LOOP, with every program by absolute path)."""
    values = {
        "@NAME@": name.replace("\n", " "),
        "@SHOWN@": schedule.text.replace("\n", " "),
        "@QNAME@": _quote(name),
        "@KIND@": schedule.kind,
        "@EVERY_CS@": str(schedule.every * 100),
        "@BASE_CS@": str(base_cs),
        "@TIMEOUT_CS@": "" if not timeout_ms else str(max(1, (timeout_ms + 9) // 10)),
        "@POLICY@": concurrency,
        "@CHUNK@": str(CHUNK_S),
        "@LATE@": str(LATE_S),
        "@DATE@": _quote(tools.find("date")),
        "@MV@": _quote(tools.find("mv")),
        "@RM@": _quote(tools.find("rm")),
        "@MKDIR@": _quote(tools.find("mkdir")),
        "@SLEEP@": _quote(tools.find("sleep")),
        "@SETSID@": _quote(tools.find("s6-setsid")),
        "@NOTIFY@": _quote(tools.find("s6-ftrig-notify")),
        "@NEXT@": NEXT,
    }
    text = LOOP
    for key, value in values.items():
        text = text.replace(key, value)
    return text


FINISH_LINE = (
    'jpg=; read -r jpg 2>/dev/null < .ignity/job-pgid; case "$jpg" in ""|*[!0-9]*|0|1) ;; '
    '*) kill -KILL "-$jpg" 2>/dev/null ;; esac  # added by Ignity: the job\'s own process group'
)


def install(path: str, name: str) -> None:
    """Turn the run-time copy at `path`, wrappers already installed, into a job (see the docstring)."""
    from ignity import runtime

    try:
        schedule = cron.read(f"{path}/schedule")
    except cron.ScheduleError as e:
        raise IgnityError(f"/etc/ignity/services/{name}/schedule:{e.line}: {e.problem} — {e.fix}") from None
    os.rename(f"{path}/run", f"{path}/{JOB_RUN}")
    script = loop_script(name, schedule, policy(path), _read_number(f"{path}/timeout"), boot_uptime_cs())
    _write(f"{path}/run", script, 0o755)
    _write(f"{path}/{NEXT}", runtime.python_script("ignity.cron", sys.executable), 0o755)
    _write(f"{path}/{JOB_PGID}", "", 0o644)
    os.mkdir(f"{path}/{EVENT}")
    os.chmod(f"{path}/{EVENT}", 0o3730)
    finish = f"{path}/finish"
    with open(finish) as f:
        first, _, rest = f.read().partition("\n")
    os.unlink(finish)
    _write(finish, f"{first}\n{FINISH_LINE}\n{rest}", 0o755)


def _write(path: str, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# --- reading the state (pure): for `ignity status` ---


class JobState:
    """`.ignity/job` parsed: ms since the epoch, or None when unknown."""

    __slots__ = ("last_end", "last_exit", "last_start", "next_run")

    def __init__(
        self, last_start: int | None, last_end: int | None, last_exit: int | None, next_run: int | None
    ) -> None:
        self.last_start, self.last_end, self.last_exit, self.next_run = last_start, last_end, last_exit, next_run

    @property
    def running(self) -> bool:
        return self.last_start is not None and (self.last_end is None or self.last_end < self.last_start)

    @property
    def duration_ms(self) -> int | None:
        """How long the last finished run took."""
        if self.running or self.last_start is None or self.last_end is None:
            return None
        return self.last_end - self.last_start


def parse_state(text: str) -> JobState | None:
    """The content of `.ignity/job`; None when it is not four fields of digits or `-`."""
    fields = text.split()
    if len(fields) != 4 or not all(f == "-" or f.isdigit() for f in fields):
        return None
    values = [None if f == "-" else int(f) for f in fields]
    return JobState(*values)


def iso(ms: int | None) -> str | None:
    """ISO 8601 with the local offset, to the second: `2026-12-07T03:00:00+01:00`."""
    if ms is None:
        return None
    import time

    t = time.localtime(ms // 1000)
    off = t.tm_gmtoff
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


def describe(path: str) -> dict[str, object] | None:
    """What status shows of the job at `path` (a run-time copy), None if it is not a job.

    Keys: schedule, running, last_run, last_exit, last_duration_ms, next_run.
    """
    try:
        with open(f"{path}/schedule", encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f.read(4096).splitlines()]
    except OSError:
        return None
    shown = next((ln for ln in lines if ln and not ln.startswith("#")), "")
    try:
        with open(f"{path}/{STATE}") as f:
            state = parse_state(f.read(256))
    except OSError:
        state = None
    state = state or JobState(None, None, None, None)
    return {
        "schedule": shown,
        "running": state.running,
        "last_run": iso(state.last_start),
        "last_exit": state.last_exit,
        "last_duration_ms": state.duration_ms,
        "next_run": iso(state.next_run),
    }


# --- run now: `ignity start JOB [--wait]` ---


def run_now(name: str, wait: bool, directory: str | None = None, timeout_ms: int = 0) -> int:
    """Run the job `name` once now (respecting its concurrency). Without `wait`: 0 once asked.

    With `wait`: the run's exit status, REFUSED (75) when a run is going and
    concurrency is forbid. 100: not a job; 111: cannot ask (not running, no
    permission).
    """
    import subprocess

    from ignity import log, paths

    path = f"{directory or paths.SERVICES}/{name}"
    if not os.path.isdir(path) or not is_job(path):
        log.error("job", f"{name}: no such job (a service directory with a schedule file)")
        return 100
    svstat = subprocess.run(
        [tools.find("s6-svstat"), "-o", "up", path], capture_output=True, text=True, check=False
    ).stdout.strip()
    if svstat != "true":
        log.error("job", f"{name}: its program is not running (stopped?): start it with ignity start {name}")
        return 111
    try:
        fd = os.open(f"{path}/{NOW}", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        os.close(fd)
    except OSError as e:
        log.error("job", f"{name}: cannot ask for a run ({path}/{NOW}: {e.strerror}): only the user Ignity runs as can")
        return 111
    poke = [tools.find("s6-svc"), "-y", path]
    if not wait:
        code = subprocess.run(poke, check=False).returncode
        if code:
            log.error("job", f"{name}: s6-svc exited {code}: not asked")
            return 111
        log.info("job", f"{name}: asked to run now")
        return 0
    argv = [tools.find("s6-ftrig-listen1"), "-t", str(timeout_ms), f"{path}/{EVENT}", "[ns]", *poke]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode:
        log.error("job", f"{name}: waiting for the run failed (s6-ftrig-listen1 exited {done.returncode})")
        return 111
    if done.stdout.strip() == "s":
        log.error("job", f"{name}: a run is still going (concurrency forbid): not started")
        return REFUSED
    try:
        with open(f"{path}/{STATE}") as f:
            state = parse_state(f.read(256))
    except OSError:
        state = None
    if state is None or state.last_exit is None:
        log.error("job", f"{name}: the run ended but its status could not be read")
        return 111
    return state.last_exit


def main() -> None:
    """Internal entry point (`python3 -m ignity.jobs run-now NAME [--wait]`) until `ignity start` calls run_now."""
    args = sys.argv[1:]
    wait = "--wait" in args
    args = [a for a in args if a != "--wait"]
    if len(args) != 2 or args[0] != "run-now":
        sys.stderr.write("usage: python3 -m ignity.jobs run-now NAME [--wait]\n")
        sys.exit(100)
    sys.exit(run_now(args[1], wait))


if __name__ == "__main__":
    main()
