"""Stage 3: the stop. s6-svscan execs it as its finish (or crash) program, as PID 1.

It starts deaf to stop signals (sh/svscan-finish.sh) and signals only processes of
its own tree (proctree). Every wait ends when its condition holds; grace times are
upper bounds. When it is entered: docs/how-it-works.md ("The lifecycle").

1. In parallel, each with an upper bound:
   - finalize scripts, one at a time;
   - services, told to stop once: without dependencies s6-svscan already told them (-t);
     with dependencies, in reverse order. Bound: IGNITY_SERVICES_GRACETIME.
   - the boot process or the CMD (its process group), unless the latch says the signal
     program did.
2. Optional sync; SIGTERM to every process left in our tree; at most
   IGNITY_KILL_GRACETIME for them to go; SIGKILL; reap.
3. Exit with the status that follows from why we stopped.
"""

from __future__ import annotations

import os
import sys
import time

from ignity import config, deps, log, paths, phase, procs, proctree, runtime, status, svfile
from ignity import signals as signal
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

PHASE = "stage3"

# How long after stage 3's start the supervisors taken as told by s6-svscan are asked whether
# they were (svfile.py): well past the microseconds s6-supervise needs once it has run.
TOLD_CHECK_AFTER = 0.2

# After SIGKILL nothing can refuse to die, but a process stuck in the kernel
# (D state) can delay it; our exit ends the container anyway.
KILL_REAP_BOUND = 1.0

# Already ignored by the finish wrapper (inherited across exec); set again in
# case stage 3 was started some other way.
IGNORED_SIGNALS = (
    signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
)  # fmt: skip


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _settings() -> config.Config:
    """Stage 1's settings; the container's own IGNITY_* when the stop came before it wrote them."""
    try:
        text = svfile.read_owned(paths.CONFIG, 1 << 16).decode("utf-8", "replace")
        return config.from_env(dict(line.partition("=")[::2] for line in text.splitlines()))
    except FileNotFoundError:
        pass
    except (OSError, IgnityError) as e:
        log.error(PHASE, f"{paths.CONFIG}: cannot read ({getattr(e, 'strerror', None) or e}): default settings")
        return config.Config()
    from ignity import envfile  # only on this path: a stop before stage 1 wrote them

    try:
        return config.from_env(envfile.own_variables(dict(os.environb)))
    except IgnityError:
        return config.Config()


def _why(crashed: bool) -> tuple[str, int, frozenset[str]]:
    """Take the latch, or read why someone else took it (and what they told to stop already)."""
    word = "crash" if crashed else ("cmd" if status.cmd() is not None else "scan")
    try:
        if status.latch(word):
            return word, 0, frozenset()
    except OSError:
        return word, 0, frozenset()
    return status.reason()


class Finalizer:
    """Runs the finalize scripts one after the other, each bounded in time.

    They come from the image's /etc/ignity/finalize, root's, not from the
    run-time copy: nothing written at run time is executed by root at a stop,
    and a stop at any instant of the boot still runs them.
    """

    def __init__(self, maxtime_ms: int, enabled: bool) -> None:
        directory = f"{paths.ETC}/finalize"
        try:
            names = sorted(n for n in os.listdir(directory) if not n.startswith(".")) if enabled else []
        except OSError:
            names = []
        self.queue = [f"{directory}/{n}" for n in names]
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
            _signal_group(self.pid, signal.SIGKILL)
            self.deadline = None  # its death arrives as an event
            return
        while self.pid is None and self.queue:
            path = self.queue.pop(0)
            self.name = os.path.basename(path)
            self.started = now
            try:
                # Its own process group, stdin /dev/null: never the terminal's foreground.
                self.pid = procs.spawn([path], new_group=True, stdin_null=True)
            except OSError as e:
                log.error(PHASE, f"{paths.ETC}/finalize/{self.name}: cannot run: {e.strerror}")
                continue
            self.deadline = now + self.maxtime if self.maxtime > 0 else None


