"""Starting programs and waiting for them, without sleeps.

Children must start with a clean signal state whatever Ignity blocked or
ignored for itself (a blocked SIGTERM would be inherited across exec and
make a service unstoppable), so every spawn and exec here resets it.
"""

from __future__ import annotations

import errno
import os
import time

from ignity import signals as signal

_RESET = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
TYPE_CHECKING = False  # collections.abc and typing cost milliseconds at each start; only mypy needs them
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Union

    Env = Union[Mapping[bytes, bytes], Mapping[str, str]]


# Dispositions a child must not inherit: Python's own (PIPE, XFSZ), and the
# INT and QUIT that sh ignores for a background command such as the boot process.
_DISPOSITIONS = (
    signal.SIGPIPE, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGCHLD, signal.SIGXFSZ, signal.SIGHUP,
    signal.SIGUSR1, signal.SIGUSR2,
)  # fmt: skip


def reset_dispositions() -> None:
    """Default dispositions, the mask untouched (before an exec that keeps signals blocked)."""
    for sig in _DISPOSITIONS:
        signal.signal(sig, signal.SIG_DFL)


def reset_signals() -> None:
    """Default dispositions and an empty mask, for the current process (before exec)."""
    reset_dispositions()
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def spawn(
    argv: Sequence[str],
    env: Env | None = None,
    stderr_to_null: bool = False,
    new_group: bool = False,
    stdin_null: bool = False,
) -> int:
    """Start `argv` with default signal handling; return its pid.

    Raises OSError when the program cannot be executed (posix_spawn reports
    exec failures to the caller).
    """
    actions = [(os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)] if stderr_to_null else []
    if stdin_null:
        actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    environment = os.environ if env is None else env
    if new_group:
        return os.posix_spawnp(
            argv[0], list(argv), environment, file_actions=actions, setpgroup=0, setsigmask=(), setsigdef=_RESET
        )
    return os.posix_spawnp(argv[0], list(argv), environment, file_actions=actions, setsigmask=(), setsigdef=_RESET)


def run(argv: Sequence[str], env: Env | None = None, stderr_to_null: bool = False) -> int:
    """Run `argv` to completion; its status as a shell reports it."""
    return status_of(os.waitpid(spawn(argv, env, stderr_to_null), 0)[1])


def status_of(wstatus: int) -> int:
    """An exit status as a shell reports it: the code, or 128+N for signal N."""
    if os.WIFSIGNALED(wstatus):
        return 128 + os.WTERMSIG(wstatus)
    return os.WEXITSTATUS(wstatus) & 0xFF


def exec_failure_status(err: OSError) -> int:
    """The status a shell gives a program it could not run: 127 not found, else 126."""
    return 127 if err.errno == errno.ENOENT else 126


class Reaper:
    """Collects every dead child of this process, event-driven.

    SIGCHLD is blocked and waited for with sigtimedwait, so a wait ends the
    moment a child dies, and a bounded wait never oversleeps its deadline.
    """

    def __init__(self, also: tuple[int, ...] = ()) -> None:
        # `also`: more signals to wait for with SIGCHLD (see pending()).
        self.waited = {signal.SIGCHLD, *also}
        self.caught: list[int] = []
        signal.pthread_sigmask(signal.SIG_BLOCK, self.waited)

    def pending(self, sigs: tuple[int, ...]) -> list[int]:
        """The signals of `sigs` that arrived (taken from the queue), oldest first."""
        while True:
            got = signal.sigtimedwait(set(sigs), 0)
            if got is None:
                break
            self.caught.append(got.si_signo)
        taken, self.caught = self.caught, []
        return taken

    def reap(self) -> tuple[dict[int, int], bool]:
        """Every child that died so far: ({pid: wstatus}, no children left)."""
        dead: dict[int, int] = {}
        while True:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return dead, True
            if pid == 0:
                return dead, False
            dead[pid] = wstatus

    def wait(self, deadline: float | None) -> None:
        """Block until a child may have died, or `deadline` (monotonic) passes."""
        if deadline is None:
            got = signal.sigwait(self.waited)
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            info = signal.sigtimedwait(self.waited, remaining)
            got = info.si_signo if info is not None else signal.SIGCHLD
        if got != signal.SIGCHLD:
            self.caught.append(got)
