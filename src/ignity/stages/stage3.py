"""Stage 3: shutdown, as PID 1, exec'ed by s6-svscan as its finish program.

Entered on CMD exit, SIGTERM/SIGINT/SIGQUIT to PID 1, a failed start-up or
`ignity halt` (all through `s6-svscanctl -b`: the supervisors are still
running and are now our children), or `s6-svscanctl -t` (s6-svscan has
already brought the services down). Every wait below ends the moment its
condition holds; the grace times are only upper bounds.

1. In parallel: finalize scripts one by one, each bounded; the services and
   the CMD told to stop, bounded by IGNITY_SERVICES_GRACETIME (s6-supervise
   enforces it on each service through timeout-kill).
2. Optional sync; SIGTERM to every process left; at most
   IGNITY_KILL_GRACETIME for them to go; SIGKILL; reap.
3. Exit with the recorded status.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ignity import config, log, paths, procs, status

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

PHASE = "stage3"

# After SIGKILL nothing can refuse to die, but a process stuck in the kernel
# (D state) can delay it; PID 1 exiting kills the namespace anyway.
KILL_REAP_BOUND = 1.0

# Signals PID 1 must not die of while it shuts down: a second SIGTERM or a
# Ctrl-C during stage 3 changes nothing.
IGNORED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class Proc:
    __slots__ = ("args", "comm", "pgid", "pid", "ppid")

    def __init__(self, pid: int, ppid: int, pgid: int, comm: str, args: list[str]) -> None:
        self.pid, self.ppid, self.pgid, self.comm, self.args = pid, ppid, pgid, comm, args


def _processes() -> list[Proc]:
    """Every process visible in /proc (our namespace), except ourselves."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        # comm is in parentheses and may itself contain ") ": split at the last one.
        comm = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode("utf-8", "replace")
        rest = stat[stat.rindex(b")") + 2 :].split()
        found.append(Proc(int(entry), int(rest[1]), int(rest[2]), comm, args))
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _waiter_pid() -> int | None:
    """Stage 2's pid, if it is still alive as the CMD waiter (our child)."""
    try:
        with open(paths.STAGE2_PID) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


class Finalizer:
    """Runs the finalize scripts one after the other, each bounded in time."""

    def __init__(self, maxtime_ms: int) -> None:
        try:
            names = sorted(n for n in os.listdir(paths.FINALIZE) if not n.startswith("."))
        except OSError:
            names = []
        self.queue = [f"{paths.FINALIZE}/{n}" for n in names]
        self.maxtime = maxtime_ms / 1000
        self.pid: int | None = None
        self.deadline: float | None = None
        self.name = ""
        self.started = 0.0

    @property
    def done(self) -> bool:
        return self.pid is None and not self.queue

    def advance(self, dead: dict[int, int]) -> None:
        """Note a finished script, kill one past its time, start the next."""
        now = time.monotonic()
        if self.pid is not None and self.pid in dead:
            code = procs.status_of(dead[self.pid])
            log.debug(PHASE, f"finalize {self.name}: exited {code} after {round((now - self.started) * 1000)} ms")
            if code != 0:
                log.info(PHASE, f"{paths.ETC}/finalize/{self.name} exited {code}")
            self.pid = None
        elif self.pid is not None and self.deadline is not None and now >= self.deadline:
            log.error(
                PHASE,
                f"{paths.ETC}/finalize/{self.name}: still running after "
                f"IGNITY_KILL_FINALIZE_MAXTIME={round(self.maxtime * 1000)} ms, killed",
            )
            _signal(self.pid, signal.SIGKILL)
            self.deadline = None  # its death arrives as an event
            return
        while self.pid is None and self.queue:
            path = self.queue.pop(0)
            self.name = os.path.basename(path)
            self.started = now
            try:
                self.pid = procs.spawn([path])
            except OSError as e:
                log.error(PHASE, f"{paths.ETC}/finalize/{self.name}: cannot run: {e.strerror}")
                continue
            self.deadline = now + self.maxtime if self.maxtime > 0 else None


