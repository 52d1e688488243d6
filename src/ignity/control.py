"""`ignity start|stop|restart|signal NAME...`: services controlled from `kubectl exec`.

s6 does the work (`s6-svc` with its `-w` waits, which subscribe before they
send: no event is missed); this module checks who asks, orders the services
by their dependencies, records the operator's intent (docs/service-states.md:
`.ignity/operator`) and returns once the change has happened, bounded:

- stop: `s6-svc -wD -T B -d` (down and its finish done); s6-supervise sends
  SIGKILL at the service's `timeout-kill` (IGNITY_SERVICES_GRACETIME), so B is
  that plus `timeout-finish` plus a margin;
- start: dependencies first, then `s6-svc -wU|-wu -T B -u` (ready where it
  notifies, else up); B is IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME (default 5000);
- restart: stop then start (a plain `s6-svc -r` never escalates to SIGKILL);
  one not up in time, or an interrupt, leaves none of the others down;
- signal: `s6-svc -h|-t|...` to a running service.

Who may: root and the uid Ignity runs as (the owner of the scan directory);
root in a container Ignity runs as another uid acts as that uid. Anyone else
gets one line and nothing changes. Exit: 0 done; 1 not done (a time-out, a
service given up on, dependents in the way, the container not running);
100 usage (unknown name, bad signal); 111 not allowed, or not inside a
running Ignity container.
"""

from __future__ import annotations

import os
import sys

from ignity import config, log, paths, phase, svfile, svstatus, wrappers
from ignity import signals as signal
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every start; only mypy needs it
if TYPE_CHECKING:
    import argparse

PHASE = "control"
DONE, NOT_DONE, USAGE, CANNOT = 0, 1, 100, 111
# s6-svc -w's exit statuses (NOTES-s6): 99 time-out; 1 (102 on Debian 11) failure or supervisor gone.
S6_TIMEOUT = 99
DEFAULT_START_MS = 5000
DEFAULT_FINISH_MS = 5000  # s6's timeout-finish when the file is absent
MARGIN_MS = 2000
# The signals s6-svc sends in every s6 Ignity supports (Debian 11's 2.10 has no -s SIG).
SIGNALS = {
    "ALRM": "-a", "ABRT": "-b", "QUIT": "-q", "HUP": "-h", "KILL": "-k", "TERM": "-t", "INT": "-i",
    "USR1": "-1", "USR2": "-2", "STOP": "-p", "CONT": "-c", "WINCH": "-y",
}  # fmt: skip


# -- who, and which services --------------------------------------------------


def become_owner(scandir: str = paths.SCANDIR) -> None:
    """Refuse any uid but root and the scan directory's owner; root acts as that owner."""
    try:
        st = svfile.owner_of(scandir)
    except OSError:
        raise IgnityError(f"{scandir} does not exist: not in a running Ignity container", CANNOT) from None
    uid = os.geteuid()
    if uid == st.st_uid:
        return
    if uid != 0:
        raise IgnityError(
            f"uid {uid} may not control services (only root, or uid {st.st_uid} which Ignity runs as): nothing changed",
            CANNOT,
        )
    svfile.act_as_owner(scandir)


def services(
    names: list[str], scandir: str = paths.SCANDIR
) -> tuple[list[svstatus.Service], dict[str, svstatus.Service]]:
    """The named services (in the order given, each once) and all of them by name, read from s6."""
    every = svstatus.discover(scandir)
    by_name = {s.name: s for s in every}
    chosen: list[svstatus.Service] = []
    for name in names:
        if name not in by_name:
            known = ", ".join(s.name for s in every) or "none"
            raise IgnityError(f"{name!r} is not a service of this container (services: {known})", USAGE)
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    svstatus.read_all(every)
    return chosen, by_name


def must_be_running(scandir: str = paths.SCANDIR) -> None:
    word, detail = svstatus.container_phase(scandir)
    if word == phase.STARTING:
        raise IgnityError(f"the container is starting ({detail or 'boot'}): nothing changed; try again once "
                          "`ignity status` shows the services", NOT_DONE)  # fmt: skip
    if word == phase.STOPPING:
        raise IgnityError("the container is stopping: nothing changed", NOT_DONE)


