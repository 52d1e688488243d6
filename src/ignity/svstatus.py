"""`ignity status`: every service as s6 sees it, as a table or as JSON.

Everything comes from s6's own tools, as few of them as possible, each kind
started side by side rather than one after the other:

- one plain `s6-svstat SERVICEDIR` per service. Its summary line carries
  everything at once: up or down, pid or last exit, seconds in that state,
  wanted up or down, ready. `-o` cannot replace it: it has no field for a
  finish script being run (`up`, `pid` and `ready` all read false then, as
  for any down service), while the summary leaves out ", ready" exactly
  then (s6-svstat.html: "A service is down and not ready when it is in the
  cleanup phase, i.e. the ./finish script is still being executed");
- one `s6-svdt SERVICEDIR` per service that died at least once (its
  `supervise/death_tally` is not empty): one line per death, the last one
  being the last exit, whether the service is up again or not.

Deaths are counted from s6-supervise's death tally, which it empties when it
starts (at every boot, in Ignity). Every death counts, including a stop asked
for with `s6-svc -d`; for a service wanted up, each death is followed by a
restart, so for a crash-looping service it is its restart count. s6 keeps at
most `max-death-tally` deaths (a file in the service directory; default 100,
at most 4096, 0 to keep none): past that the oldest are forgotten, so a full
tally is shown as "100+" (`deaths_capped` in JSON).

The states, what is "in order" (readiness) and "live", the exit statuses
and the files read are those of docs/service-states.md: s6's view, plus
what Ignity's own wrappers and commands recorded under NAME/.ignity/
(failed, done, restart, operator, job, health) and the container's phase
(phase.py). While the phase is `starting` the command says `starting: DETAIL`
first (then the services linked so far) and exits 3; `stopping`, 4. HEALTH is what the
service's health loop last found (health.py). `--wait-ready` waits through
the boot, then with `s6-svwait` (-U or -u) on s6-supervise's events rather
than by polling (see `wait_in_order`), and ends the moment every service is
in order: a Kubernetes readiness probe, or a script's "wait until the
container is ready". `--live` is the liveness probe: non-zero only once the
container needs a restart (a service given up on, a stop in progress).

Exit status: 0 ready (or alive, with --live); 1 not ready (with --live: a
service failed); 3 starting (never with --live: 0); 4 stopping; 100 usage
error; 111 not inside a running Ignity container, with one line on stderr.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from ignity import health, log, paths, phase, svfile, tools, wrappers
from ignity import signals as signal
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every start; only mypy needs it
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

PHASE = "status"
DEFAULT_WAIT_MS = 5000
DEFAULT_MAX_DEATH_TALLY = 100
MAX_DEATH_TALLY = 4096
# Programs run side by side at most (each holds a pipe open here).
BATCH = 64
# s6-supervise's states, as this command names them.
UP, DOWN, FINISHING, UNSUPERVISED = "up", "down", "finishing", "unsupervised"
# Ignity's states on top (docs/service-states.md); a job's two.
FAILED, DONE, RESTARTING = "failed", "done", "restarting"
IDLE, RUNNING = "idle", "running"
# Exit statuses (docs/service-states.md).
READY, NOT_READY, STARTING, STOPPING, USAGE, NOT_HERE = 0, 1, 3, 4, 100, 111
# Seconds between two looks at the phase while the container boots (doubling).
PHASE_PAUSE, PHASE_PAUSE_MAX = 0.01, 0.1
OPERATOR_STOPPED = "stopped"
# Seconds between two looks at a service that has no supervisor yet (doubling).
UNSUPERVISED_PAUSE, UNSUPERVISED_PAUSE_MAX = 0.01, 0.5
# Dispositions Python sets for itself that would otherwise survive exec.
_SIGDEF = (signal.SIGPIPE, signal.SIGXFSZ)


def _line(path: str) -> str:
    """The first line of a small file of Ignity's, stripped; "" when absent or empty."""
    try:
        return svfile.read_text(path).split("\n", 1)[0].strip()
    except OSError:
        return ""