def _earliest(*deadlines: float | None) -> float | None:
    present = [d for d in deadlines if d is not None]
    return min(present) if present else None


def _take_terminal() -> None:
    """The CMD's process group had the terminal: give it back to PID 1's, for finalize scripts."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) != os.getpgrp():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
            os.tcsetpgrp(0, os.getpgrp())
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTTOU})
    except OSError:
        pass


def main() -> NoReturn:
    t0 = time.monotonic()
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(IGNORED_SIGNALS))
    _take_terminal()
    settings = config.load(paths.CONFIG)
    log.set_verbosity(settings.verbosity)
    try:
        open(paths.STOPPING, "x").close()
    except OSError:
        pass
    reaper = procs.Reaper()
    log.info(PHASE, "stopping")

    # 1. Services, CMD and finalize scripts, in parallel.
    everyone = _processes()
    waiter = _waiter_pid()
    waiter_alive = any(p.pid == waiter and p.ppid == 1 and p.comm == "foreground" for p in everyone)
    supervisors = {p.pid for p in everyone if p.ppid == 1 and p.comm == "s6-supervise"}
    for p in everyone:
        if p.pid in supervisors:
            # As s6-svscanctl -t does: services stop, loggers drain then exit.
            _signal(p.pid, signal.SIGHUP if p.args[-1:] and p.args[-1].endswith("/log") else signal.SIGTERM)
        elif waiter_alive and p.ppid == waiter:
            _signal_group(p.pgid, signal.SIGTERM)
            _signal_group(p.pgid, signal.SIGCONT)
    waiting = set(supervisors) | ({waiter} if waiter_alive and waiter else set())
    services_deadline = t0 + settings.services_gracetime / 1000
    finalizer = Finalizer(settings.kill_finalize_maxtime)
    finalizer.advance({})
    while True:
        dead, _ = reaper.reap()
        waiting -= dead.keys()
        finalizer.advance(dead)
        services_done = not waiting or time.monotonic() >= services_deadline
        if finalizer.done and services_done:
            break
        reaper.wait(_earliest(finalizer.deadline, None if services_done else services_deadline))
    if waiting:
        log.info(PHASE, f"services still stopping after IGNITY_SERVICES_GRACETIME={settings.services_gracetime} ms")
    log.debug(PHASE, f"services and finalize done after {round((time.monotonic() - t0) * 1000)} ms")

    # 2. Everything left: TERM, a bounded grace, KILL.
    if settings.sync_disks:
        os.sync()
    waiter_alive = waiter_alive and waiter in {p.pid for p in _processes()}
    leftovers = [p for p in _processes() if p.pid != waiter]
    for p in leftovers:
        _signal(p.pid, signal.SIGTERM)
        _signal(p.pid, signal.SIGCONT)
    kill_deadline = time.monotonic() + settings.kill_gracetime / 1000
    while True:
        dead, none_left = reaper.reap()
        if none_left or time.monotonic() >= kill_deadline:
            break
        reaper.wait(kill_deadline)
    if not none_left:
        log.info(PHASE, f"processes still running after IGNITY_KILL_GRACETIME={settings.kill_gracetime} ms: killing")
        _signal(-1, signal.SIGKILL)
        bound = time.monotonic() + KILL_REAP_BOUND
        while not reaper.reap()[1] and time.monotonic() < bound:
            reaper.wait(bound)

    # 3. Exit status.
    code = status.final()
    if code is None:
        # The CMD was still running and had to be killed before it could say.
        code = 128 + signal.SIGKILL if waiter_alive else 0
    log.info(PHASE, f"exiting with status {code} after {round((time.monotonic() - t0) * 1000)} ms")
    sys.stdout.flush()
    os._exit(code)
