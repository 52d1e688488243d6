"""with-retries [-n N] [-t MS] PROG...: run PROG until it succeeds, N retries, each bounded.

Each attempt is waited for on SIGCHLD, so a quick success returns at once
and a hung attempt is killed (with its process group) exactly at its bound.
SIGTERM, SIGINT and SIGHUP are passed on to the running attempt's group, and
with-retries then exits with that attempt's status: stopping a service that
runs `with-retries` stops what it runs, and retries nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import NoReturn

from ignity import log, procs
from ignity import signals as signal

PHASE = "with-retries"
USAGE = "usage: with-retries [-n RETRIES] [-t MS] PROG... (defaults: 3 retries, 500 ms an attempt; 0 ms = no limit)"


def parse(argv: list[str]) -> tuple[int, int, list[str]]:
    retries, timeout = 3, 500
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        opt = argv[i]
        if opt == "--":
            i += 1
            break
        if opt not in ("-n", "-t") or i + 1 >= len(argv) or not (argv[i + 1].isascii() and argv[i + 1].isdigit()):
            raise ValueError(USAGE)
        if opt == "-n":
            retries = int(argv[i + 1])
        else:
            timeout = int(argv[i + 1])
        i += 2
    if i >= len(argv):
        raise ValueError(USAGE)
    return retries, timeout, argv[i:]


FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stopped(Exception):
    """A forwarded signal ended the attempt: no retry."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def attempt(prog: list[str], timeout_ms: int, reaper: procs.Reaper) -> int:
    """One bounded run; 128+9 when it had to be killed (with everything it started).

    The attempt gets a process group of its own, so that a timeout kills the
    programs it started too; its death is waited for on SIGCHLD (no polling,
    no pidfd, which old kernels and seccomp profiles refuse).
    """
    pid = procs.spawn(prog, new_group=True)
    deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms > 0 else None
    forwarded = False
    while True:
        dead, _ = reaper.reap()
        if pid in dead:
            if forwarded:
                raise Stopped(procs.status_of(dead[pid]))
            return procs.status_of(dead[pid])
        for sig in reaper.pending(FORWARDED):
            forwarded = True
            deadline = None  # the attempt now ends on the signal, not on its bound
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        if deadline is not None and time.monotonic() >= deadline:
            log.info(PHASE, f"{prog[0]}: no result after {timeout_ms} ms, killed")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = None  # its death arrives as an event
        reaper.wait(deadline)


def main() -> NoReturn:
    try:
        retries, timeout, prog = parse(sys.argv[1:])
    except ValueError as e:
        log.die(PHASE, str(e), 100)
    code = 1
    reaper = procs.Reaper(also=FORWARDED)
    for n in range(retries + 1):
        try:
            code = attempt(prog, timeout, reaper)
        except Stopped as e:
            sys.exit(e.status)
        except OSError as e:
            log.die(PHASE, f"cannot run {prog[0]}: {e.strerror}", procs.exec_failure_status(e))
        if code == 0:
            sys.exit(0)
        log.debug(PHASE, f"{prog[0]}: attempt {n + 1} exited {code}")
    log.info(PHASE, f"{prog[0]}: failed {retries + 1} time(s), last status {code}")
    sys.exit(code)