def _numbers(text: str, count: int) -> list[int | None] | None:
    """`count` whole numbers (or `-`: unknown) from one line; None when malformed."""
    words = text.split()
    if len(words) != count or not all(w == "-" or w.lstrip("-").isdigit() for w in words):
        return None
    return [None if w == "-" else int(w) for w in words]


class Service:
    """One supervised service directory: what s6 says about it, and what Ignity recorded."""

    __slots__ = (
        "deaths",
        "deaths_capped",
        "deps",
        "done",
        "exit_code",
        "exit_signal",
        "failed_reason",
        "health",
        "held",
        "job",
        "name",
        "normally_up",
        "notifies",
        "operator",
        "path",
        "paused",
        "pid",
        "ready",
        "restart",
        "s6_state",
        "seconds",
        "waits_for",
        "wanted_up",
    )

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        self.notifies = os.path.exists(f"{path}/notification-fd")
        # Held: Ignity's start-up keeps it down (a `down` file of its own) until its dependencies are up.
        self.held = wrappers.held(path)
        self.normally_up = self.held or not os.path.exists(f"{path}/down")
        # A job (a `schedule` file): [LAST_START_MS, LAST_END_MS, LAST_EXIT, NEXT_MS] (None: unknown).
        self.job: list[int | None] | None = None
        if os.path.exists(f"{path}/schedule"):
            self.job = _numbers(_line(f"{path}/{wrappers.PRIVATE}/job"), 4) or [None] * 4
        self.failed_reason = ""  # .ignity/failed: why it was given up on
        self.done = ""  # .ignity/done: the run that ended it for good
        self.restart: list[int | None] | None = None  # .ignity/restart: DEATHS DELAY_MS NEXT_MS
        self.operator = False  # .ignity/operator: stopped by `ignity stop`
        self.health: health.State | None = None
        self.deps: list[str] = []
        self.waits_for: list[str] = []  # dependencies not in order, while this one is not
        self.s6_state = UNSUPERVISED  # up, down, finishing or unsupervised: s6-supervise's view
        self.ready = False  # up and has notified readiness (meaningful only when `notifies`)
        self.pid: int | None = None
        self.seconds: int | None = None  # in the current state
        self.exit_code: int | None = None  # last death: its exit code ...
        self.exit_signal: str | None = None  # ... or the signal that killed it
        self.deaths: int | None = None  # None: s6 keeps no tally for it
        self.deaths_capped = False
        self.wanted_up = self.normally_up
        self.paused = False

    def read_records(self) -> None:
        """What Ignity's wrappers and commands recorded in .ignity/ (docs/service-states.md)."""
        private = f"{self.path}/{wrappers.PRIVATE}"
        reason = _line(f"{private}/failed")
        self.failed_reason = "finish exited 125" if reason == "125" else reason  # "125": the older wrapper's
        self.done = _line(f"{private}/done")
        self.restart = _numbers(_line(f"{private}/restart"), 3)
        self.operator = _line(f"{private}/operator") == OPERATOR_STOPPED
        self.health = health.read(self.path)

    @property
    def state(self) -> str:
        """The first state of docs/service-states.md that holds."""
        s6 = self.s6_state
        if s6 == UNSUPERVISED:
            return UNSUPERVISED
        if self.job is not None:
            # The job's loop is the supervised process; a run goes while LAST_START > LAST_END.
            start, end = self.job[0], self.job[1]
            going = start is not None and (end is None or start > end)
            return RUNNING if s6 == UP and going else IDLE
        pending = self.restart is not None and self.restart[2] is not None
        if s6 != UP:
            if self.failed_reason:
                return FAILED
            if self.done:
                return DONE
            if pending:
                return RESTARTING
        elif pending and self.restart is not None and (self.restart[2] or 0) > time.time() * 1000:
            return RESTARTING  # its run waits out the delay: the program has not started
        return s6

    @property
    def failed(self) -> bool:
        return self.state == FAILED

    @property
    def in_order(self) -> bool:
        """Readiness: done, a job, stopped on purpose, or up (and ready, when it can say so, and not unhealthy)."""
        state = self.state
        if state in (DONE, IDLE, RUNNING):
            return True
        if state in (UNSUPERVISED, FAILED, RESTARTING):
            return False
        if state == UP and (self.ready or not self.notifies):
            return not (self.health is not None and self.health.state == "unhealthy")
        return not (self.wanted_up or self.held)

    @property
    def live(self) -> bool:
        return self.state != FAILED

    @property
    def note(self) -> str | None:
        """Why it is in its state when that needs saying, or else the last failed health check."""
        state = self.state
        if state == FAILED:
            return f"given up: {self.failed_reason}"
        if state == DONE:
            return f"done: {self.done}"
        if state == RESTARTING and self.restart is not None:
            deaths, delay, next_ms = self.restart
            left = max(0, (next_ms or 0) - int(time.time() * 1000))
            return f"restarts in {left / 1000:.1f} s ({deaths} death{'' if deaths == 1 else 's'}, delay {delay} ms)"
        if state in (IDLE, RUNNING) and self.job is not None:
            return self.job_note()
        if self.waits_for:
            return "waits for " + ", ".join(self.waits_for)
        if not self.in_order and self.held:
            return "held until its dependencies are up"
        if state in (DOWN, FINISHING) and self.operator and not self.wanted_up:
            return "stopped by operator"
        if self.health is not None and self.health.last_failure is not None:
            return f"last failed check: {self.health.last_failure}"
        return None

    def job_note(self) -> str | None:
        assert self.job is not None
        _, _, last_exit, next_ms = self.job
        parts = []
        if last_exit is not None:
            parts.append(f"last exit {last_exit}")
        if next_ms is not None:
            parts.append(f"next in {max(0, next_ms - int(time.time() * 1000)) // 1000} s")
        return ", ".join(parts) or None

    def health_cell(self) -> str:
        h = self.health
        if h is None:
            return "-"
        cell = h.state if h.state in ("starting", "healthy") else f"{h.state} {h.failures}"
        if h.restarts:
            cell += f" ({h.restarts} restart{'s' if h.restarts > 1 else ''})"
        return cell

    def as_json(self) -> dict[str, object]:
        restart = None
        if self.restart is not None:
            restart = dict(zip(("deaths", "delay_ms", "next_ms"), self.restart))
        job = None
        if self.job is not None:
            from ignity import jobs  # only when a job exists

            job = jobs.describe(self.path)  # schedule, running, last_run, last_exit, last_duration_ms, next_run
            if job is not None:
                job["running"] = self.state == RUNNING
        return {
            "name": self.name,
            "state": self.state,
            "ready": self.ready if self.notifies else None,
            "pid": self.pid,
            "seconds": self.seconds,
            "exit_code": self.exit_code,
            "exit_signal": self.exit_signal,
            "deaths": self.deaths,
            "deaths_capped": self.deaths_capped,
            "wanted_up": self.wanted_up,
            "normally_up": self.normally_up,
            "paused": self.paused,
            "failed": self.failed,
            "failed_reason": self.failed_reason or None,
            "done": self.done or None,
            "restart": restart,
            "operator": self.operator and not self.wanted_up,
            "job": job,
            "waits_for": self.waits_for,
            "health": self.health.state if self.health else None,
            "health_failures": self.health.failures if self.health else None,
            "health_last_failure": self.health.last_failure if self.health else None,
            "health_restarts": self.health.restarts if self.health else None,
            "note": self.note,
            "ok": self.in_order,
            "live": self.live,
        }

    def as_row(self) -> list[str]:
        if self.exit_signal is not None:
            last = f"signal {self.exit_signal}"
        elif self.exit_code is not None:
            last = f"exit {self.exit_code}"
        else:
            last = "-"
        deaths = "?" if self.deaths is None else f"{self.deaths}{'+' if self.deaths_capped else ''}"
        return [
            self.name,
            self.state,
            ("yes" if self.ready else "no") if self.notifies else "-",
            str(self.pid) if self.pid is not None else "-",
            f"{self.seconds}s" if self.seconds is not None else "-",
            last,
            deaths,
            "up" if self.wanted_up or self.held else "down",
            self.health_cell(),
            self.note or "-",
        ]


