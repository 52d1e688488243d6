"""Handing service directories to s6-svscan, in dependency order, and waiting for them.

Supervision itself is s6's: this module writes each service's wrappers
(wrappers.py, health.py), places the directories in the scan directory, asks
s6-svscan to scan, and listens for s6-supervise's own up/ready events.

Start order. A service with dependencies (`dependencies.d/OTHER`, read by
deps.py) gets a `down` file in its run-time copy, so that s6-supervise does
not start it on the scan (the marker `.ignity/held` tells it from an author's
`down`). Every service that something depends on, or that the CMD waits for,
is held the same way and started with

    s6-svlisten1 -U|-u -t MS SERVICEDIR s6-svc -u SERVICEDIR

which subscribes to the service's events before starting it, then waits for
it to be ready (-U, with a notification-fd) or up (-u): no event can be
missed, and a permanent failure (finish exiting 125) ends the wait at once.
Each time one of them exits 0, the held services whose dependencies are all
up are started: each service starts the moment its last dependency is
ready, not a whole wave later, and independent ones start in parallel. One
deadline bounds it all, IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME.

s6-svlisten1 reads the service's status file, which only exists once
s6-supervise runs: so the scan is triggered under one s6-ftrig-listen that
waits for each held service's supervisor-start event ('s'). The services
listened to are linked into the scan directory by the listener's own
program, once it has subscribed (see `_link_and_scan`).
"""

from __future__ import annotations

import os
import time

from ignity import config, health, log, paths, phase, procs, restarts, runtime, tools, wrappers
from ignity import signals as signal
from ignity.errors import IgnityError

PHASE = "services"

# s6-ftrig-listen's exit status when its time limit passes.
LISTEN_TIMEOUT = 1
# s6-svlisten1's: reached, permanent failure (or supervisor died), timed out.
REACHED, FAILED, TIMED_OUT = 0, 1, 99


# The author's service directories as the boot (or the last reload) copied them
# from /etc/ignity/services: what `ignity reload` compares that directory with.
# Stage 2 fills LAID_OUT_NEW while it copies and renames it to LAID_OUT once every
# service is started: its presence also says that the boot's start-up is over.
LAID_OUT = f"{paths.STATE}/services"
LAID_OUT_NEW = f"{paths.STATE}/services.new"


def keep_copy(name: str, strip: int) -> None:
    """Copy /etc/ignity/services/`name` as the boot saw it (stage 2, next to its run-time copy)."""
    if not os.path.isdir(LAID_OUT_NEW):
        os.mkdir(LAID_OUT_NEW, 0o700)
    runtime.copy(f"{paths.ETC}/services/{name}", f"{LAID_OUT_NEW}/{name}", strip=strip)


def booted() -> None:
    """The start-up is over: `ignity reload` may run from now on."""
    if not os.path.isdir(LAID_OUT_NEW):
        os.mkdir(LAID_OUT_NEW, 0o700)
    os.rename(LAID_OUT_NEW, LAID_OUT)


class Service:
    """One service directory under /run/ignity/services."""

    __slots__ = ("deps", "down", "essential", "keep_children", "name", "notifies", "path")

    def __init__(self, name: str, path: str, down: bool, notifies: bool) -> None:
        self.name = name
        self.path = path
        self.down = down  # has a `down` file: not started automatically
        self.notifies = notifies  # has `notification-fd`: "up" means "ready"
        self.essential = os.path.exists(f"{path}/essential")  # its death ends the container
        self.keep_children = os.path.exists(f"{path}/keep-children") or os.path.exists(f"{path}/nosetsid")
        self.deps: list[str] = []

    @property
    def event(self) -> str:
        return f"{self.path}/event"

    @property
    def what(self) -> str:
        return "ready" if self.notifies else "up"


def valid_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\n" not in name


