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

A service is in order when it is not wanted up, or when it is up and, if it
has a `notification-fd`, ready: the same condition as
`IGNITY_CMD_WAIT_FOR_SERVICES`. Two cases s6 alone would call in order are
not: a service Ignity holds down until its dependencies are up (stage 2's
`.ignity/held`; the NOTE column says what it waits for), and a service that
should be up (no `down` file, not stopped with `s6-svc -d`) whose finish
exited 125, which s6 takes as "do not restart" and shows as merely wanted
down (the finish wrapper records it in `.ignity/failed`, see wrappers.py).
HEALTH is what the service's health loop last found (health.py). `--wait-ready` waits for it with
`s6-svwait` (-U or -u), on s6-supervise's events rather than by polling
(see `wait_in_order`), and ends the moment it holds: a Kubernetes exec
readiness probe, or a script's "wait until the container is ready".

Exit status: 0 every service in order; 1 otherwise; 100 usage error; 111
not inside a running Ignity container (no scan directory, or no s6-svscan
on it), with one line on stderr.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from ignity import health, log, paths, tools, wrappers
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
# Seconds between two looks at a service that has no supervisor yet (doubling).
UNSUPERVISED_PAUSE, UNSUPERVISED_PAUSE_MAX = 0.01, 0.5
# Dispositions Python sets for itself that would otherwise survive exec.
_SIGDEF = (signal.SIGPIPE, signal.SIGXFSZ)