HEADER = ["NAME", "STATE", "READY", "PID", "FOR", "LAST EXIT", "DEATHS", "WANTED", "HEALTH", "NOTE"]


# -- finding the services ---------------------------------------------------


def check_scandir(scandir: str) -> None:
    """Fail (111) unless `scandir` exists: not inside an Ignity container."""
    if not os.path.isdir(scandir):
        raise IgnityError(f"{scandir} does not exist: not in a running Ignity container", NOT_HERE)


def svscan_running(scandir: str) -> bool:
    """Whether s6-svscan runs on `scandir`.

    s6-svscan keeps its control fifo open for reading while it runs; opening
    it for writing without blocking fails with ENXIO when nobody reads it (as
    during stage 3, once s6-svscan has handed PID 1 over). Nothing is written.
    Another uid may not open it: then s6-svstat speaks per service.
    """
    try:
        fd = os.open(f"{scandir}/.s6-svscan/control", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return e.errno not in (errno.ENXIO, errno.ENOENT)
    os.close(fd)
    return True


def container_phase(scandir: str) -> tuple[str, str]:
    """(phase, detail): /run/ignity/phase, where `running` with no s6-svscan is stage 3's."""
    word, detail = phase.read()
    if word == phase.RUNNING and not svscan_running(scandir):
        return phase.STOPPING, ""
    return word, detail


def discover(scandir: str) -> list[Service]:
    """The services s6-svscan supervises, in name order, each followed by its logger."""
    from ignity import deps

    graph = deps.read(scandir)
    found = []
    for name in sorted(os.listdir(scandir)):
        path = f"{scandir}/{name}"
        if name.startswith(".") or not os.path.isdir(path):
            continue  # s6-svscan skips these too
        found.append(Service(name, path))
        found[-1].deps = graph.get(name, [])
        if os.path.isdir(f"{path}/log"):
            found.append(Service(f"{name}/log", f"{path}/log"))
    return found


# -- asking s6 --------------------------------------------------------------


def _find(name: str) -> str:
    try:
        return tools.find(name)
    except IgnityError:
        raise IgnityError(f"{name} not found: install {tools.PACKAGE['s6']}", 111) from None


def run_all(argvs: Sequence[Sequence[str]]) -> list[tuple[int, str]]:
    """Run the programs side by side; for each, its exit status and output.

    stdout and stderr share one pipe: on success these programs write only
    to stdout, and on failure their one-line message is what we want.
    """
    results: list[tuple[int, str]] = []
    for first in range(0, len(argvs), BATCH):
        running: list[tuple[int, int]] = []
        try:
            for argv in argvs[first : first + BATCH]:
                running.append(_spawn(argv))
            for pid, r in running:
                chunks = []
                while chunk := os.read(r, 65536):
                    chunks.append(chunk)
                wstatus = os.waitpid(pid, 0)[1]
                code = os.WEXITSTATUS(wstatus) if os.WIFEXITED(wstatus) else 128 + os.WTERMSIG(wstatus)
                results.append((code, b"".join(chunks).decode("utf-8", "replace")))
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM): leave no s6-svwait behind, waiting with no one to tell.
            for pid, _ in running[len(results) - first :]:
                try:
                    os.kill(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
                except OSError:
                    pass
            raise
        finally:
            for _, r in running:
                os.close(r)
    return results


def _spawn(argv: Sequence[str]) -> tuple[int, int]:
    """Start `argv` with its stdout and stderr on a new pipe; (pid, read end)."""
    r, w = os.pipe()
    try:
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)],
            setsigmask=(),
            setsigdef=_SIGDEF,
        )
    except OSError as e:
        os.close(r)
        raise IgnityError(f"cannot run {argv[0]}: {e.strerror}", 111) from None
    finally:
        os.close(w)
    return pid, r