def discover(directory: str = paths.SERVICES) -> list[Service]:
    """The service directories under `directory`, in name order; errors name the path."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith("."):
            continue
        path = f"{directory}/{name}"
        if not os.path.isdir(path):
            raise IgnityError(f"{paths.ETC}/services/{name}: not a directory, expected a service directory")
        if not os.path.isfile(f"{path}/run"):
            raise IgnityError(f"{paths.ETC}/services/{name}: no run file (a service directory needs an executable run)")
        found.append(Service(name, path, os.path.exists(f"{path}/down"), os.path.exists(f"{path}/notification-fd")))
    return found


def prepare(service: Service, gracetime_ms: int, listen: bool) -> None:
    """Bound the service's stop by the grace time, and ready its event fifodir.

    `timeout-kill` makes s6-supervise itself SIGKILL a service that ignores
    SIGTERM; an author's own file is kept. s6 reads 0 as "never", so a grace
    of 0 (kill at once) becomes 1 ms.
    """
    timeout_kill = f"{service.path}/timeout-kill"
    if not os.path.exists(timeout_kill):
        with open(timeout_kill, "w") as f:
            f.write(f"{max(1, gracetime_ms)}\n")
    if listen and not os.path.isdir(service.event):
        # Root's (Ignity's uid's) alone from the start, not s6's 3730: s6-supervise (root) notifies
        # every entry by opening it for writing, following links (runtime.seal_supervision).
        runtime.make_event_dir(service.event)


def _graph(all_services: list[Service], directory: str) -> dict[str, list[str]]:
    """Fill each service's `deps`; {} when no service has dependencies (the common, fast case)."""
    if not any(os.path.isdir(f"{s.path}/dependencies.d") for s in all_services):
        return {}
    from ignity import deps

    graph = deps.read(directory)
    deps.levels(graph)  # unknown names and cycles: one line, before anything starts
    by_name = {s.name: s for s in all_services}
    for service in all_services:
        service.deps = graph.get(service.name, [])
        for dep in service.deps:
            if by_name[dep].down and not service.down:
                raise IgnityError(
                    f"service {service.name} depends on {dep}, which has a down file and is never started "
                    f"(remove {paths.ETC}/services/{dep}/down, or the dependency)"
                )
    return graph if any(s.deps for s in all_services) else {}


def _install_wrappers(service: Service, gracetime_ms: int, settings: config.Config) -> None:
    loop, clean = None, not service.keep_children
    if health.has_check(service.path):
        loop = health.loop_script(service.path, service.name, service.notifies, service.essential, clean, gracetime_ms)
    delay, limit = settings.services_restart_delay, settings.services_restart_limit
    policy = restarts.read(service.path, service.name, delay, limit, service.essential)
    wrappers.install(service.path, service.name, service.essential, clean, loop, policy, settings.verbosity >= 1)
    if os.path.lexists(f"{service.path}/schedule"):  # a scheduled job: its run becomes the job loop
        from ignity import jobs

        jobs.install(service.path, service.name)


def lay_out(service: Service, gracetime_ms: int, listen: bool, hold: bool, settings: config.Config) -> None:
    """Every wrapper the boot gives a service, in its run-time copy (its output's log/ comes
    first, from outputs.setup): run and finish wrappers, health loop, grace time, event
    fifodir (`listen`), held down until started (`hold`). Stage 2 and `ignity reload` both
    lay out a service with this, before s6-svscan sees it. `settings`: stage 1's (restart defaults)."""
    _install_wrappers(service, gracetime_ms, settings)
    prepare(service, gracetime_ms, listen)
    if hold:
        _hold(service)


