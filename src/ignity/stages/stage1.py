"""Stage 1: setup as PID 1, then become s6-svscan.

Everything that can be wrong with the input (env files, IGNITY_* values,
missing s6) is found here, before anything is started or written, so a bad
image fails with one line and leaves nothing half-done. Stage 2 is forked from
this interpreter rather than started anew: one Python start for the whole boot.
"""

from __future__ import annotations

import os
import signal
import sys

from ignity import check, config, envfile, log, paths, prepare, runtime, secrets, tools, usermap
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

PHASE = "stage1"

# Blocked (not ignored) until s6-svscan runs, so that they are not lost: a
# namespace's PID 1 drops signals it has no handler for. s6-svscan does not act
# on a signal already pending when it starts, so a stop asked for during setup
# is handed to stage 2 as a file (STOP_REQUESTED), which stops at once.
HELD_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2}
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}

READY_FD = 3


def _max_services() -> int:
    try:
        count = len(os.listdir(f"{paths.ETC}/services"))
    except OSError:
        count = 0
    return max(500, 2 * count + 100)


def main() -> NoReturn:
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    cmd = sys.argv[1:]
    try:
        merged, settings, account = _setup()
    except IgnityError as e:
        log.die(PHASE, str(e), e.status)
    except Exception as e:  # a bug of ours: one line all the same, and nothing started
        log.die(PHASE, f"internal error, please report: {e!r}")
    log.debug(PHASE, f"starting s6-svscan; CMD: {cmd if cmd else 'none'}")
    _become_svscan(cmd, merged, settings, account)


def _setup() -> tuple[dict[bytes, bytes], config.Config, usermap.Account]:
    """Read and check everything, map the user, fix permissions, lay out /run/ignity."""
    merged = envfile.merge(envfile.env_files(f"{paths.ETC}/envs"), dict(os.environb))
    merged = secrets.resolve(merged)
    secrets.unexport(os.environ)
    env = envfile.own_variables(merged)
    settings = config.from_env(env)
    log.set_verbosity(settings.verbosity)
    account = usermap.from_env(env)
    log.debug(PHASE, "environment and settings read")
    check.at_boot(os.environ, skip_perms=bool(settings.skip_perms))
    log.debug(PHASE, f"{paths.ETC} checked")
    tools.check_all()
    log.debug(PHASE, "s6 and execline found")
    if not settings.skip_perms:
        prepare.run(env)
    runtime.recreate(settings, account.uid, account.gid)
    log.debug(PHASE, f"{paths.RUN} laid out")
    return merged, settings, account


def _become_svscan(
    cmd: list[str], merged: dict[bytes, bytes], settings: config.Config, account: usermap.Account
) -> NoReturn:
    """Fork stage 2, then exec s6-svscan, which tells stage 2 on READY_FD when it takes commands."""
    svscan = tools.find("s6-svscan")
    argv = ["s6-svscan", "-d", str(READY_FD), "-c", str(_max_services()), paths.SCANDIR]
    try:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
    except OSError as e:
        log.die(PHASE, f"cannot start stage 2: {e.strerror}")
    if pid == 0:
        os.close(ready_w)
        from ignity.stages import stage2

        stage2.main(ready_r, cmd, merged, settings, (account.uid, account.gid))
    os.close(ready_r)
    if ready_w != READY_FD:
        os.dup2(ready_w, READY_FD)
        os.close(ready_w)
    else:
        os.set_inheritable(READY_FD, True)
    try:
        with open(paths.STAGE2_PID, "w") as f:
            f.write(f"{pid}\n")
    except OSError as e:
        log.error(PHASE, f"{e.filename}: {e.strerror}")  # stage 2 finds the same trouble and stops
    # Python ignores these; an ignored disposition would pass on to every service.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    # The last thing before exec: a stop asked for until now is handed to stage 2.
    # (One arriving in the microseconds before s6-svscan sets up its handlers is lost.)
    if signal.sigpending() & STOP_SIGNALS:
        try:
            open(paths.STOP_REQUESTED, "w").close()
        except OSError:
            pass
        log.info(PHASE, "stop requested during setup: stopping as soon as s6-svscan runs")
    try:
        os.execv(svscan, argv)
    except OSError as e:
        log.die(PHASE, f"cannot run {svscan}: {e.strerror}")
