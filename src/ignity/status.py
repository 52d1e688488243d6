"""The container's exit status, recorded by whichever part learns it.

Each source writes its own file once; stage 3 picks by the precedence of
SPEC.md: a failed init script, then an explicit `ignity halt`, then the CMD.
Raw values follow execline's `foreground`: 256+N means killed by signal N.
"""

from __future__ import annotations

import os

from ignity import paths

# The CMD's waiter creates CMD_PREFIX + its raw status (an empty file).
CMD_PREFIX = f"{paths.STATE}/cmd-status."


def record(path: str, value: int) -> bool:
    """Write `value` to `path` unless it already holds one; True when written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, f"{value}\n".encode())
    finally:
        os.close(fd)
    return True


def normalise(raw: int) -> int:
    """0..255 as given; 256+N (killed by signal N) as 128+N, like a shell."""
    if raw >= 256:
        return (128 + raw - 256) & 0xFF
    return raw & 0xFF


def read(path: str) -> int | None:
    try:
        with open(path) as f:
            return normalise(int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return None


def cmd() -> int | None:
    prefix = os.path.basename(CMD_PREFIX)
    try:
        names = [n for n in os.listdir(paths.STATE) if n.startswith(prefix)]
    except OSError:
        return None
    raw = names[0][len(prefix) :] if names else ""
    return normalise(int(raw)) if raw.isdigit() else None


def final() -> int | None:
    """The recorded status that applies, or None when nothing was recorded."""
    for value in (read(paths.INIT_STATUS), read(paths.HALT_STATUS), cmd()):
        if value is not None:
            return value
    return None