def parse_svstat(service: Service, line: str) -> None:
    """Fill `service` from s6-svstat's summary line.

    The forms (s6 2.11; later versions add " pgid N" after the pid):
      up (pid 24) 12 seconds[, normally down][, paused][, want down][, ready 11 seconds]
      down (exitcode 3) 0 seconds[, normally up][, want up][, ready 0 seconds]
      down (signal SIGTERM) 5 seconds, ...
    A down service that is not ready is running its finish script.
    """
    head, _, rest = line.strip().partition(" (")
    inside, _, tail = rest.partition(") ")
    words = inside.split()
    parts = tail.split(", ")
    seconds = parts[0].split()
    if head not in (UP, DOWN) or len(words) < 2 or len(seconds) != 2 or not seconds[0].isdigit():
        raise IgnityError(f"{service.path}: unexpected s6-svstat output: {line.strip()!r}", 111)
    flags = parts[1:]
    ready = any(f.startswith("ready ") for f in flags)
    service.seconds = int(seconds[0])
    service.paused = "paused" in flags
    if head == UP:
        service.s6_state = UP
        service.pid = int(words[1]) if words[0] == "pid" and words[1].isdigit() else None
        service.ready = ready
        service.wanted_up = "want down" not in flags
    else:
        service.s6_state = DOWN if ready else FINISHING
        service.wanted_up = "want up" in flags
        if words[0] == "signal":
            service.exit_signal = words[1]
        elif words[1].isdigit():
            service.exit_code = int(words[1])


