"""Whether s6-supervise still wants its service up, from its status file.

Stage 3 takes it that s6-svscan told every supervisor to stop when its own
stop command said so (`s6-svscanctl -tb`, runtime.stop_argv), and does not
SIGTERM them again: each SIGTERM to an s6-supervise is one more SIGTERM to
its service. That is not always so (an operator's `s6-svscanctl -b` or a
SIGABRT to PID 1 got there first; s6 2.13 drops a `-t` that comes while a
scan is pending), so, a bounded while later, stage 3 asks this of the
supervisors still running, and tells those that still want their service up.
Read directly, not through s6-svstat: one process per service would cost
more than the stop it saves. Not at once: s6-supervise signals its service
before it rewrites its status file, and may not run again for a while in
between.

The layout is s6's own (s6_svstatus_pack): 12 + 12 bytes of stamps, the pid
(8 bytes, big-endian), then in s6 2.13 (43 bytes) the pgid (8), the wait
status (2) and the flags (1: paused 1, finishing 2, wanted up 4, ready 8);
in 2.11 and 2.12 (35 bytes) the same without the pgid; in 2.10 (35 bytes,
Debian 11) flags paused 1, finishing 2, an unused "want" bit 4 that is
always set, wanted up 8, ready 16.
"""

from __future__ import annotations

import os
import stat

from ignity import tools
from ignity.errors import IgnityError

STATUS = "supervise/status"

_old_layout: bool | None = None


def read_small(path: str, limit: int = 4096) -> bytes:
    """At most `limit` bytes of `path`, a regular file, never a link, never a blocking open.

    How `ignity status` and its helpers read a service's small state files
    (`.ignity/*`), which the service's uid can replace: O_NONBLOCK, so a fifo
    put there never hangs the open; fstat before any read, so only a regular
    file is read. OSError (with the reason) otherwise.
    """
    return _read_regular(path, limit, owned=False)


def read_text(path: str, limit: int = 4096) -> str:
    """read_small, decoded (a bad byte replaced)."""
    return read_small(path, limit).decode("utf-8", "replace")


def owner_of(scandir: str) -> os.stat_result:
    """The scan directory's stat: of the entry itself when it is another uid's link (never followed)."""
    st = os.lstat(scandir)
    if stat.S_ISLNK(st.st_mode) and st.st_uid == 0:
        st = os.stat(scandir)
    return st


def act_as_owner(scandir: str) -> None:
    """As root, when the scan directory is another uid's (Ignity runs as that uid), become that uid.

    Root's `podman exec` into a container whose Ignity runs as uid 1000 reads
    only what uid 1000 may read: no file, fifo or link uid 1000 put in its
    state makes root open anything of root's. OSError when there is no scan directory.
    """
    if os.geteuid() != 0:
        return
    st = owner_of(scandir)
    if st.st_uid == 0:
        return
    os.setgroups([])
    os.setgid(st.st_gid)
    os.setuid(st.st_uid)


def read_owned(path: str, limit: int = 64) -> bytes:
    """At most `limit` bytes of `path`, a regular file of this uid (root's, as root), never a link.

    The one way stage 3 reads a file: O_NONBLOCK, so a fifo or a device put
    there never blocks the open; fstat before any read, so a directory, a fifo
    or another uid's file is refused. OSError (with the reason) otherwise.
    """
    return _read_regular(path, limit, owned=True)


def _read_regular(path: str, limit: int, owned: bool) -> bytes:
    """read_small and read_owned: the open never blocks or follows a link, the read is bounded."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file", path)
        if owned and st.st_uid != os.geteuid():
            raise OSError(0, f"owned by uid {st.st_uid}, not {os.geteuid()}", path)
        return os.read(fd, limit)
    finally:
        os.close(fd)


def wanted_up(service_dir: str) -> bool:
    """Whether the supervisor of `service_dir` wants its service up (True when the bytes cannot tell).

    OSError when the file cannot be read as root's (read_owned): the caller says so in one line.
    """
    data = read_owned(f"{service_dir}/{STATUS}")
    found = flags_wanted_up(data)
    if found is None:
        found = not old_layout()
    return found


def flags_wanted_up(data: bytes) -> bool | None:
    """From the file's bytes; None when only the s6 version can tell.

    A 35-byte file is 2.10's when bit 16 is set (only 2.10 has it) and 2.11's
    when bit 4 is clear (2.10 always sets it); with bit 4 set and 16 clear,
    both layouts agree when bit 8 is set (wanted up); they disagree on bit 4
    alone: 2.11 wanted up, not ready, or 2.10 wanted down and never ready.
    """
    if len(data) == 43:
        return bool(data[42] & 4)
    if len(data) != 35:
        return True
    flags = data[34]
    if flags & 16:
        return bool(flags & 8)  # 2.10
    if not flags & 4:
        return False  # 2.11, wanted down
    if flags & 8:
        return True  # 2.10 wanted up, or 2.11 wanted up and ready
    return None


def old_layout(svstat: str | None = None) -> bool:
    """Whether this s6 writes 2.10's layout: its s6-svstat still knows the "throttled"
    state, which 2.11 removed along with that layout."""
    global _old_layout
    if _old_layout is None:
        try:
            with open(svstat or tools.find("s6-svstat"), "rb") as f:
                _old_layout = b"throttled" in f.read(4 << 20)
        except (OSError, IgnityError):
            _old_layout = False
    return _old_layout