class ServiceStopper:
    """Stops the supervisors in reverse dependency order, on events.

    SIGTERM to an s6-supervise is `s6-svc -xd` (stop the service within its
    timeout-kill, then exit); SIGHUP to a logger's is `s6-svc -x` (exit once
    its service is down and it has drained). A service is told to stop once
    every service that depends on it is down.
    """

    def __init__(
        self, supervisors: dict[int, str], graph: dict[str, list[str]], told: bool, now: float, deadline: float
    ) -> None:
        """`told`: our own stop command had s6-svscan tell every one of them (`-tb`,
        runtime.stop_argv), so none is told again (each SIGTERM to an s6-supervise
        is one more SIGTERM to its service); TOLD_CHECK_AFTER later, those still
        running are asked whether they were (svfile.py)."""
        self.alive = dict(supervisors)  # pid -> service name ("web", or "web/log")
        self.asked: set[int] = set(supervisors) if told else set()
        self.check_at = min(now + TOLD_CHECK_AFTER, deadline) if told and supervisors else None
        self.dependents: dict[str, set[str]] = {}
        for name, needs in graph.items():
            for other in needs:
                self.dependents.setdefault(other, set()).add(name)

    @property
    def done(self) -> bool:
        return not self.alive

    def advance(self, dead: dict[int, int]) -> None:
        for pid in dead:
            self.alive.pop(pid, None)
        if self.check_at is not None and time.monotonic() >= self.check_at:
            self.check_at = None
            for pid, name in self.alive.items():
                if not name.endswith("/log") and _wanted_up(name):
                    _signal(pid, signal.SIGTERM)  # s6-svscan's -t never reached it
                else:
                    # `s6-svc -x`: exit once the service is down; never a signal to the service,
                    # so asking twice changes nothing (a logger's; one with nothing to stop: down).
                    _signal(pid, signal.SIGHUP)
        if self.asked.issuperset(self.alive):
            return  # every supervisor left was told: nothing to decide (the common case, at once)
        up = {name for name in self.alive.values() if "/" not in name}
        for pid, name in self.alive.items():
            if pid in self.asked:
                continue
            if name.endswith("/log"):
                _signal(pid, signal.SIGHUP)
            elif not (self.dependents.get(name, set()) & up):
                _signal(pid, signal.SIGTERM)
            else:
                continue
            self.asked.add(pid)

    def hurry(self) -> None:
        """Past the grace time: tell every supervisor left to stop now."""
        for pid, name in self.alive.items():
            if pid not in self.asked and not name.endswith("/log"):
                _signal(pid, signal.SIGTERM)
                self.asked.add(pid)


def _wanted_up(name: str) -> bool:
    """svfile.wanted_up of a scan entry; True (told again) when its status file cannot be read, said in one line."""
    path = f"{paths.SCANDIR}/{name}"
    try:
        return svfile.wanted_up(path)
    except OSError as e:
        log.info(PHASE, f"{path}/{svfile.STATUS}: cannot read ({e.strerror}): telling its supervisor to stop")
        return True


def _graph() -> dict[str, list[str]]:
    """The services' dependencies, read once: {} when they cannot be read (each stopped at once, then)."""
    try:
        return deps.read(paths.SERVICES)
    except (IgnityError, OSError):
        return {}


def _earliest(*deadlines: float | None) -> float | None:
    present = [d for d in deadlines if d is not None]
    return min(present) if present else None


def main() -> NoReturn:
    """Stage 3; a bug of ours is one line and the container still stops: PID 1 never dies of a traceback."""
    try:
        _main()
    except BaseException as e:  # PID 1 dying would kill finalize and the services mid-stop
        log.error(PHASE, f"internal error, please report: {e!r}")
        _last_resort()


def _last_resort() -> NoReturn:
    """After a bug: what is left of our tree gets TERM, then KILL after a bounded while; status 1."""
    deadline = time.monotonic() + config.Config().kill_gracetime / 1000
    try:
        for p in proctree.descendants():
            _signal(p.pid, signal.SIGTERM)
            _signal(p.pid, signal.SIGCONT)
        reaper = procs.Reaper()
        while time.monotonic() < deadline:
            _, none_left = reaper.reap()
            if none_left:
                break
            reaper.wait(deadline)
        for p in proctree.descendants():
            _signal(p.pid, signal.SIGKILL)
    finally:
        sys.stdout.flush()
        os._exit(1)


