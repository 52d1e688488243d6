"""Stage 1: setup, in the boot process, a child of s6-svscan (PID 1 since stage 0).

Everything that can be wrong with the input (env files, IGNITY_* values, the
/etc/ignity tree, missing s6) is found here, before anything is started or
written, so a bad image fails with one line and leaves nothing half-done.
Then the user mapping and perms, and /run/ignity made root's. Stage 2 follows
in the same process: one Python start for the whole boot.

A stop signal goes to PID 1, s6-svscan, whose handler marks the stop and
starts stage 3, which ends this process (SIGTERM, default disposition: it
dies quietly). So this process never handles a stop itself; it only checks
the latch before each irreversible step (stage 2).
"""

from __future__ import annotations

import os
import sys

from ignity import check, config, envfile, log, paths, prepare, runtime, status, tools, usermap
from ignity import signals as signal
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

PHASE = "stage1"

# What stage 0 tells the boot process (and is not passed on to anything).
STAGE0_VARIABLES = (b"IGNITY_STAGE0",)


def main() -> NoReturn:
    cmd = sys.argv[1:]
    mode = os.environ.get("IGNITY_STAGE0", "")
    _original_environment()
    for name in STAGE0_VARIABLES:
        os.environb.pop(name, None)
    # Python ignores these for itself; an ignored disposition would pass on to every child.
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    if mode == "alone":
        _alone()
    _own_group()
    if status.stopping():  # a stop caught by stage 0
        from ignity.stages import stage2

        stage2.yield_to_stop()
    try:
        merged, settings, account = _setup(mode, cmd)
    except IgnityError as e:
        log.error(PHASE, str(e))
        _fail("setup", e.status)
    except Exception as e:  # a bug of ours: one line all the same, and nothing started
        log.error(PHASE, f"internal error, please report: {e!r}")
        _fail("setup", 1)
    from ignity.stages import stage2

    stage2.main(cmd, merged, settings, (account.uid, account.gid))


def _original_environment() -> None:
    """Take back the variables sh could not pass on, from stage 0's copy of /init's environment."""
    try:
        fd = os.open(paths.ENVIRON, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            return
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
        try:
            os.unlink(paths.ENVIRON)
        except OSError:
            pass
    for item in b"".join(chunks).split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name and name not in os.environb:
            os.environb[name] = value


def _own_group() -> None:
    """The boot process leads its own process group: init scripts and the CMD run in it,
    so stage 3 stops them as one, and with a terminal it is the foreground group:
    Ctrl-C reaches them, never a supervisor (s6-supervise would kill its service
    without its finish). With no CMD, that group is left empty when this
    process ends: a Ctrl-C then reaches nobody, and `docker stop` stops."""
    os.setpgid(0, 0)
    if os.isatty(0):
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
            os.tcsetpgrp(0, os.getpgrp())
        except OSError:
            pass
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTTOU})


def _setup(mode: str, cmd: list[str]) -> tuple[dict[bytes, bytes], config.Config, usermap.Account]:
    """Read and check everything, map the user, fix permissions, make /run/ignity ours."""
    check.special_at_boot()  # before anything opens a file of /etc/ignity: a fifo there must not hang us
    origin: dict[bytes, str] = {}
    merged = envfile.merge(envfile.env_files(f"{paths.ETC}/envs"), dict(os.environb), origin)
    if any(name.startswith(b"FILE__") for name in merged):
        from ignity import secrets  # only when a secret is asked for

        asked = [name[len(secrets.PREFIX) :] for name in merged if name.startswith(secrets.PREFIX)]
        merged = secrets.resolve(merged)
        secrets.unexport(os.environ)
        origin.update(dict.fromkeys(asked, envfile.SECRETS))
    # Every program gets this environment: one too large for exec fails the boot now, not half-way.
    too_large = envfile.too_large(merged, origin, cmd)
    if too_large:
        raise IgnityError(too_large)
    env = envfile.own_variables(merged)
    settings = config.from_env(env)
    log.set_verbosity(settings.verbosity)
    account = usermap.from_env(env)
    if mode in ("subreaper", "no-subreaper"):
        how = "as a child subreaper" if mode == "subreaper" else "NOT as a subreaper (no ctypes in this Python)"
        log.info(PHASE, f"not PID 1 (parent {os.getppid()} is s6-svscan, under pid {_grandparent()}): "
                 f"supervising {how}; only Ignity's own processes are ever signalled")  # fmt: skip
    log.debug(PHASE, "environment and settings read")
    check.at_boot(os.environ, skip_perms=bool(settings.skip_perms))
    log.debug(PHASE, f"{paths.ETC} checked")
    tools.check_all()
    if not settings.skip_perms:
        prepare.run(env)
    runtime.recreate(settings)
    for warning in runtime.warn_shared((account.uid, account.gid)):
        log.info(PHASE, f"warning: {warning}")
    log.debug(PHASE, f"{paths.RUN} laid out")
    return merged, settings, account


def _grandparent() -> str:
    try:
        with open(f"/proc/{os.getppid()}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[1].decode()
    except (OSError, IndexError):
        return "?"


def _fail(word: str, code: int) -> NoReturn:
    from ignity.stages import stage2

    stage2.stop(f"{word} {code}")


def _alone() -> NoReturn:
    """Stage 0 could not lay out /run/ignity (or find s6-svscan): we are PID 1, alone.

    Say what is wrong, as precisely as the checks can, and exit: nothing started.
    """
    try:
        merged = envfile.merge(envfile.env_files(f"{paths.ETC}/envs"), dict(os.environb))
        log.set_verbosity(config.from_env(envfile.own_variables(merged)).verbosity)
        tools.check_all()
        if not os.path.isdir(paths.SKEL):
            raise IgnityError(f"{paths.SKEL} is missing: run `ignity install` in the image")
        try:
            os.makedirs(paths.STATE, exist_ok=True)
            probe = f"{paths.STATE}/.probe"
            open(probe, "w").close()
            os.unlink(probe)
        except OSError as e:
            raise runtime.not_writable(e) from None
        raise IgnityError(f"cannot lay out {paths.RUN} from {paths.SKEL}")
    except IgnityError as e:
        log.die(PHASE, str(e), e.status)
    except Exception as e:
        log.die(PHASE, f"internal error, please report: {e!r}")
