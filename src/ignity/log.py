"""Ignity's own messages: one prefix, always stderr, filtered by verbosity.

The prefix `[ignity/<phase>]` lets a user tell Ignity's lines from their
services' output in `docker logs`. Verbosity: 0 errors only, 1 default
(start, stop, problems), 2 debug (every step and its duration).
"""

import os
import sys
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
    if _verbosity >= 2:
        _emit(phase, message)


def die(phase: str, message: str, status: int = 1) -> NoReturn:
    error(phase, message)
    sys.exit(status)