def _main() -> NoReturn:
    t0 = time.monotonic()
    phase.write(phase.STOPPING)  # first: `ignity status` and probes answer "stopping" from now on
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(IGNORED_SIGNALS))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    settings = _settings()
    word, number, handled = _why(sys.argv[0].endswith("crash") or sys.argv[1:] == ["crash"])
    runtime.close_cmd_gate()
    # A setup error was its own one line: nothing had started, nothing more to say.
    log.set_verbosity(0 if word == "setup" else settings.verbosity)
    if word == "crash":
        log.error(PHASE, "s6-svscan met a fatal error: stopping")
    reaper = procs.Reaper()
    log.info(PHASE, "stopping")

    # 1. Services, the boot process or the CMD, and finalize scripts, in parallel.
    me, my_group = os.getpid(), os.getpgrp()
    supervisors, others = _supervisors([p for p in proctree.descendants() if p.ppid == me])
    waiter = _waiter()
    for p in others:
        if p.pid == waiter and "cmd" in handled:
            continue  # the signal handler stopped the CMD's group already
        # The boot process leads the group of the init scripts and the CMD.
        if p.pgid == p.pid and p.pgid != my_group:
            _signal_group(p.pgid, signal.SIGTERM)
            _signal_group(p.pgid, signal.SIGCONT)
        else:
            _signal(p.pid, signal.SIGTERM)
    waiter_pids = {waiter} if waiter in {p.pid for p in others} else set()
    graph = _graph() if supervisors else {}
    # Every stop command of ours has s6-svscan tell every supervisor when no order is to be kept.
    told = word not in ("scan", "crash") and not any(graph.values())
    services_deadline = t0 + settings.services_gracetime / 1000
    stopper = ServiceStopper(supervisors, graph, told, t0, services_deadline)
    stopper.advance({})
    finalizer = Finalizer(settings.kill_finalize_maxtime, enabled=word != "setup")
    finalizer.advance({})
    hurried = False
    while True:
        dead, _ = reaper.reap()
        waiter_pids -= dead.keys()
        stopper.advance(dead)
        finalizer.advance(dead)
        late = time.monotonic() >= services_deadline
        if late and not hurried:
            stopper.hurry()
            hurried = True
        services_done = (stopper.done and not waiter_pids) or late
        if finalizer.done and services_done:
            break
        reaper.wait(
            _earliest(finalizer.deadline, *((None, None) if services_done else (services_deadline, stopper.check_at)))
        )
    if not stopper.done or waiter_pids:
        log.info(PHASE, f"services still stopping after IGNITY_SERVICES_GRACETIME={settings.services_gracetime} ms")
    log.debug(PHASE, f"services and finalize done after {round((time.monotonic() - t0) * 1000)} ms")

    # 2. Everything left of our tree: TERM, a bounded grace, KILL.
    if settings.sync_disks:
        os.sync()
    for p in proctree.descendants():
        _signal(p.pid, signal.SIGTERM)
        _signal(p.pid, signal.SIGCONT)
    kill_deadline = time.monotonic() + settings.kill_gracetime / 1000
    while True:
        _, none_left = reaper.reap()
        if none_left or time.monotonic() >= kill_deadline:
            break
        reaper.wait(kill_deadline)
    if not none_left:
        log.info(PHASE, f"processes still running after IGNITY_KILL_GRACETIME={settings.kill_gracetime} ms: killing")
        bound = time.monotonic() + KILL_REAP_BOUND
        while time.monotonic() < bound:
            left = proctree.descendants()
            for p in left:
                _signal(p.pid, signal.SIGKILL)
            _, none_left = reaper.reap()
            if none_left or not left:
                break
            reaper.wait(bound)

    # 3. Exit status.
    code = status.final(word, number, status.cmd(), status.cmd_ran())
    log.info(PHASE, f"exiting with status {code} after {round((time.monotonic() - t0) * 1000)} ms")
    sys.stdout.flush()
    os._exit(code)


def _waiter() -> int | None:
    """The CMD's waiter (the boot process, after its exec), from its announcement."""
    try:
        return int(svfile.read_owned(paths.CMD_MARK, 32).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _scan_entries() -> set[str]:
    """What s6-svscan supervises, from the scan directory root laid out: "NAME" and "NAME/log"."""
    try:
        names = [n for n in os.listdir(paths.SCANDIR) if not n.startswith(".")]
    except OSError:
        return set()
    return {*names, *(f"{n}/log" for n in names if os.path.isdir(f"{paths.SCANDIR}/{n}/log"))}


def _supervisors(children: list[proctree.Proc]) -> tuple[dict[int, str], list[proctree.Proc]]:
    """Our children that are s6-svscan's supervisors ({pid: scan entry}), and the others.

    Any uid whose process is re-parented to us can name it `s6-supervise NAME`,
    so the argv only says which entry a supervisor claims: it must be an entry of
    the scan directory, and the process ours (every uid of it this one: root's,
    as root) running s6-supervise, as the kernel says. Anything else is one more
    process of our tree, stopped as such; it never adds a file to read or a wait.
    """
    entries = _scan_entries()
    uid = os.geteuid()
    supervisors: dict[int, str] = {}
    others: list[proctree.Proc] = []
    for p in children:
        argv = proctree.argv(p.pid)
        if (
            len(argv) == 2
            and argv[0] == "s6-supervise"
            and argv[1] in entries
            and argv[1] not in supervisors.values()
            and proctree.owned_by(p.pid, uid)
            and os.path.basename(proctree.exe(p.pid)) == "s6-supervise"
        ):
            supervisors[p.pid] = argv[1]
        else:
            others.append(p)
    return supervisors, others
