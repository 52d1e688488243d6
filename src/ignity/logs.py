"""`ignity logs [-f] [-n N] [NAME...]`: the last lines services wrote, stdout and stderr marked.

Where the lines come from (docs/operating.md):

- a service in `prefixed` or `json` mode: the ring its generated logger
  keeps (outputs.py), `log/ring/stdout` and `log/ring/stderr` of its run-time
  copy, each an s6-log logdir whose lines are stamped (`T`, UTC); the two
  streams are merged by that stamp, which is then dropped;
- a service with its own `log/`: the s6-log logdir its `log/run` names (the
  last argument of its s6-log line starting with `/` or `.`), as written;
- a service in `raw` mode: nothing is kept; one line says how to turn it on.

An s6-log logdir is read in s6-log's own safe order: the archives `@*` by
name, then `previous` (present in the middle of a rotation), then `current`.
`-f` then follows `current` by its inode: when s6-log rotates, the rest of the
old file is read through the descriptor already open, then the new one.
There is no inotify in the standard library, so it looks for new lines every
POLL_S (what `tail -f` does without inotify); it ends on SIGINT or SIGTERM.

Safety, since this runs as root and an author's logger may run as another
uid that owns its logdir: root in a container whose Ignity runs as another
uid first becomes that uid (svfile.act_as_owner); the logdir is opened one
component at a time from `/`, each with O_NOFOLLOW|O_DIRECTORY (open_dir),
every file in it through that descriptor with O_NOFOLLOW|O_NONBLOCK and used
only if it is a regular file, and every read is bounded (MAX_READ a file,
from its end). Nothing a service's uid writes is followed, executed or
opened anywhere else.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from ignity import outputs, paths, svfile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

# At most this many bytes are read from the end of one file, and from one service.
MAX_READ = 8 * 1024 * 1024
POLL_S = 0.25
# s6-log's T stamp: "YYYY-MM-DD HH:MM:SS.NNNNNNNNN  " (31 bytes).
STAMP = 31
MARK = {"stdout": b"|", "stderr": b"!"}
USAGE, NOT_RUNNING = 100, 111

_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_PATH = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class LogsError(Exception):
    """One line about one service; the others are still shown."""


class Source:
    """One s6-log logdir: a stream of one service."""

    def __init__(self, service: str, stream: str, directory: str, stamped: bool) -> None:
        self.service = service
        self.stream = stream
        self.directory = directory
        self.stamped = stamped
        self.dirfd = -1
        self.fd = -1  # current, while following
        self.ino = 0
        self.rest = b""

    def open(self) -> None:
        try:
            self.dirfd = open_dir(self.directory)
        except FileNotFoundError:
            self.dirfd = -1  # nothing written yet: s6-log makes it at its first line
        except OSError as e:
            raise LogsError(f"{self.service}: cannot read {self.directory}: {_why(e)}") from None

    def close(self) -> None:
        for fd in (self.fd, self.dirfd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.dirfd = -1

    def files(self) -> list[str]:
        """The logdir's files, oldest first, in s6-log's safe reading order."""
        if self.dirfd < 0:
            return []
        names = os.listdir(self.dirfd)
        archives = sorted(n for n in names if n.startswith("@") and n[-2:] in (".s", ".u"))
        return archives + [n for n in ("previous", "current") if n in names]

    def tail(self, budget: int) -> list[bytes]:
        """The last whole lines of the logdir, newest file read first, at most `budget` bytes."""
        chunks: list[bytes] = []
        for name in reversed(self.files()):
            if budget <= 0:
                break
            data = _read_end(self.dirfd, name, budget)
            budget -= len(data)
            chunks.append(data)
        data = b"".join(reversed(chunks))
        if budget <= 0:  # cut at the oldest whole line kept
            data = data[data.find(b"\n") + 1 :]
        return [line for line in data.split(b"\n")[:-1]]

    def start_following(self) -> None:
        """Open current at its end: what comes next is new."""
        if self.dirfd < 0:
            self.open()
        if self.dirfd < 0:
            return
        fd = _open_regular(self.dirfd, "current")
        if fd is not None:
            self.fd, self.ino = fd, os.fstat(fd).st_ino
            os.lseek(fd, 0, os.SEEK_END)

    def new_lines(self) -> list[bytes]:
        """The lines written since the last call; across a rotation, the old current's end first.

        A ring whose directory was replaced (`ignity reload` restarted the service from
        a new copy) is followed on in the new one, from its start."""
        if self.dirfd < 0:
            self.open()
            if self.dirfd < 0:
                return []
        data = b""
        if self.stamped and self._replaced():
            data = _read_some(self.fd) if self.fd >= 0 else b""
            self.close()
            self.open()
            if self.dirfd < 0:
                return self._lines(data)
            self.ino = 0
        if self.fd >= 0:
            data += _read_some(self.fd)
        try:
            st = os.stat("current", dir_fd=self.dirfd, follow_symlinks=False)
            moved = st.st_ino != self.ino
        except FileNotFoundError:
            moved = False  # in the middle of a rotation: current comes back
        if moved or self.fd < 0:
            fd = _open_regular(self.dirfd, "current")
            if fd is not None:
                if self.fd >= 0:
                    data += _read_some(self.fd)  # what was written before the rename
                    os.close(self.fd)
                self.fd, self.ino = fd, os.fstat(fd).st_ino
                data += _read_some(fd)
        return self._lines(data)

    def _lines(self, data: bytes) -> list[bytes]:
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:][-MAX_READ:]
        return data[:cut].split(b"\n")[:-1]

    def _replaced(self) -> bool:
        try:
            st = os.stat(self.directory, follow_symlinks=False)
        except OSError:
            return False  # gone, or not made yet by the new logger: keep what we have
        return st.st_ino != os.fstat(self.dirfd).st_ino


def open_dir(path: str) -> int:
    """`path` opened as a directory, one component at a time from `/` (or `.`), each with O_NOFOLLOW.

    A service's uid may own a directory on the way to its logdir (its home)
    and swap a component for a link: no link at any position is followed (an
    O_PATH|O_NOFOLLOW open of a link gives the link, which O_DIRECTORY refuses:
    ENOTDIR). OSError otherwise, as os.open.
    """
    fd = os.open("/" if path.startswith("/") else ".", _OPEN_PATH)
    try:
        for name in path.split("/"):
            if name in ("", "."):
                continue
            parent, fd = fd, -1
            try:
                fd = os.open(name, _OPEN_PATH | os.O_NOFOLLOW, dir_fd=parent)
            finally:
                os.close(parent)
        return os.open(".", _OPEN_DIR, dir_fd=fd)
    finally:
        if fd >= 0:
            os.close(fd)


def _why(e: OSError) -> str:
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (only root and the uid Ignity runs as may read the logs)"
    if e.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a link or not a directory: refused"
    return e.strerror or str(e)


def _open_regular(dirfd: int, name: str) -> int | None:
    """`name` in `dirfd` opened for reading if it is a regular file (never a link, fifo or device)."""
    try:
        fd = os.open(name, _OPEN_FILE, dir_fd=dirfd)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _read_end(dirfd: int, name: str, limit: int) -> bytes:
    """At most `limit` bytes from the end of the regular file `name`."""
    fd = _open_regular(dirfd, name)
    if fd is None:
        return b""
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - limit), os.SEEK_SET)
        return _read_fd(fd, min(limit, size))
    finally:
        os.close(fd)


def _read_some(fd: int) -> bytes:
    return _read_fd(fd, MAX_READ)


def _read_fd(fd: int, limit: int) -> bytes:
    parts = []
    while limit > 0:
        chunk = os.read(fd, min(limit, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        limit -= len(chunk)
    return b"".join(parts)


def raw_hint(name: str) -> str:
    return (
        f"{name}: output mode raw, Ignity keeps no log of it: write prefixed (or json) into "
        f"{paths.ETC}/services/{name}/output-mode and run `ignity reload` "
        "(or set IGNITY_SERVICES_OUTPUT=prefixed for all)"
    )


def sources(name: str, services_dir: str = paths.SERVICES) -> list[Source]:
    """Where the lines of service `name` are, or a LogsError saying why there are none."""
    path = f"{services_dir}/{name}"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise LogsError(f"{name}: no such service") from None
    if not stat.S_ISDIR(st.st_mode) or not os.path.isfile(f"{path}/run"):
        raise LogsError(f"{name}: no such service")
    ring = f"{path}/log/{outputs.RING}"
    if os.path.isdir(ring) and not os.path.islink(ring):
        return [Source(name, s, f"{ring}/{s}", True) for s in outputs.STREAMS]
    if os.path.lexists(f"{path}/{outputs.USER_RUN}") and os.path.lexists(f"{path}/log/format.awk"):
        raise LogsError(f"{name}: IGNITY_SERVICES_LOG_BYTES=0: Ignity keeps no log (set it above 0 to keep one)")
    if not os.path.isdir(f"{path}/log"):
        raise LogsError(raw_hint(name))
    directory = logdir_of(f"{path}/log")
    if directory is None:
        raise LogsError(
            f"{name}: its own log/run names no s6-log directory (an argument starting with / or ./): "
            "Ignity cannot find its lines"
        )
    return [Source(name, "stdout", directory, False)]


def logdir_of(log_path: str) -> str | None:
    """The logdir of the s6-log that `log_path`/run runs: the last word of its s6-log line
    that starts with / or . (s6-log's rule for a logdir), relative ones from `log_path`."""
    try:
        fd = os.open(f"{log_path}/run", _OPEN_FILE)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = _read_fd(fd, 65536).decode("utf-8", "replace")
    finally:
        os.close(fd)
    found = None
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        at = [i for i, w in enumerate(words) if os.path.basename(w) == "s6-log"]
        if not at:
            continue
        dirs = [w.strip("\"'") for w in words[at[0] + 1 :] if w.strip("\"'")[:1] in ("/", ".")]
        if dirs:
            found = dirs[-1]
    if found is None:
        return None
    return os.path.normpath(found if found.startswith("/") else f"{log_path}/{found}")


def render(name: str, width: int, stream: str, line: bytes, stamped: bool) -> bytes:
    text = line[STAMP:] if stamped else line
    return name.ljust(width).encode() + b" " + MARK[stream] + b" " + text + b"\n"


def last_lines(found: list[Source], count: int | None) -> list[tuple[bytes, Source, bytes]]:
    """The last `count` (None: all kept) lines of one service's sources, merged by stamp."""
    merged: list[tuple[bytes, int, Source, bytes]] = []
    budget = MAX_READ // max(1, len(found))
    for source in found:
        for i, line in enumerate(source.tail(budget)):
            merged.append((line[:STAMP] if source.stamped else b"", i, source, line))
    if found and found[0].stamped:
        merged.sort(key=lambda item: (item[0], item[1]))
    if count is not None:
        merged = merged[-count:] if count else []
    return [(m[0], m[2], m[3]) for m in merged]


def services(services_dir: str = paths.SERVICES) -> list[str]:
    try:
        return sorted(n for n in os.listdir(services_dir) if not n.startswith("."))
    except FileNotFoundError:
        return []


def main(names: list[str], count: int | None, follow: bool, services_dir: str = paths.SERVICES) -> int:
    if not os.path.isdir(services_dir) or not os.path.isdir(paths.SCANDIR):
        sys.stderr.write(f"ignity logs: not inside a running Ignity container ({services_dir} is missing)\n")
        return NOT_RUNNING
    try:
        svfile.act_as_owner(paths.SCANDIR)  # root in a non-root container: reads only what Ignity's uid may
    except OSError as e:
        sys.stderr.write(f"ignity logs: {paths.SCANDIR}: {e.strerror}\n")
        return NOT_RUNNING
    chosen = names or services(services_dir)
    out = sys.stdout.buffer
    width = max((len(n) for n in chosen), default=0)
    status = 0
    shown: list[list[Source]] = []
    for name in chosen:
        try:
            found = sources(name, services_dir)
            for source in found:
                source.open()
        except LogsError as e:
            if names:  # every service asked for by name is accounted for
                sys.stderr.write(f"ignity logs: {e}\n")
                status = 1
            continue
        shown.append(found)
        for _, source, line in last_lines(found, count):
            out.write(render(name, width, source.stream, line, source.stamped))
    out.flush()
    if not follow or not shown:
        return status
    return _follow([s for found in shown for s in found], width, out)


def _follow(all_sources: list[Source], width: int, out: object) -> int:
    import signal
    import time

    def _end(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _end)
    write = out.write  # type: ignore[attr-defined]
    flush = out.flush  # type: ignore[attr-defined]
    try:
        for source in all_sources:
            source.start_following()
        while True:
            batch: list[tuple[bytes, Source, bytes]] = []
            for source in all_sources:
                batch += [(line[:STAMP] if source.stamped else b"", source, line) for line in source.new_lines()]
            batch.sort(key=lambda item: item[0])  # stable: unstamped lines keep their order
            for _, source, line in batch:
                write(render(source.service, width, source.stream, line, source.stamped))
            if batch:
                flush()
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        return 0
    finally:
        for source in all_sources:
            source.close()


def lines_of(found: list[Source]) -> Iterator[bytes]:
    """For tests: every line kept, rendered."""
    for _, source, line in last_lines(found, None):
        yield render(source.service, 0, source.stream, line, source.stamped)