def _max_death_tally(service: Service) -> int:
    try:
        text = svfile.read_text(f"{service.path}/max-death-tally", 64).strip()
    except OSError:
        return DEFAULT_MAX_DEATH_TALLY
    return min(int(text), MAX_DEATH_TALLY) if text.isdigit() else DEFAULT_MAX_DEATH_TALLY


def parse_svdt(service: Service, text: str, cap: int) -> None:
    """Fill the death count and last exit from s6-svdt's lines (oldest first):
    `@TAI64N exitcode N` or `@TAI64N signal SIGNAME`."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    service.deaths = len(lines)
    service.deaths_capped = cap > 0 and len(lines) >= cap
    if lines and len(lines[-1]) == 3:
        service.exit_code = service.exit_signal = None
        kind, value = lines[-1][1], lines[-1][2]
        if kind == "signal":
            service.exit_signal = value
        elif value.lstrip("-").isdigit():
            service.exit_code = int(value)


def read_all(services: list[Service]) -> None:
    """Ask s6 about every service: s6-svstat for each, then s6-svdt for those that died."""
    svstat = _find("s6-svstat")
    for service, (code, out) in zip(services, run_all([[svstat, s.path] for s in services])):
        if code != 0 and not _unsupervised(service, code):
            # s6-supervise takes its lock before it writes its first status: s6-svstat, in
            # between, fails to read it. Asked again, it sees one or the other.
            code, out = run_all([[svstat, service.path]])[0]
        if code == 0:
            parse_svstat(service, out)
        elif _unsupervised(service, code):
            # No s6-supervise (not picked up yet, or torn down), or one that
            # has just started and not yet written its first status.
            service.s6_state = UNSUPERVISED
        else:
            raise IgnityError(f"s6-svstat {service.path} failed: {out.strip() or f'status {code}'}", 111)
    died = []
    for service in services:
        if service.s6_state == UNSUPERVISED:
            continue
        cap = _max_death_tally(service)
        try:
            size = os.stat(f"{service.path}/supervise/death_tally").st_size
        except OSError:
            continue  # an s6 without death tallies: deaths unknown
        if size:
            died.append((service, cap))
        else:
            # Empty: no death since boot, or (max-death-tally 0) none recorded;
            # then only s6-svstat's last exit of a down service is known.
            service.deaths = 0 if cap else None
            if cap and service.s6_state != UP:
                service.exit_code = service.exit_signal = None  # never ran, or never died
    if died:
        svdt = _find("s6-svdt")
        for (service, cap), (code, out) in zip(died, run_all([[svdt, s.path] for s, _ in died])):
            if code == 0:
                parse_svdt(service, out, cap)
    _orchestration(services)


def _unsupervised(service: Service, code: int) -> bool:
    """s6-svstat's failure means no supervisor (yet, or any more)."""
    return code == 1 or not os.path.exists(f"{service.path}/supervise/status")


