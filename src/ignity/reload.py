"""`ignity reload`: apply the changes made to /etc/ignity/services since the boot, in place.

All or nothing up to the first irreversible step:

1. Only root or the uid Ignity runs as (the owner of /run/ignity/state); root
   acts as that uid when Ignity runs as another. One reload at a time (a
   flock on state/reload.lock); none before the boot's start-up is over
   (services.LAID_OUT, which stage 2 makes last) or once the container stops.
2. The boot's checks (`ignity check`'s rules over the live tree: service
   directories, output modes, dependencies, cycles), and the boot's rule that
   no started service depends on one with a `down` file: any error is one line
   each, exit 1, nothing changed.
3. What changed: a service of /etc/ignity/services is compared with the copy
   the boot (or the last reload) made of it (services.LAID_OUT): every file,
   link and mode. Added and changed ones are copied and laid out with the
   boot's own functions (outputs.setup, services.lay_out: every wrapper) under
   `.new-NAME` in /run/ignity/services (dot names are nobody's service).
4. Irreversible, each step after a look at the stop latch (as stage 2 does):
   the removed and changed services are stopped, dependents first (s6-svc -wD
   -d, bounded by s6's own timeout-kill); each is moved aside to `.old-NAME`
   and its replacement renamed in; one scan (`s6-svscanctl -an`, under a
   listener subscribed before it) starts the new supervisors and ends the old
   ones (their 'x'); the new services start in dependency order as at the
   boot, unchanged ones counting as up. Unchanged services are not touched.

A stop of the container during a reload wins: the reload sees the latch
before its next step and ends (exit 1, saying how far it got); what is in
/run/ignity/services then is what stage 3 stops. Nothing is linked into the
scan directory that is not laid out in full under its name. An interrupt
(SIGINT, SIGTERM, SIGHUP: Ctrl-C, a `kubectl exec` that ends) leaves no service
down: while the old copies stop, those stopped are asked up again (nothing
changed); from the swap on it is deferred until the reload is done.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from ignity import config, deps, outputs, paths, procs, runtime, services, signals, status, tools
from ignity.errors import IgnityError

LOCK = f"{paths.STATE}/reload.lock"
NEW, OLD = ".new-", ".old-"
REFUSED, NOT_RUNNING = 1, 111


class Interrupted(BaseException):
    """SIGTERM, SIGINT or SIGHUP (a stop of the container sends SIGTERM to every process left)."""


class Stopping(Exception):
    """The container's stop latch was seen: the reload ends where it is."""


def say(line: str) -> None:
    sys.stderr.write(f"ignity reload: {line}\n")
    sys.stderr.flush()


def main() -> int:
    try:
        owner = os.stat(paths.STATE).st_uid
    except OSError:
        say(f"not inside a running Ignity container ({paths.STATE} is missing or unreadable)")
        return NOT_RUNNING
    uid = os.geteuid()
    if uid not in (0, owner):
        say(f"uid {uid} may not reload: only root and uid {owner} (the uid Ignity runs as) may; nothing changed")
        return REFUSED
    if uid == 0 and owner != 0:
        # What Ignity's uid runs must stay that uid's to change: act as it.
        gid = os.stat(paths.STATE).st_gid
        os.setgroups([])
        os.setgid(gid)
        os.setuid(owner)
    try:
        lock = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        say(f"{LOCK}: {e.strerror}: nothing changed")
        return REFUSED
    import fcntl
    import signal

    def _interrupted(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _interrupted)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second reload waits for the first, then finds nothing to do
        return _locked()
    except Interrupted as e:
        why = "the container is stopping" if status.stopping() else f"interrupted by signal {e.args[0]}"
        say(f"{why}: " + (e.args[1] if len(e.args) > 1 else "reload abandoned where it was (see ignity status)"))
        return 128 + int(e.args[0])
    finally:
        os.close(lock)


def _locked() -> int:
    if status.stopping():
        say("the container is stopping: nothing changed")
        return REFUSED
    if not os.path.isdir(services.LAID_OUT):
        say("the container is still starting (or was started by an older Ignity): nothing changed")
        return REFUSED
    problems = check_all()
    if problems:
        for line in problems:
            say(line)
        say(f"{len(problems)} error(s): nothing changed")
        return REFUSED
    cfg = config.load(paths.CONFIG)
    added, removed, changed = differences(f"{paths.ETC}/services", services.LAID_OUT, _strip())
    if not (added or removed or changed):
        print("nothing changed since the boot (or the last reload)")
        return 0
    done: list[str] = []
    try:
        new = stage(added + changed, cfg)
    except (IgnityError, OSError) as e:
        _drop_staged()
        say(f"{_text(e)}: nothing changed")
        return REFUSED
    try:
        deferred = apply(added, removed, changed, new, cfg, done)
    except Stopping:
        say("the container is stopping: reload abandoned" + (f" after: {'; '.join(done)}" if done else ""))
        return REFUSED
    except (IgnityError, OSError) as e:
        if status.stopping():
            say("the container is stopping: reload abandoned" + (f" after: {'; '.join(done)}" if done else ""))
        else:
            say(f"{_text(e)}" + (f" (done: {'; '.join(done)})" if done else ""))
        return REFUSED
    print(summary(added, removed, changed), flush=True)
    if deferred:
        say(f"interrupted by signal {deferred}: the reload was finished first")
        return 128 + deferred
    return 0


