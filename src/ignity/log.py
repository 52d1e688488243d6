"""Ignity's own messages: one prefix, always stderr, filtered by verbosity.

The prefix `[ignity/<phase>]` lets a user tell Ignity's lines from their
services' output in `docker logs`. Verbosity: 0 errors only, 1 default
(start, stop, problems), 2 debug (every step and its duration).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn

_verbosity = 1


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def _emit(phase: str, message: str) -> None:
    line = f"[ignity/{phase}] {message}\n"
    try:
        os.write(2, line.encode("utf-8", "backslashreplace"))
    except OSError:
        pass


def error(phase: str, message: str) -> None:
    _emit(phase, message)


def info(phase: str, message: str) -> None:
    if _verbosity >= 1:
        _emit(phase, message)


def debug(phase: str, message: str) -> None:
    """Debug lines carry the process's age: where the time of a stage goes."""
    if _verbosity >= 2:
        _emit(phase, f"+{_age_ms()} ms {message}")


def _age_ms() -> int:
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return round((uptime - start_ticks / os.sysconf("SC_CLK_TCK")) * 1000)


def die(phase: str, message: str, status: int = 1) -> NoReturn:
    error(phase, message)
    sys.exit(status)