def _orchestration(services: list[Service]) -> None:
    """What Ignity's own wrappers and commands recorded, and what each service waits for."""
    by_name = {}
    for service in services:
        by_name[service.name] = service
        service.read_records()
    for service in services:
        if not service.in_order:
            service.waits_for = [d for d in service.deps if d in by_name and not by_name[d].in_order]


# -- waiting ----------------------------------------------------------------


def wait_for_boot(scandir: str, deadline: float | None) -> tuple[str, str]:
    """Until the phase is no longer `starting`, or `deadline`; the last (phase, detail).

    Stage 2 sends no event a reader of any uid could subscribe to: a bounded
    look at one small file, after a short, growing pause (at most PHASE_PAUSE_MAX).
    """
    pause = PHASE_PAUSE
    while True:
        word, detail = container_phase(scandir)
        if word != phase.STARTING:
            return word, detail
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return word, detail
        time.sleep(pause if left is None else min(pause, left))
        pause = min(2 * pause, PHASE_PAUSE_MAX)


def wait_in_order(scandir: str, deadline: float | None) -> list[Service]:
    """Until every service is in order or `deadline` (monotonic) passes; the last reading.

    Each round waits, with s6-svwait, on s6-supervise's events for the
    services not in order yet (-U for those with notification-fd, -u for
    the others), then reads them all again: a service can have gone down
    meanwhile. A round that s6-svwait ends with a failure (time out, a
    permanent failure, a supervisor gone) is the last one, and so is a
    reading where a service was given up on (see `Service.failed`).

    The exceptions to waiting on events: a service s6-svscan has not picked
    up yet (the first milliseconds of a container, a reload) has no
    supervisor to send any, and an up service found unhealthy changes only
    in its health loop's file: both are looked at again after a short,
    growing pause.
    """
    svwait = _find("s6-svwait")
    pause = UNSUPERVISED_PAUSE
    while True:
        services = discover(scandir)
        read_all(services)
        late = [s for s in services if not s.in_order]
        if not late or any(s.failed for s in late) or container_phase(scandir)[0] == phase.STOPPING:
            return services  # in order, or one never will be: nothing restarts a service given up on
        timeout: list[str] = []
        if deadline is not None:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return services
            timeout = ["-t", str(remaining_ms)]
        if any(s.s6_state == UNSUPERVISED or (s.s6_state == UP and (s.ready or not s.notifies)) for s in late):
            # Bounded retry, not synchronisation: no s6 event exists for these.
            time.sleep(pause if deadline is None else min(pause, remaining_ms / 1000))
            pause = min(2 * pause, UNSUPERVISED_PAUSE_MAX)
            continue
        argvs = []
        for flag, group in (("-U", [s for s in late if s.notifies]), ("-u", [s for s in late if not s.notifies])):
            if group:
                argvs.append([svwait, flag, *timeout, *(s.path for s in group)])
        if any(code for code, _ in run_all(argvs)):
            read_all(services)
            return services


# -- output -----------------------------------------------------------------


def table(services: list[Service]) -> str:
    rows = [HEADER, *(s.as_row() for s in services)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in rows)


def as_json(word: str, detail: str, services: list[Service], ready: bool, live: bool) -> str:
    from ignity import jsonout

    report = {
        "phase": word,
        "detail": detail or None,
        "ready": ready,
        "live": live,
        "services": [s.as_json() for s in services],
    }
    return jsonout.dumps(report, indent=2) + "\n"