def _text(e: Exception) -> str:
    if isinstance(e, OSError):
        return f"{e.filename}: {e.strerror}" if e.filename else str(e.strerror or e)
    return str(e)


def _strip() -> int:
    return 0o022 if os.geteuid() == 0 else 0


def summary(added: list[str], removed: list[str], changed: list[str]) -> str:
    parts = []
    for word, names in (("added", added), ("removed", removed), ("restarted", changed)):
        if names:
            parts.append(f"{word} {', '.join(names)}")
    return "; ".join(parts)


def check_all() -> list[str]:
    """The boot's checks of /etc/ignity (errors only), and its rule on `down` dependencies."""
    from ignity import check

    problems = [str(p) for p in check.run("", {}) if p.severity == check.ERROR]
    if problems:
        return problems
    directory = f"{paths.ETC}/services"
    graph = deps.read(directory)
    for name, needs in sorted(graph.items()):
        down = os.path.exists(f"{directory}/{name}/down")
        for dep in needs:
            if not down and os.path.exists(f"{directory}/{dep}/down"):
                problems.append(
                    f"service {name} depends on {dep}, which has a down file and is never started "
                    f"(remove {directory}/{dep}/down, or the dependency)"
                )
    return problems


# --- what changed ---------------------------------------------------------------


def names_in(directory: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(directory) if not n.startswith(".") and os.path.isdir(f"{directory}/{n}"))
    except FileNotFoundError:
        return []


