"""The container's phase, `/run/ignity/phase`: `starting DETAIL`, `running` or `stopping`.

Stage 2 writes it at each step of the boot, stage 3 as its first act
(docs/service-states.md). One small write and a rename per step, no process:
a reader sees the old line or the new one, never half. Readable by every uid.
"""

from __future__ import annotations

import os

from ignity import paths

STARTING, RUNNING, STOPPING = "starting", "running", "stopping"


def write(line: str, path: str = paths.PHASE) -> None:
    """Replace the phase with `line`; a failure is not the boot's: it is ignored.

    The temp file's name is per process (stage 2 and stage 3 can both write),
    O_EXCL|O_NOFOLLOW in Ignity's own directory: no link is followed.
    """
    tmp = f"{path}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        try:
            os.unlink(tmp)  # left by an earlier process with our pid (another boot's)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError:
            return
    except OSError:
        return
    try:
        os.write(fd, f"{line}\n".encode("utf-8", "replace"))
        os.fchmod(fd, 0o644)  # whatever the umask
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def starting(detail: str) -> None:
    write(f"{STARTING} {detail}")


def read(path: str = paths.PHASE) -> tuple[str, str]:
    """(phase, detail); absent: ("starting", "") (stage 2 has not written it yet)."""
    try:
        with open(path, "rb") as f:
            text = f.read(4096).decode("utf-8", "replace")
    except FileNotFoundError:
        return STARTING, ""
    line = text.split("\n", 1)[0].strip()
    word, _, detail = line.partition(" ")
    if word not in (STARTING, RUNNING, STOPPING):
        return STARTING, line  # unknown: never "ready" on a line we do not understand
    return word, detail.strip()