def _hold(service: Service) -> None:
    """Keep s6-supervise from starting the service on the scan; start() lifts it."""
    for name in ("down", wrappers.HELD):
        fd = os.open(
            f"{service.path}/{name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
        os.close(fd)


def start(
    all_services: list[Service],
    gracetime_ms: int,
    wait_ms: int | None,
    maxtime_ms: int | None = None,
    directory: str = paths.SERVICES,
) -> None:
    """Link every service into the scan directory and start them in dependency order.

    With `wait_ms` (0 = no limit), return only once every service without a
    `down` file is up (ready, for those with `notification-fd`); a service
    that fails permanently ends the wait at once, naming it. Services that
    others depend on are waited for in any case, bounded by `maxtime_ms`
    (default: `wait_ms`, else 5000; 0 = no limit).
    """
    if maxtime_ms is None:
        maxtime_ms = wait_ms if wait_ms is not None else 5000
    graph = _graph(all_services, directory)
    awaited = {s.name for s in all_services if not s.down} if wait_ms is not None else set()
    needed = {dep for s in all_services if not s.down for dep in s.deps}
    observed = (awaited | needed) if graph else set()
    held = observed | {s.name for s in all_services if s.deps and not s.down}
    settings = config.load(paths.CONFIG)  # the restart defaults and verbosity stage 1 wrote
    for service in all_services:
        lay_out(service, gracetime_ms, service.name in awaited or service.name in held, service.name in held, settings)
        if service.name not in held and service.name not in awaited:
            os.symlink(service.path, f"{paths.SCANDIR}/{service.name}")
    listened = [s.path for s in all_services if s.name in held or s.name in awaited]
    scan = _link_and_scan(listened)
    if held:
        deadline = time.monotonic() + maxtime_ms / 1000 if maxtime_ms else None
        _supervised_then(scan, [s for s in all_services if s.name in held], _remaining(deadline))
        _start_in_order(all_services, held, observed, maxtime_ms, deadline)
    elif awaited:
        _listen_then(scan, [s for s in all_services if s.name in awaited], wait_ms or 0)
    elif all_services:
        runtime.svscan_command(b"a")


def start_reloaded(
    new: list[Service], running: frozenset[str], linked: list[str], gone: tuple[str, ...], maxtime_ms: int
) -> None:
    """`ignity reload`'s start: the services of `new` are laid out (with lay_out, held unless
    they have a `down` file) under their names; `linked` are the paths to link into the scan
    directory (the added ones: a changed one's link names its path already). One scan (`-an`)
    picks them up and drops the supervisors of what was unlinked or swapped, whose event
    fifodirs `gone` are waited for ('x'); then each starts once its dependencies are up,
    `running` counting as up, as at the boot."""
    held = {s.name for s in new if not s.down}
    deadline = time.monotonic() + maxtime_ms / 1000 if maxtime_ms else None
    scan = _link_and_scan(linked, "-an")
    _supervised_then(scan, new, _remaining(deadline), gone)
    _start_in_order(new, held, held, maxtime_ms, deadline, running)


def _link_and_scan(listened: list[str], letters: str = "-a") -> list[str]:
    """The command that links the services listened to into the scan directory, then scans.

    It runs as the listener's program, after the listener has subscribed to
    their event fifodirs (in /run/ignity/services/NAME, where they already
    exist): s6-svscan's readiness comes before its first scan, which would
    otherwise pick up a service linked earlier and let its first events
    ('s', 'u', 'U') pass before anyone listens.
    """
    scan = [tools.find("s6-svscanctl"), letters, paths.SCANDIR]
    if not listened:
        return scan
    link = [tools.find("ln"), "-s", *listened, paths.SCANDIR]
    return [tools.find("if"), *(" " + word for word in link), "", *scan]


def _listen_then(scan: list[str], awaited: list[Service], wait_ms: int) -> None:
    """The CMD wait without dependencies: trigger the scan under listeners that
    end when every service is up (ready), or at once when one fails permanently.

        s6-ftrig-listen -o { EV1 O ... STARTUP R }
          if { s6-ftrig-listen -a { EV1 [UO] ... } s6-svscanctl -a SCANDIR }
          s6-ftrig-notify STARTUP R

    The inner listener waits for all (a permanent failure, 'O', counts as
    reached there); the outer one, which Python waits for, for the first of a
    permanent failure or the inner one's success, told on a fifodir of ours.
    Both subscribe before the scan, so no event is missed; two processes
    whatever the number of services.
    """
    startup = f"{paths.STATE}/startup-event"
    if not os.path.isdir(startup):
        os.mkdir(startup)
        os.chmod(startup, 0o3730)  # the fifodir format s6 itself creates
    listen, timeout = tools.find("s6-ftrig-listen"), str(wait_ms)
    inner = [listen, "-a", "-t", timeout]
    outer = [listen, "-o", "-t", timeout]
    for s in awaited:
        inner += [f" {s.event}", " [UO]" if s.notifies else " [uO]"]
        outer += [f" {s.event}", " O"]
    inner += ["", *scan]
    outer += [f" {startup}", " R", "", tools.find("if"), *(" " + word for word in inner), ""]
    outer += [tools.find("s6-ftrig-notify"), startup, "R"]
    log.debug(PHASE, f"waiting for {len(awaited)} service(s), at most {wait_ms or 'unlimited'} ms")
    phase.starting("waiting for " + ", ".join(s.name for s in awaited))
    status = procs.run(outer, stderr_to_null=True)
    failed = [s for s in awaited if wrappers.failed_permanently(s.path)]
    if failed:
        raise IgnityError(f"service {_failure(failed)}: start-up stopped")
    if status == LISTEN_TIMEOUT:
        late = [f"{s.name} (not {s.what})" for s in awaited if not _reached(s)]
        raise IgnityError(
            f"services not up within IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME={wait_ms} ms: {', '.join(late) or '?'}"
        )
    if status != 0:
        raise IgnityError(f"waiting for services failed (s6-ftrig-listen exited {status})")


def _failure(failed: list[Service]) -> str:
    return ", ".join(f"{s.name} failed permanently ({_reason(s.path)})" for s in failed)


def _reason(path: str) -> str:
    reason = wrappers.failure(path)
    return "its finish exited 125" if reason in ("", "125", "finish exited 125") else reason


def _remaining(deadline: float | None) -> int:
    """Milliseconds left before `deadline` (at least 1); 0, s6's "no limit", for none."""
    return 0 if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))