def dependencies_first(chosen: list[svstatus.Service], by_name: dict[str, svstatus.Service]) -> list[svstatus.Service]:
    """`chosen` and what they depend on (transitively), each after its dependencies."""
    order: list[svstatus.Service] = []
    seen: set[str] = set()
    stack = [(s, False) for s in reversed(chosen)]
    while stack:
        service, expanded = stack.pop()
        if expanded:
            if service.name not in {s.name for s in order}:
                order.append(service)
            continue
        if service.name in seen:
            continue
        seen.add(service.name)
        stack.append((service, True))
        stack.extend((by_name[d], False) for d in reversed(service.deps) if d in by_name and d not in seen)
    return order


def dependents_first(chosen: list[svstatus.Service], by_name: dict[str, svstatus.Service]) -> list[svstatus.Service]:
    """`chosen` and what depends on them (transitively), each before what it depends on."""
    wanted = {s.name for s in chosen}
    changed = True
    while changed:
        changed = False
        for s in by_name.values():
            if s.name not in wanted and any(d in wanted for d in s.deps):
                wanted.add(s.name)
                changed = True
    order = dependencies_first([by_name[n] for n in sorted(wanted)], by_name)
    return [s for s in reversed(order) if s.name in wanted]


# -- records --------------------------------------------------------------------


def record(service: svstatus.Service, name: str, text: str) -> None:
    """Replace `.ignity/NAME` of the service with `text` (temp + rename; no link followed)."""
    private = f"{service.path}/{wrappers.PRIVATE}"
    if not os.path.isdir(private):
        if os.path.lexists(private):
            raise IgnityError(f"{private}: not a directory", CANNOT)
        os.mkdir(private, 0o755)
    tmp = f"{private}/.{name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, 0o644)
    finally:
        os.close(fd)
    os.rename(tmp, f"{private}/{name}")


def clear(service: svstatus.Service) -> None:
    """Forget why it was down: the operator's stop, a give-up, a last run, a restart delay."""
    for name in ("operator", "failed", "done", "restart"):
        if os.path.exists(f"{service.path}/{wrappers.PRIVATE}/{name}"):
            record(service, name, "")


# -- asking s6 --------------------------------------------------------------------


def _file_ms(service: svstatus.Service, name: str, default: int) -> int:
    text = svstatus._line(f"{service.path}/{name}")
    return int(text) if text.isdigit() else default


def stop_bound(service: svstatus.Service) -> int:
    """s6-supervise kills at timeout-kill; then the finish, bounded by timeout-finish."""
    finish = _file_ms(service, "timeout-finish", DEFAULT_FINISH_MS) or DEFAULT_FINISH_MS
    return _file_ms(service, "timeout-kill", 0) + finish + MARGIN_MS


def start_bound() -> int:
    try:
        return config.load(paths.CONFIG).cmd_wait_for_services_maxtime or 0
    except (OSError, IgnityError):
        return DEFAULT_START_MS


def svc(flags: list[str], service: svstatus.Service) -> int:
    code, out = svstatus.run_all([[svstatus._find("s6-svc"), *flags, service.path]])[0]
    if code not in (0, 1, 102, S6_TIMEOUT):
        raise IgnityError(f"s6-svc {' '.join(flags)} {service.path} failed: {out.strip() or f'status {code}'}", CANNOT)
    return code


def bring_down(service: svstatus.Service, bound_ms: int) -> None:
    code = svc(["-wD", "-T", str(bound_ms), "-d"], service)
    if code == S6_TIMEOUT:
        raise IgnityError(f"{service.name}: not down within {bound_ms} ms", NOT_DONE)