def differences(etc: str, kept: str, strip: int) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, changed) service names of `etc` against the copies in `kept`."""
    now, before = names_in(etc), names_in(kept)
    added = [n for n in now if n not in before]
    removed = [n for n in before if n not in now]
    changed = [n for n in now if n in before and not same(f"{etc}/{n}", f"{kept}/{n}", strip, follow=True)]
    return added, removed, changed


def same(a: str, b: str, strip: int, follow: bool = False) -> bool:
    """Whether the tree `a` (the image's) is what runtime.copy made of it at `b`."""
    try:
        sa = os.stat(a) if follow else os.lstat(a)
        sb = os.lstat(b)
    except OSError:
        return False
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return False
    if stat.S_ISLNK(sa.st_mode):
        return os.readlink(a) == os.readlink(b)
    if stat.S_IMODE(sa.st_mode) & ~strip != stat.S_IMODE(sb.st_mode):
        return False
    if stat.S_ISDIR(sa.st_mode):
        names = sorted(os.listdir(a))
        if names != sorted(os.listdir(b)):
            # runtime.copy skips fifos, devices and sockets (ignity check refuses them)
            return False
        return all(same(f"{a}/{n}", f"{b}/{n}", strip) for n in names)
    if stat.S_ISREG(sa.st_mode):
        return sa.st_size == sb.st_size and _content(a) == _content(b)
    return True


def _content(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        parts = []
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


# --- laying out, then applying ---------------------------------------------------------


def _drop_staged() -> None:
    run = os.open(paths.SERVICES, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in os.listdir(run):
            if name.startswith((NEW, OLD)):
                runtime.remove_tree(run, name)
    finally:
        os.close(run)


def stage(names: list[str], cfg: config.Config) -> list[services.Service]:
    """Copy and lay out each service of `names` at /run/ignity/services/.new-NAME, as the boot does."""
    _drop_staged()  # what an abandoned reload left
    strip = _strip()
    for name in names:
        runtime.copy(f"{paths.ETC}/services/{name}", f"{paths.SERVICES}/{NEW}{name}", strip=strip)
    staged = [_service(name, f"{paths.SERVICES}/{NEW}{name}") for name in names]
    everyone = [_service(n, f"{paths.ETC}/services/{n}") for n in names_in(f"{paths.ETC}/services")]
    outputs.setup(staged, cfg.services_output, cfg.services_log_bytes, width_of=everyone)
    graph = deps.read(f"{paths.ETC}/services")
    for service in staged:
        service.deps = graph.get(service.name, [])
        services.lay_out(service, cfg.services_gracetime, True, not service.down, cfg)
    return staged


def _service(name: str, path: str) -> services.Service:
    return services.Service(name, path, os.path.exists(f"{path}/down"), os.path.exists(f"{path}/notification-fd"))


def _latch() -> None:
    if status.stopping():
        raise Stopping


def stop_order(names: set[str], graph: dict[str, list[str]]) -> list[str]:
    """`names` with every dependent before what it depends on (the boot's waves, reversed)."""
    waves = deps.levels({n: [d for d in graph.get(n, []) if d in names] for n in names})
    return [n for wave in reversed(waves) for n in wave]


def apply(
    added: list[str],
    removed: list[str],
    changed: list[str],
    new: list[services.Service],
    cfg: config.Config,
    done: list[str],
) -> int:
    """The irreversible steps; the signal deferred while they ran (0: none).

    An interrupt (SIGINT, SIGTERM, SIGHUP) while the old copies stop undoes
    the stops (each asked up again, the staged copies dropped: nothing
    changed); from the swap on it is deferred until the reload is done. A stop
    of the container wins in both (the latch, and a signal while it is set).
    """
    old_graph = deps.read(services.LAID_OUT)
    svc = tools.find("s6-svc")
    bound = str(max(1000, cfg.services_gracetime + 5000))
    stopped: list[str] = []
    try:
        for name in stop_order(set(removed) | set(changed), old_graph):
            _latch()
            path = f"{paths.SERVICES}/{name}"
            if _wanted_up(path):
                stopped.append(name)
            code = procs.run([svc, "-wD", "-T", bound, "-d", path], stderr_to_null=True)
            if code not in (0, 1):  # 1: it had failed for good, and is down
                raise IgnityError(f"{name} did not stop within {bound} ms (s6-svc exited {code})")
            done.append(f"stopped {name}")
        _latch()
    except Interrupted as e:
        if status.stopping():
            raise
        _undo_stops(stopped)
        again = f" ({', '.join(stopped)} asked up again, as they were)" if stopped else ""
        raise Interrupted(e.args[0], "nothing changed" + again) from None
    with _Deferred() as deferred:
        _swap_and_start(added, removed, changed, new, cfg)
    return deferred.signum


def _wanted_up(path: str) -> bool:
    """s6 wants the service at `path` up (so an undone stop starts it again)."""
    from ignity import svstatus

    code, out = svstatus.run_all([[tools.find("s6-svstat"), "-o", "wantedup", path]])[0]
    return code == 0 and out.strip() == "true"


class _Deferred:
    """SIGINT, SIGTERM, SIGHUP noted, not raised, while the block runs; raised at once if the container stops."""

    SIGNALS = (signals.SIGINT, signals.SIGTERM, signals.SIGHUP)

    def __init__(self) -> None:
        self.signum = 0
        self.before: list[object] = []

    def note(self, signum: int, frame: object) -> None:
        if status.stopping():
            raise Interrupted(signum)
        self.signum = self.signum or signum

    def __enter__(self) -> _Deferred:
        self.before = [signals.signal(s, self.note) for s in self.SIGNALS]
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in zip(self.SIGNALS, self.before):
            signals.signal(s, handler)  # type: ignore[arg-type]


def _undo_stops(names: list[str]) -> None:
    """Ask each service a reload stopped to start again (its old copy, still in place), signals blocked."""
    mask = signals.pthread_sigmask(signals.SIG_BLOCK, set(_Deferred.SIGNALS))
    try:
        svc = tools.find("s6-svc")
        for name in names:
            procs.run([svc, "-u", f"{paths.SERVICES}/{name}"], stderr_to_null=True)
        _drop_staged()
    finally:
        signals.pthread_sigmask(signals.SIG_SETMASK, mask)


def _swap_and_start(
    added: list[str], removed: list[str], changed: list[str], new: list[services.Service], cfg: config.Config
) -> None:
    gone: list[str] = []
    for name in removed:
        try:
            os.unlink(f"{paths.SCANDIR}/{name}")
        except FileNotFoundError:
            pass
    for name in removed + changed:
        os.rename(f"{paths.SERVICES}/{name}", f"{paths.SERVICES}/{OLD}{name}")
        gone += _events(f"{paths.SERVICES}/{OLD}{name}")
    for service in new:
        final = f"{paths.SERVICES}/{service.name}"
        os.rename(service.path, final)
        service.path = final
    runtime.seal_supervision()
    _remember(added, removed, changed)
    _latch()
    running = frozenset(names_in(paths.SERVICES)) - {s.name for s in new}
    linked = [s.path for s in new if s.name in added]
    services.start_reloaded(new, running, linked, tuple(gone), cfg.cmd_wait_for_services_maxtime or 5000)
    for name in removed + changed:
        outputs.end_stderr_reader(f"{paths.SERVICES}/{OLD}{name}/log")
    _drop_staged()


def _events(path: str) -> list[str]:
    """The event fifodirs of the supervisors of the service at `path` (and its logger's)."""
    return [f"{d}/event" for d in (path, f"{path}/log") if os.path.isdir(f"{d}/supervise")]


def _remember(added: list[str], removed: list[str], changed: list[str]) -> None:
    """The copies the next reload compares with: the image's version of each service now laid out."""
    kept = os.open(services.LAID_OUT, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in removed + changed:
            runtime.remove_tree(kept, name)
    finally:
        os.close(kept)
    strip = _strip()
    for name in added + changed:
        try:
            runtime.copy(f"{paths.ETC}/services/{name}", f"{services.LAID_OUT}/{name}", strip=strip)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