def _supervised_then(scan: list[str], held: list[Service], maxtime_ms: int, gone: tuple[str, ...] = ()) -> None:
    """Trigger the scan and return once every held service has its s6-supervise
    (its 's' event), so that s6-svlisten1 finds a status file to read; and,
    for a reload, once the supervisors of the event fifodirs `gone` exited ('x')."""
    argv = [tools.find("s6-ftrig-listen"), "-a", "-t", str(maxtime_ms)]
    for s in held:
        argv += [f" {s.event}", " s"]
    for event in gone:
        argv += [f" {event}", " x"]
    argv += ["", *scan]
    status = procs.run(argv, stderr_to_null=True)
    if status == LISTEN_TIMEOUT:
        raise IgnityError("s6-svscan did not start the supervisors within IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME")
    if status != 0:
        raise IgnityError(f"starting the supervisors failed (s6-ftrig-listen exited {status})")


def _start_in_order(
    all_services: list[Service],
    held: set[str],
    observed: set[str],
    maxtime_ms: int,
    deadline: float | None,
    running: frozenset[str] = frozenset(),
) -> None:
    """Start each held service once its dependencies are up; wait for the observed ones.

    `running`: services already up (a reload's unchanged ones), which count as ready."""
    by_name = {s.name: s for s in all_services}
    svlisten1, svc = tools.find("s6-svlisten1"), tools.find("s6-svc")
    ready: set[str] = set(running)
    started: set[str] = set()
    pending: dict[int, str] = {}

    def launch_startable() -> None:
        for name in sorted(held - started):
            service = by_name[name]
            if not all(d in ready for d in service.deps):
                continue
            if os.path.exists(paths.STOPPING):
                # Stage 3 has begun: starting more would race its stop (stage 2 exits quietly on this).
                raise IgnityError("the container is stopping: start-up abandoned")
            started.add(name)
            os.unlink(f"{service.path}/down")
            up = [svc, "-u", service.path]
            if name in observed:
                flag = "-U" if service.notifies else "-u"
                argv = [svlisten1, flag, "-t", str(_remaining(deadline)), service.path, *up]
                pending[procs.spawn(argv, stderr_to_null=True)] = name
            else:
                _run(up, "s6-svc")
            os.unlink(f"{service.path}/{wrappers.HELD}")
            log.debug(PHASE, f"{name}: started")

    try:
        launch_startable()
        while pending:
            phase.starting("waiting for " + ", ".join(sorted(pending.values())))
            pid, wstatus = os.waitpid(-1, 0)
            name = pending.pop(pid, "")
            if not name:
                continue
            code = procs.status_of(wstatus)
            if code == FAILED and wrappers.done(by_name[name].path):
                code = REACHED  # ran once and is done (`restart on-failure` or `never`, exit 0): as good as up
            if code != REACHED:
                raise IgnityError(_why(by_name, name, code, held - started, ready, maxtime_ms))
            ready.add(name)
            log.debug(PHASE, f"{name}: {by_name[name].what}")
            launch_startable()
    finally:
        for pid in pending:  # a failure, or stage 3 began: leave no listener behind
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _why(by_name: dict[str, Service], name: str, code: int, waiting: set[str], ready: set[str], maxtime_ms: int) -> str:
    """One line: what failed, and the chain of services that wait for it."""
    service = by_name[name]
    if code == FAILED:
        what = _failure([service]) if wrappers.failed_permanently(service.path) else f"{name}: its supervisor died"
    elif code == TIMED_OUT:
        what = f"{name} not {service.what} within IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME={maxtime_ms} ms"
    else:
        what = f"waiting for {name} failed (s6-svlisten1 exited {code})"
    chains = [" -> ".join(_chain(by_name, top, ready)) for top in _tops(by_name, waiting)]
    chains = [c for c in chains if c.endswith(f" -> {name}") or f" -> {name} -> " in c]
    return what + (f" (waiting: {'; '.join(chains)})" if chains else "") + ": start-up stopped"


def _tops(by_name: dict[str, Service], waiting: set[str]) -> list[str]:
    """The waiting services no other waiting service depends on, sorted."""
    below = {d for n in waiting for d in by_name[n].deps}
    return sorted(waiting - below)


def _chain(by_name: dict[str, Service], top: str, ready: set[str]) -> list[str]:
    """From `top`, follow the first dependency not ready until one whose own dependencies are."""
    chain = [top]
    while True:
        late = [d for d in by_name[chain[-1]].deps if d not in ready]
        if not late:
            return chain
        chain.append(late[0])


def _reached(service: Service) -> bool:
    import subprocess  # only on this failure path

    out = subprocess.run(
        [tools.find("s6-svstat"), "-o", "up,ready", service.path],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return out == ["true", "true"] if service.notifies else out[:1] == ["true"]


def _run(argv: list[str], what: str) -> None:
    status = procs.run(argv, stderr_to_null=True)
    if status == 100:
        raise IgnityError(f"{what}: s6-svscan is not running on {paths.SCANDIR}")
    if status != 0:
        raise IgnityError(f"{what} failed with status {status}")