def bring_up(service: svstatus.Service, bound_ms: int) -> None:
    """Start it (removing a `down` file: it is wanted up now) and wait until up, or ready where it notifies."""
    # Its run waiting out a restart delay shows as up to s6, where -u changes nothing:
    # -r ends the wait (not counted as a death) and the program starts at once.
    waiting = service.s6_state == svstatus.UP and service.state == svstatus.RESTARTING
    clear(service)
    try:
        os.unlink(f"{service.path}/down")
    except FileNotFoundError:
        pass
    what = "ready" if service.notifies else "up"
    until = ("R" if service.notifies else "r") if waiting else ("U" if service.notifies else "u")
    code = svc([f"-w{until}", "-T", str(bound_ms), "-ru" if waiting else "-u"], service)
    if code == S6_TIMEOUT:
        raise IgnityError(f"{service.name}: not {what} within {bound_ms} ms (it is still starting)", NOT_DONE)
    if code != 0:
        service.read_records()
        why = f"given up: {service.failed_reason}" if service.failed_reason else f"s6-svc exited {code}"
        raise IgnityError(f"{service.name}: not {what} ({why})", NOT_DONE)


def run_job(service: svstatus.Service, wait: bool, timeout: int | None) -> int:
    """`ignity start` on a job (a `schedule` file): run it once now, as its concurrency allows.

    Without `wait`: 0 once asked. With it: the run's exit status, waited for
    without a bound unless `--timeout` gives one. Errors are
    one line from jobs.run_now, and its status (75 a run is going, 100, 111).
    """
    from ignity import jobs

    return jobs.run_now(service.name, wait, os.path.dirname(service.path), timeout or 0)


# -- the commands -------------------------------------------------------------------


def _say(text: str) -> None:
    """What was done, one line per service, on stdout (errors go to stderr)."""
    print(text, flush=True)


def start(names: list[str], timeout: int | None, wait: bool = False) -> int:
    """`wait`: for a job, return once its run is over, with its exit status."""
    worst = 0
    chosen, by_name = services(names)
    bound = start_bound() if timeout is None else timeout
    for service in dependencies_first(chosen, by_name):
        if service.job is not None:
            if service in chosen:
                code = run_job(service, wait, timeout)
                if code and not wait:
                    return code
                _say(f"{service.name}: job run, exit {code}" if wait else f"{service.name}: job asked to run now")
                worst = max(worst, code)
            continue
        if service.in_order and service.s6_state == svstatus.UP:
            if service in chosen:
                _say(f"{service.name}: already {'ready' if service.notifies else 'up'}")
            continue
        bring_up(service, bound)
        _say(
            f"{service.name}: {'ready' if service.notifies else 'up'}"
            + ("" if service in chosen else " (a dependency)")
        )
    return worst or DONE


def stop(names: list[str], timeout: int | None, with_dependents: bool) -> int:
    chosen, by_name = services(names)
    order = dependents_first(chosen, by_name)
    extra = [s.name for s in order if s not in chosen and (s.s6_state == svstatus.UP or s.wanted_up)]
    if extra and not with_dependents:
        what = ", ".join(extra)
        raise IgnityError(f"{', '.join(s.name for s in chosen)} is needed by {what}, which run: nothing changed "
                          "(stop them first, or add --with-dependents)", NOT_DONE)  # fmt: skip
    for service in order:
        if service not in chosen and service.name not in extra:
            continue
        record(service, "operator", f"{svstatus.OPERATOR_STOPPED}\n")
        bring_down(service, stop_bound(service) if timeout is None else timeout)
        _say(f"{service.name}: down (stopped by operator)")
    return DONE


def restart(names: list[str], timeout: int | None) -> int:
    """Down every named service, then up each (dependencies first); never one left down.

    A service not up in time does not stop the others: each is started and the
    one line names the ones not up. An interrupt (Ctrl-C, SIGTERM, SIGHUP) asks
    s6 to start every service brought down and not yet started, then ends.
    """
    chosen, by_name = services(names)
    for service in chosen:
        if service.job is not None:
            raise IgnityError(f"{service.name} is a job: use ignity start to run it now", USAGE)
    up_bound = start_bound() if timeout is None else timeout
    pending: list[svstatus.Service] = []  # brought down (or being), not yet started again
    failed: list[str] = []
    try:
        for service in [s for s in chosen if s.s6_state != svstatus.DOWN or s.wanted_up]:
            pending.append(service)
            bring_down(service, stop_bound(service) if timeout is None else timeout)
        for service in dependencies_first(chosen, by_name):
            if service not in chosen and service.in_order and service.s6_state == svstatus.UP:
                continue
            try:
                bring_up(service, up_bound)
            except IgnityError as e:
                failed.append(str(e))
            else:
                _say(f"{service.name}: restarted, {'ready' if service.notifies else 'up'}")
            if service in pending:
                pending.remove(service)
    except (KeyboardInterrupt, IgnityError):
        _start_anyway(pending)
        raise
    if failed:
        others = "the others restarted" if len(failed) < len(chosen) else "asked to start"
        raise IgnityError("; ".join(failed) + f" ({others})", NOT_DONE)
    return DONE


