"""Why the container stops, and the exit status that follows from it.

Every way of stopping goes through one latch, STOPPING, created once with
O_EXCL: the first decision wins and every later one records nothing, so a
second signal, a service's `ignity halt` while it is being stopped, or a
failure caused by the stop itself cannot change the status. The latch holds
the reason, a word and a number:

    setup N    stage 1 could not start (bad input): nothing ran
    init N     an init script (or start-up) failed with status N
    halt N     `ignity halt N`
    signal N   a stop signal to PID 1 (N is its number); "signal N cmd" when
               the signal handler stopped the CMD's process group already
    cmd        the CMD ended by itself (stage 3 found its status at its start)
    scan       s6-svscanctl -t / SIGABRT: a stop from inside, not a failure
    crash      s6-svscan hit a fatal error

The CMD's waiter records the CMD's raw status (execline's `foreground`:
256+N for signal N) as the name of an empty file, CMD_PREFIX + status: no
process needs to start for it.
"""

from __future__ import annotations

import os

from ignity import paths
from ignity import signals as signal

CMD_PREFIX = f"{paths.STATE}/cmd-status."
# Made by the CMD's own process (stage2.waiter_argv) once it runs with every signal
# unblocked: from then on a signal to the CMD's group reaches it; before, only its
# waiter, which blocks them. The signal handler forwards nothing before it exists.
CMD_STARTED = f"{paths.STATE}/cmd-started"


def latch(reason: str, path: str = paths.STOPPING) -> bool:
    """Create the latch with `reason`; False when the container is already stopping.

    O_EXCL|O_NOFOLLOW: never follows a link, never overwrites.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, f"{reason}\n".encode())
    finally:
        os.close(fd)
    return True


def stopping(path: str = paths.STOPPING) -> bool:
    return os.path.lexists(path)


TOLD = frozenset({"cmd"})


def reason(path: str = paths.STOPPING) -> tuple[str, int, frozenset[str]]:
    """(word, number, told) from the latch; ("", 0, nothing) when it is missing or unreadable.

    `told`: what the signal handler already told to stop (see the module doc).
    """
    from ignity.svfile import read_owned

    try:
        words = read_owned(path).decode("ascii", "replace").split()
    except OSError:
        return "", 0, frozenset()
    if not words:
        return "", 0, frozenset()
    number = int(words[1]) if len(words) > 1 and words[1].isdigit() and len(words[1]) < 5 else 0
    told = frozenset(words[2:]) & TOLD if words[0] == "signal" else frozenset()
    return words[0], number, told


def normalise(raw: int) -> int:
    """0..255 as given; 256+N (killed by signal N) as 128+N, like a shell."""
    if raw >= 256:
        return (128 + raw - 256) & 0xFF
    return raw & 0xFF


def cmd() -> int | None:
    """The CMD's status as its waiter recorded it, or None."""
    prefix = os.path.basename(CMD_PREFIX)
    try:
        names = [n for n in os.listdir(paths.STATE) if n.startswith(prefix)]
    except OSError:
        return None
    raw = names[0][len(prefix) :] if names else ""
    return normalise(int(raw)) if raw.isdigit() and len(raw) < 6 else None


def cmd_ran() -> bool:
    return os.path.lexists(paths.CMD_MARK)


def final(word: str, number: int, cmd_status: int | None, cmd_ran: bool) -> int:
    """The container's exit status for a stop of kind `word` (see the module doc).

    `cmd_status` is what the waiter recorded by the end of stage 3 (None: the
    CMD had to be SIGKILLed before it could say), `cmd_ran` whether a CMD was
    started at all.
    """
    if word in ("setup", "init", "halt"):
        return number & 0xFF
    if word == "crash":
        return 111
    if word in ("signal", "cmd"):
        if not cmd_ran:
            return 0
        return cmd_status if cmd_status is not None else 128 + signal.SIGKILL
    return 0  # scan: a stop asked for from inside, not a failure
