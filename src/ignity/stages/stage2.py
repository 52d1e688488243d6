"""Stage 2: start-up, in a child of PID 1 with the container's stdin/stdout/stderr.

Copies the author's directories, writes the merged environment, runs the init
scripts, hands the services to s6-svscan, then execs into a small execline
chain that runs the CMD: no Python stays resident once the CMD runs.
Any failure records a status and asks s6-svscan to enter stage 3.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from ignity import envdir, log, paths, procs, runtime, services, status, tools
from ignity.config import Config
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

PHASE = "stage2"


def main(ready_fd: int, cmd: list[str], merged: dict[bytes, bytes], config: Config, owner: tuple[int, int]) -> NoReturn:
    procs.reset_signals()
    try:
        _wait_for_svscan(ready_fd)
        _copy_dirs()
        if os.path.exists(paths.STOP_REQUESTED):
            _stop(None)
        mapped = owner != (0, 0) and os.geteuid() == 0
        skipped = envdir.write(merged, owner=owner if mapped else None)
        for name in skipped:
            log.info(PHASE, f"variable {name!r} cannot be stored in {paths.ENVS} and is not passed to with-env")
        failed = _run_init_scripts()
        if failed is not None:
            _stop(failed)
        found = services.discover()
        wait = config.cmd_wait_for_services_maxtime if (cmd and config.cmd_wait_for_services) else None
        started = time.monotonic()
        services.start(found, config.services_gracetime, wait, config.cmd_wait_for_services_maxtime)
        log.debug(PHASE, f"{len(found)} service(s) started in {_ms(started)} ms")
        if cmd:
            _exec_cmd(cmd, merged)
    except IgnityError as e:
        if _stopping():  # stage 3 took over while we were starting: nothing failed
            os._exit(0)
        log.error(PHASE, str(e))
        _stop(e.status)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        log.error(PHASE, f"{where}{e.strerror or e}")
        if e.errno == errno.ENOSPC:
            # Make room for the exit status: the environment is not needed any more.
            import shutil

            shutil.rmtree(paths.ENVS, ignore_errors=True)
        _stop(1)
    except Exception as e:  # a bug of ours: still one line, and the container still stops
        log.error(PHASE, f"internal error, please report: {e!r}")
        _stop(1)
    os._exit(0)


def _ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)


def _wait_for_svscan(ready_fd: int) -> None:
    """Block until s6-svscan writes its readiness newline (EOF: it died)."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(ready_fd, 64)
        if not chunk:
            raise IgnityError("s6-svscan exited before it was ready")
        data += chunk
    os.close(ready_fd)


def _copy_dirs() -> None:
    for name in paths.COPIED:
        source, target = f"{paths.ETC}/{name}", f"{paths.RUN}/{name}"
        if not os.path.isdir(source):
            continue
        for entry in sorted(os.listdir(source)):
            if entry.startswith("."):
                continue
            runtime.copy(f"{source}/{entry}", f"{target}/{entry}")


def _run_init_scripts() -> int | None:
    """Run each init script in name order; the status of the first that fails."""
    directory = paths.INIT
    for name in sorted(os.listdir(directory)):
        if name.startswith("."):
            continue
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
            log.error(PHASE, f"{paths.ETC}/init/{name} exited {code}: start-up stopped")
            return code
    return None


def _stopping() -> bool:
    """Whether stage 3 has begun or is about to: marked, or s6-svscan already gone from PID 1."""
    if os.path.exists(paths.STOPPING):
        return True
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip() != "s6-svscan"
    except OSError:
        return False


def _stop(code: int | None) -> NoReturn:
    """Record a failed start-up and have s6-svscan run stage 3 at once.

    When stage 3 is already running (a SIGTERM during start-up), a script it
    killed has not failed: nothing is recorded.
    """
    if _stopping():
        os._exit(0)
    if code is not None:
        try:
            status.record(paths.INIT_STATUS, code)
        except OSError as e:
            log.error(PHASE, f"cannot record the exit status {code}: {e.strerror}")
    try:
        svscanctl = tools.find("s6-svscanctl")
        os.execv(svscanctl, [svscanctl, "-b", paths.SCANDIR])
    except (OSError, IgnityError) as e:
        log.error(PHASE, f"cannot stop the container: {e}")
    os._exit(code or 0)


# The waiter ignores, by blocking them, the signals a terminal or stage 3 sends to
# the CMD's process group, which it shares: it must live to record the status.
# Blocked signals are not ignored ones: `foreground` starts the CMD with a clean mask.
WAITER_BLOCKED = {
    signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGHUP, signal.SIGTERM,
}  # fmt: skip


def waiter_argv(cmd: list[str]) -> list[str]:
    """The execline chain that runs the CMD, records its exact status, and enters stage 3.

    foreground { CMD } importas -u ? ? redirfd -w 1 STATE/cmd-status.$?
    redirfd -w 2 /dev/null s6-svscanctl -b SCANDIR

    The status is the name of a file the chain creates on its way to
    s6-svscanctl: no process is started to write it. Written as a raw argv
    (block words prefixed with a space, ended by an empty word), so the CMD's
    words reach it exactly, whatever they contain. This chain is what stays of
    stage 2 while the CMD runs: a few KiB of execline.
    """
    redirfd = tools.find("redirfd")
    return [
        tools.find("foreground"), *(" " + word for word in cmd), "",
        tools.find("importas"), "-u", "?", "?",
        redirfd, "-w", "1", f"{status.CMD_PREFIX}${{?}}",
        # Quiet: when stage 3 is already running, s6-svscan is gone and this is a no-op.
        redirfd, "-w", "2", os.devnull,
        tools.find("s6-svscanctl"), "-b", paths.SCANDIR,
    ]  # fmt: skip


def _exec_cmd(cmd: list[str], merged: dict[bytes, bytes]) -> NoReturn:
    """Become the waiter, in a process group of its own that the CMD joins.

    With a terminal, that group becomes the terminal's foreground group (Ctrl-C
    reaches the CMD, a shell gets job control); without one, it is a new session.
    """
    argv = waiter_argv(cmd)
    log.debug(PHASE, f"running the CMD: {cmd}")
    procs.reset_signals()
    if os.isatty(0):
        os.setpgid(0, 0)
        # With SIGTTOU blocked, a background group may take the terminal.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
        os.tcsetpgrp(0, os.getpgrp())
    else:
        os.setsid()
    signal.pthread_sigmask(signal.SIG_SETMASK, WAITER_BLOCKED)
    os.execve(argv[0], argv, merged)