def _start_anyway(services_down: list[svstatus.Service]) -> None:
    """After an interrupt or a failed stop: ask s6 to start what restart brought down, without waiting."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        for service in services_down:
            clear(service)
            try:
                os.unlink(f"{service.path}/down")
            except FileNotFoundError:
                pass
            svc(["-u"], service)
            try:
                log.error(PHASE, f"{service.name}: restart cut short: asked to start again, not waited for")
            except OSError:  # the terminal gone (SIGHUP): the start matters, not the line
                pass
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def send(sig: str, names: list[str]) -> int:
    flag = SIGNALS.get(sig.upper().removeprefix("SIG"))
    if flag is None:
        raise IgnityError(f"{sig!r} is not a signal s6 can send (one of {', '.join(SIGNALS)})", USAGE)
    chosen, _ = services(names)
    down = [s.name for s in chosen if s.s6_state != svstatus.UP]
    if down:
        raise IgnityError(f"{', '.join(down)}: not running: no signal sent", NOT_DONE)
    for service in chosen:
        svc([flag], service)
        _say(f"{service.name}: sent SIG{sig.upper().removeprefix('SIG')} to pid {service.pid}")
    return DONE


def _milliseconds(text: str) -> int:
    if not text.isdigit():
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds")
    return int(text)


def parser(command: str) -> argparse.ArgumentParser:
    import argparse

    what = {
        "start": "Start services (and what they depend on); return once up, or ready where they notify. "
        "A job (a schedule file) runs once now.",
        "stop": "Stop services; return once down. They stay down, shown as stopped by operator, until ignity start.",
        "restart": "Stop, then start services; return once up again (ready where they notify).",
        "signal": "Send a signal to running services (e.g. ignity signal HUP nginx).",
    }[command]
    from ignity.cli import epilog

    p = argparse.ArgumentParser(prog=f"ignity {command}", description=what, epilog=epilog(command))
    if command == "signal":
        p.add_argument("signal", metavar="SIG", help=", ".join(SIGNALS))
    p.add_argument("names", nargs="+", metavar="NAME")
    if command != "signal":
        p.add_argument(
            "--timeout",
            type=_milliseconds,
            metavar="MS",
            help="bound the wait (default: the grace time, or IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME)",
        )
    if command == "start":
        p.add_argument("--wait", action="store_true", help="a job: return once its run is over, with its exit status")
    if command == "stop":
        p.add_argument("--with-dependents", action="store_true", help="also stop what depends on them, first")
    return p


def main(command: str, argv: list[str]) -> int:
    try:
        args = parser(command).parse_args(argv)
    except SystemExit as e:
        return 0 if e.code in (0, None) else USAGE
    signal.signal(signal.SIGTERM, svstatus._interrupted)  # as Ctrl-C: no s6-svc left waiting
    signal.signal(signal.SIGHUP, svstatus._interrupted)  # kubectl exec's connection closing, too
    try:
        become_owner()
        must_be_running()
        if command == "start":
            return start(args.names, args.timeout, args.wait)
        if command == "stop":
            return stop(args.names, args.timeout, args.with_dependents)
        if command == "restart":
            return restart(args.names, args.timeout)
        return send(args.signal, args.names)
    except IgnityError as e:
        log.error(PHASE, str(e))
        return e.status
    except OSError as e:
        log.error(PHASE, f"{e.filename}: {e.strerror}" if e.filename else str(e))
        return CANNOT
    except KeyboardInterrupt as e:
        return 128 + (e.args[0] if e.args else signal.SIGINT)
    finally:
        sys.stdout.flush()
