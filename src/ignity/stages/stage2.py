"""Stage 2: start-up, in the boot process (stage 1's), with the container's stdin/stdout/stderr.

Copies the author's directories, writes the merged environment, runs the init
scripts, hands the services to s6-svscan, then execs into a small execline
chain that runs the CMD: no Python stays resident once the CMD runs.

Before each irreversible step (starting the services, exec'ing the CMD) it
checks the one latch (status.STOPPING): once the container is stopping,
nothing more starts. The CMD is announced (CMD_MARK) before that last check
and stage 3 reads the announcement after setting the latch, so at least one
of them sees the other: a CMD is either never started, or stopped by stage 3.
Any failure sets the latch with its status and asks s6-svscan for stage 3.
"""

from __future__ import annotations

import errno
import os
import time

from ignity import envdir, log, outputs, paths, phase, procs, runtime, services, status, tools
from ignity import signals as signal
from ignity.config import Config
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

PHASE = "stage2"


def main(cmd: list[str], merged: dict[bytes, bytes], config: Config, owner: tuple[int, int]) -> NoReturn:
    try:
        _copy_dirs()
        mapped = owner != (0, 0) and os.geteuid() == 0
        skipped = envdir.write(merged, group=owner[1] if mapped else None, unset=_inherited_file_variables())
        for name in skipped:
            log.info(PHASE, f"variable {name!r} cannot be stored in {paths.ENVS} and is not passed to with-env")
        failed = _run_init_scripts()
        if failed is not None:
            stop(f"init {failed}")
        found = services.discover()
        outputs.setup(found, config.services_output, config.services_log_bytes)
        runtime.seal_supervision()
        runtime.wait_for_svscan()
        if status.stopping():
            yield_to_stop()
        wait = config.cmd_wait_for_services_maxtime if (cmd and config.cmd_wait_for_services) else None
        started = time.monotonic()
        phase.starting(f"starting {len(found)} service(s)")
        services.start(found, config.services_gracetime, wait, config.cmd_wait_for_services_maxtime)
        services.booted()
        log.debug(PHASE, f"{len(found)} service(s) started in {_ms(started)} ms")
        _boot_complete()
        if cmd:
            _exec_cmd(cmd, merged, any(s.deps for s in found))
    except IgnityError as e:
        if status.stopping():  # the stop came while we were starting: nothing failed
            yield_to_stop()
        log.error(PHASE, str(e))
        stop(f"init {e.status}")
    except OSError as e:
        if status.stopping():
            yield_to_stop()
        where = f"{e.filename}: " if e.filename else ""
        log.error(PHASE, f"{where}{e.strerror or e}")
        if e.errno == errno.ENOSPC:
            # Make room for the latch: the environment is not needed any more.
            try:
                run = os.open(paths.RUN, os.O_RDONLY | os.O_DIRECTORY)
                runtime.remove_tree(run, os.path.basename(paths.ENVS))
            except OSError:
                pass
        stop("init 1")
    except Exception as e:  # a bug of ours: still one line, and the container still stops
        log.error(PHASE, f"internal error, please report: {e!r}")
        stop("init 1")
    os._exit(0)


def _inherited_file_variables() -> tuple[bytes, ...]:
    """FILE__* names of the environment services inherit (s6-svscan's, our parent's):
    with-env unsets them, so that only the content, as NAME, is passed on."""
    try:
        with open(f"/proc/{os.getppid()}/environ", "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return ()
    return tuple(i.partition(b"=")[0] for i in items if i.startswith(b"FILE__"))


def _ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)


def _copy_dirs() -> None:
    # Never group- or world-writable: another uid could rewrite what Ignity's uid runs (root or not).
    strip = 0o022
    for name in paths.COPIED:
        source, target = f"{paths.ETC}/{name}", f"{paths.RUN}/{name}"
        if not os.path.isdir(source):
            continue
        for entry in sorted(os.listdir(source)):
            if entry.startswith("."):
                continue
            runtime.copy(f"{source}/{entry}", f"{target}/{entry}", strip=strip)
            if name == "services":
                services.keep_copy(entry, strip)


def _boot_complete() -> None:
    """The boot is complete: every service linked, and its start launched (its
    dependencies met). A stop decided meanwhile wins: stage 3 may have written
    `stopping` just before this `running`, so the latch is looked at after."""
    phase.write(phase.RUNNING)
    if status.stopping():
        phase.write(phase.STOPPING)