class Service:
    """One supervised service directory and what s6 says about it."""

    __slots__ = (
        "deaths",
        "deaths_capped",
        "deps",
        "exit_code",
        "exit_signal",
        "failed",
        "health",
        "held",
        "name",
        "normally_up",
        "notifies",
        "path",
        "paused",
        "pid",
        "ready",
        "seconds",
        "state",
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
        self.failed = False  # should be up, but its finish exited 125 (s6: permanent failure)
        self.health: health.State | None = None
        self.deps: list[str] = []
        self.waits_for: list[str] = []  # dependencies not in order, while this one is not
        self.state = UNSUPERVISED
        self.ready = False  # up and has notified readiness (meaningful only when `notifies`)
        self.pid: int | None = None
        self.seconds: int | None = None  # in the current state
        self.exit_code: int | None = None  # last death: its exit code ...
        self.exit_signal: str | None = None  # ... or the signal that killed it
        self.deaths: int | None = None  # None: s6 keeps no tally for it
        self.deaths_capped = False
        self.wanted_up = self.normally_up
        self.paused = False

    @property
    def in_order(self) -> bool:
        """Not wanted up (nor held for its dependencies, nor failed permanently),
        or up (and ready, when it can say so)."""
        if self.failed:
            return False
        return not (self.wanted_up or self.held) or (self.state == UP and (self.ready or not self.notifies))

    @property
    def note(self) -> str | None:
        """Why it is not in order, or else the last failed health check."""
        if self.failed:
            return "failed permanently (its finish exited 125)"
        if self.waits_for:
            return "waits for " + ", ".join(self.waits_for)
        if not self.in_order and self.held:
            return "held until its dependencies are up"
        if self.health is not None and self.health.last_failure is not None:
            return f"last failed check: {self.health.last_failure}"
        return None

    def health_cell(self) -> str:
        h = self.health
        if h is None:
            return "-"
        cell = h.state if h.state in ("starting", "healthy") else f"{h.state} {h.failures}"
        if h.restarts:
            cell += f" ({h.restarts} restart{'s' if h.restarts > 1 else ''})"
        return cell

    def as_json(self) -> dict[str, object]:
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
            "waits_for": self.waits_for,
            "health": self.health.state if self.health else None,
            "health_failures": self.health.failures if self.health else None,
            "health_last_failure": self.health.last_failure if self.health else None,
            "health_restarts": self.health.restarts if self.health else None,
            "note": self.note,
            "ok": self.in_order,
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
    """Fail (111) unless s6-svscan runs on `scandir`.

    s6-svscan keeps its control fifo open for reading while it runs; opening
    it for writing without blocking fails with ENXIO when nobody reads it (as
    during stage 3, once s6-svscan has handed PID 1 over). Nothing is written.
    """
    if not os.path.isdir(scandir):
        raise IgnityError(f"{scandir} does not exist: not in a running Ignity container", 111)
    try:
        fd = os.open(f"{scandir}/.s6-svscan/control", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.ENOENT):
            message = f"s6-svscan is not running on {scandir}: the container is starting or stopping"
            raise IgnityError(message, 111) from None
        return  # not ours to open (another user's tree): let s6-svstat speak per service
    os.close(fd)


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
        service.state = UP
        service.pid = int(words[1]) if words[0] == "pid" and words[1].isdigit() else None
        service.ready = ready
        service.wanted_up = "want down" not in flags
    else:
        service.state = DOWN if ready else FINISHING
        service.wanted_up = "want up" in flags
        if words[0] == "signal":
            service.exit_signal = words[1]
        elif words[1].isdigit():
            service.exit_code = int(words[1])


def _max_death_tally(service: Service) -> int:
    try:
        with open(f"{service.path}/max-death-tally") as f:
            text = f.read().strip()
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
        if code == 0:
            parse_svstat(service, out)
        elif code == 1 or not os.path.exists(f"{service.path}/supervise/status"):
            # No s6-supervise (not picked up yet, or torn down), or one that
            # has just started and not yet written its first status.
            service.state = UNSUPERVISED
        else:
            raise IgnityError(f"s6-svstat {service.path} failed: {out.strip() or f'status {code}'}", 111)
    died = []
    for service in services:
        if service.state == UNSUPERVISED:
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
            if cap and service.state != UP:
                service.exit_code = service.exit_signal = None  # never ran, or never died
    if died:
        svdt = _find("s6-svdt")
        for (service, cap), (code, out) in zip(died, run_all([[svdt, s.path] for s, _ in died])):
            if code == 0:
                parse_svdt(service, out, cap)
    _orchestration(services)


def _orchestration(services: list[Service]) -> None:
    """What Ignity's own wrappers recorded: permanent failures, health, what each service waits for."""
    by_name = {}
    for service in services:
        by_name[service.name] = service
        service.health = health.read(service.path)
        service.failed = (
            service.normally_up and service.state in (DOWN, FINISHING) and wrappers.failed_permanently(service.path)
        )
    for service in services:
        if not service.in_order:
            service.waits_for = [d for d in service.deps if d in by_name and not by_name[d].in_order]


# -- waiting ----------------------------------------------------------------


def wait_in_order(scandir: str, deadline: float | None) -> list[Service]:
    """Until every service is in order or `deadline` (monotonic) passes; the last reading.

    Each round waits, with s6-svwait, on s6-supervise's events for the
    services not in order yet (-U for those with notification-fd, -u for
    the others), then reads them all again: a service can have gone down
    meanwhile. A round that s6-svwait ends with a failure (time out, a
    permanent failure, a supervisor gone) is the last one, and so is a
    reading where a service has failed permanently (see `Service.failed`).

    The one exception to waiting on events: a service s6-svscan has not
    picked up yet (the first milliseconds of a container) has no supervisor
    to send any, so it is looked at again after a short, growing pause.
    """
    svwait = _find("s6-svwait")
    pause = UNSUPERVISED_PAUSE
    while True:
        services = discover(scandir)
        read_all(services)
        late = [s for s in services if not s.in_order]
        if not late or any(s.failed for s in late):
            return services  # in order, or one never will be: s6 does not restart a permanent failure
        timeout: list[str] = []
        if deadline is not None:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return services
            timeout = ["-t", str(remaining_ms)]
        if any(s.state == UNSUPERVISED for s in late):
            # Bounded retry, not synchronisation: no s6 event exists before a supervisor does.
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


def as_json(services: list[Service]) -> str:
    from ignity import jsonout

    return jsonout.dumps([s.as_json() for s in services], indent=2) + "\n"


# -- the command -------------------------------------------------------------


def _milliseconds(text: str) -> int:
    if not text.isdigit():
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds")
    return int(text)


def parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(
        prog="ignity status",
        description="Show every service as s6 sees it. Exit 0 when every service wanted up is up "
        "(and ready, if it has a notification-fd), else 1.",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    p.add_argument(
        "--wait-ready",
        nargs="?",
        const=DEFAULT_WAIT_MS,
        default=None,
        type=_milliseconds,
        metavar="MS",
        help=f"first wait until that holds, at most MS ms (default {DEFAULT_WAIT_MS}; 0: no limit)",
    )
    return p


def _interrupted(signum: int, frame: object) -> None:
    """SIGTERM ends the command as Ctrl-C does, so that run_all can stop its children."""
    raise KeyboardInterrupt(signum)


def main(argv: list[str]) -> int:
    """`ignity status [--json] [--wait-ready[=MS]]`; returns the exit status."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed help (0) or the usage error
        return 0 if e.code in (0, None) else 100
    start = time.monotonic()
    scandir = paths.SCANDIR
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        check_scandir(scandir)
        if args.wait_ready is None:
            services = discover(scandir)
            read_all(services)
        else:
            deadline = start + args.wait_ready / 1000 if args.wait_ready else None
            services = wait_in_order(scandir, deadline)
    except (IgnityError, OSError) as e:
        message = str(e) if isinstance(e, IgnityError) else f"{e.filename}: {e.strerror}"
        log.error(PHASE, message)
        return e.status if isinstance(e, IgnityError) else 111
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM during --wait-ready: 128+N as a shell says
        return 128 + (e.args[0] if e.args else signal.SIGINT)
    try:
        sys.stdout.write(as_json(services) if args.json else table(services))
        sys.stdout.flush()
    except BrokenPipeError:  # `ignity status | head -1`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return 0 if all(s.in_order for s in services) else 1
