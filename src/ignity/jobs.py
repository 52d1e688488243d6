"""Scheduled jobs: a service directory with a `schedule` file.

A job is an s6 service whose `run` is a sh loop (sh/job-loop.sh) that starts the
author's run (.ignity/job-run) at each time of the schedule. Between runs only the
loop and a `sleep` are left: no Python stays resident. `.ignity/job` holds
`LAST_START_MS LAST_END_MS LAST_EXIT NEXT_MS`; the loop: docs/how-it-works.md ("Jobs").
"""

from __future__ import annotations

import os
import sys

from ignity import cron, svfile, templates, tools
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
    """The job's `run`: sh/job-loop.sh with its schedule and the programs' paths."""
    return templates.render(
        "job-loop.sh",
        {
            "name": name,
            "kind": schedule.kind,
            "every": schedule.every * 100,
            "base": base_cs,
            "limit": "" if not timeout_ms else max(1, (timeout_ms + 9) // 10),
            "policy": concurrency,
            "chunk": CHUNK_S,
            "late": LATE_S,
            "date": tools.find("date"),
            "mv": tools.find("mv"),
            "rm": tools.find("rm"),
            "mkdir": tools.find("mkdir"),
            "sleep": tools.find("sleep"),
            "setsid": tools.find("s6-setsid"),
            "notify": tools.find("s6-ftrig-notify"),
            "nextprog": NEXT,
        },
    )


def install(path: str, name: str) -> None:
    """Turn the run-time copy at `path`, wrappers already installed, into a job: its run becomes the loop."""
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
    # Root's (Ignity's uid's) alone: only root and the owner subscribe (run_now is theirs), and
    # s6-ftrig-notify, run by the loop as root, opens every entry for writing, following links.
    runtime.make_event_dir(f"{path}/{EVENT}")


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
        state = parse_state(svfile.read_text(f"{path}/{STATE}", 256))
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
        state = parse_state(svfile.read_text(f"{path}/{STATE}", 256))
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