def _run_init_scripts() -> int | None:
    """Run each init script in name order; the status of the first that fails."""
    directory = paths.INIT
    names = [n for n in sorted(os.listdir(directory)) if not n.startswith(".")]
    for number, name in enumerate(names, 1):
        phase.starting(f"init script {number} of {len(names)}: {name}")
        if status.stopping():
            yield_to_stop()
        path = f"{directory}/{name}"
        started = time.monotonic()
        log.debug(PHASE, f"init script {name}: starting")
        try:
            code = procs.run([path])
        except OSError as e:
            log.error(PHASE, f"{paths.ETC}/init/{name}: cannot run: {e.strerror}")
            return procs.exec_failure_status(e)
        log.debug(PHASE, f"init script {name}: exited {code} after {_ms(started)} ms")
        if code != 0:
            if status.stopping():  # killed by the stop, not failed
                yield_to_stop()
            log.error(PHASE, f"{paths.ETC}/init/{name} exited {code}: start-up stopped")
            return code
    return None


def stop(reason: str) -> NoReturn:
    """Set the latch with `reason` (unless a stop was decided already: the first
    reason wins) and have s6-svscan run stage 3 at once."""
    try:
        status.latch(reason)
    except OSError as e:
        log.error(PHASE, f"cannot record why the container stops ({reason}): {e.strerror}")
    yield_to_stop()


def yield_to_stop() -> NoReturn:
    """The container is stopping: nothing more starts; make sure stage 3 runs.

    Whoever set the latch may not have reached s6-svscan (stage 0 records a
    stop caught before s6-svscan ran): the stop command once more is harmless,
    since once stage 3 runs no one reads the control fifo, and stage 3 ends
    this process, even while it waits here for s6-svscan.
    """
    runtime.close_cmd_gate()
    try:
        runtime.wait_for_svscan()
        argv = runtime.stop_argv()
        os.execv(argv[0], argv)
    except (OSError, IgnityError) as e:
        log.error(PHASE, f"cannot stop the container: {e}")
    os._exit(1)


# The waiter ignores, by blocking them, the signals a terminal, stage 3 or a
# forwarded signal sends to the CMD's process group, which it shares: it must
# live to record the status. Blocked signals are not ignored ones: `foreground`
# starts the CMD with a clean mask.
WAITER_BLOCKED = {
    signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGHUP, signal.SIGTERM,
    signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH,
}  # fmt: skip


def waiter_argv(cmd: list[str], ordered: bool | None = None) -> list[str]:
    """The execline chain that runs the CMD, records its exact status, and enters stage 3.

    foreground { redirfd -w 9 CMD_STARTED fdclose 9 tryexec -a exit { CMD_GATE } CMD }
    importas -u ? ? redirfd -w 2 STATE/cmd-status.$? s6-svscanctl -tb|-b SCANDIR

    The CMD's own process starts with every signal unblocked (foreground spawns
    it so) and says so first (status.CMD_STARTED): a signal sent to the group
    before that would be pending on the waiter alone, which blocks them, and be
    lost; so the signal handler forwards a signal, or leaves a stop to the CMD
    (IGNITY_CMD_RECEIVE_SIGNALS), only once that file exists.
    The CMD's own process looks once more, after it exists, for a stop: every
    latch-taker makes CMD_GATE (a link to `exit`) once it has the latch, so a CMD
    process forked after that execs `exit` (status 0: it never ran) instead,
    and one forked before it gets the stop through its process group. A
    failed exec is all tryexec costs when there is no gate: no fork, no test.
    (`-a exit`: a multicall execline finds its `exit` by argv[0].)
    The status is the name of a file the chain creates on its way to
    s6-svscanctl, as its stderr (quiet when stage 3 already runs and
    s6-svscan is gone): no process is started to write it. Written as a raw
    argv (block words prefixed with a space, ended by an empty word), so the
    CMD's words reach it exactly, whatever they contain.
    """
    return [
        tools.find("foreground"),
        " " + tools.find("redirfd"), " -w", " 9", " " + status.CMD_STARTED, " " + tools.find("fdclose"), " 9",
        " " + tools.find("tryexec"), " -a", " exit", "  " + paths.CMD_GATE, " ",
        *(" " + word for word in cmd), "",
        tools.find("importas"), "-u", "?", "?",
        tools.find("redirfd"), "-w", "2", f"{status.CMD_PREFIX}${{?}}",
        *runtime.stop_argv(ordered),
    ]  # fmt: skip


def _exec_cmd(cmd: list[str], merged: dict[bytes, bytes], ordered: bool) -> NoReturn:
    """Announce the CMD, check the latch a last time, become its waiter.

    The boot process already leads its own process group (the terminal's
    foreground group when there is one); the CMD joins it.
    """
    argv = waiter_argv(cmd, ordered)
    log.debug(PHASE, f"running the CMD: {cmd}")
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITER_BLOCKED)
    fd = os.open(paths.CMD_MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    if status.stopping():  # the CMD never ran: take the announcement back
        os.unlink(paths.CMD_MARK)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        yield_to_stop()
    procs.reset_dispositions()
    os.execve(argv[0], argv, merged)