# -- the command -------------------------------------------------------------


def _milliseconds(text: str) -> int:
    if not text.isdigit():
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds")
    return int(text)


def parser() -> argparse.ArgumentParser:
    import argparse

    from ignity.cli import epilog

    p = argparse.ArgumentParser(
        prog="ignity status",
        epilog=epilog("status"),
        description="Show the container's phase and every service. Exit 0 when the boot is complete and "
        "every service is in order (up, and ready where it notifies; or stopped on purpose); 1 when one is "
        "not; 3 while the container starts; 4 once it stops; 111 outside a running Ignity container.",
    )
    p.add_argument("--json", action="store_true", help='print {"phase", "detail", "ready", "live", "services": [...]}')
    p.add_argument(
        "--wait-ready",
        nargs="?",
        const=DEFAULT_WAIT_MS,
        default=None,
        type=_milliseconds,
        metavar="MS",
        help=f"first wait, through the boot, until it is ready, at most MS ms (default {DEFAULT_WAIT_MS}; 0: no limit)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="liveness: exit 0 while starting or running, 1 once a service was given up on, 4 once stopping",
    )
    return p


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM ends the command as Ctrl-C does, so that run_all can stop its children."""
    raise KeyboardInterrupt(signum)


def probe(scandir: str, wait_ms: int | None, live: bool) -> tuple[str, str, list[Service]]:
    """(phase, detail, services): the services as linked so far while `starting` (those
    s6-svscan has not picked up yet are `unsupervised`), none once `stopping`; the phase
    is read once more after them (a stop may have begun meanwhile)."""
    deadline = time.monotonic() + wait_ms / 1000 if wait_ms else None
    check_scandir(scandir)
    word, detail = container_phase(scandir)
    if word == phase.STARTING and wait_ms is not None and not live:
        word, detail = wait_for_boot(scandir, deadline)
    if word == phase.STOPPING:
        return word, detail, []
    if word == phase.RUNNING and wait_ms is not None and not live:
        services = wait_in_order(scandir, deadline)
    else:
        services = discover(scandir)
        read_all(services)
    after, after_detail = container_phase(scandir)
    if after == phase.STOPPING:
        return after, after_detail, []
    return word, detail, services


def exit_status(word: str, services: list[Service], live: bool) -> int:
    if word == phase.STOPPING:
        return STOPPING
    if word == phase.STARTING:
        return READY if live else STARTING
    if live:
        return READY if all(s.live for s in services) else NOT_READY
    return READY if all(s.in_order for s in services) else NOT_READY


def main(argv: list[str]) -> int:
    """`ignity status [--json] [--wait-ready[=MS]] [--live]`; returns the exit status."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed help (0) or the usage error
        return 0 if e.code in (0, None) else USAGE
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        try:
            svfile.act_as_owner(paths.SCANDIR)  # root in a non-root container: reads as Ignity's uid
        except FileNotFoundError:
            pass  # probe says so
        word, detail, services = probe(paths.SCANDIR, args.wait_ready, args.live)
    except (IgnityError, OSError) as e:
        message = str(e) if isinstance(e, IgnityError) else f"{e.filename}: {e.strerror}"
        log.error(PHASE, message)
        return e.status if isinstance(e, IgnityError) else NOT_HERE
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM during --wait-ready: 128+N as a shell says
        return 128 + (e.args[0] if e.args else signal.SIGINT)
    code = exit_status(word, services, args.live)
    if args.json:
        ready, live = exit_status(word, services, False) == READY, exit_status(word, services, True) == READY
        text = as_json(word, detail, services, ready, live)
    else:
        text = "" if word == phase.RUNNING else (f"{word}: {detail}\n" if detail else f"{word}\n")
        text += table(services) if services or word == phase.RUNNING else ""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `ignity status | head -1`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return code
