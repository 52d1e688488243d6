"""A view of an image root: paths resolved inside it, and files read without ever blocking.

With --root the tree is someone else's: every path, symbolic links
included, is resolved inside the root (an absolute link target is relative to
it), so a link to /usr/bin/sh names the image's sh, never this system's. On
the running system (root "") the same resolution gives what the kernel would.

Nothing here opens anything but a regular file, and that with O_NONBLOCK and
O_NOFOLLOW on the already resolved path: at boot, a fifo in /etc/ignity must
be reported, not read (a read would block PID 1 forever).
"""

from __future__ import annotations

import os
import stat

SYMLINK_HOPS = 40  # the kernel's own limit (ELOOP)
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC

KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def kind(mode: int) -> str:
    """What a file of this mode is, for a message ("a fifo")."""
    for test, name in KINDS:
        if test(mode):
            return name
    return "a special file"


def special(mode: int) -> bool:
    """A fifo, device or socket: never opened, never read."""
    return not (stat.S_ISDIR(mode) or stat.S_ISREG(mode))


class Root:
    """The image under `root` ("" for this system), with its resolved paths cached."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._resolved: dict[str, str] = {}
        self._executable: dict[str, str | None] = {}

    def host(self, path: str) -> str | None:
        """Where image path `path` is on this system, links followed inside the root; None on a loop."""
        image = self._resolve(path, 0)
        return None if image is None else (self.root + image or "/")

    def _resolve(self, path: str, hops: int) -> str | None:
        """`path` with every link followed as the image would ("" is its /); results are cached."""
        path = path.rstrip("/")
        if not path:
            return ""
        cached = self._resolved.get(path)
        if cached is not None:
            return cached
        parent, _, name = path.rpartition("/")
        base = self._resolve(parent, hops)
        if base is None:
            return None
        if name in ("", "."):
            result = base
        elif name == "..":
            result = base.rpartition("/")[0]
        else:
            result = f"{base}/{name}"
            try:
                target = os.readlink(self.root + result)
            except OSError:  # not a link, or not there: stat will say
                pass
            else:
                if hops >= SYMLINK_HOPS:
                    return None
                followed = self._resolve(target if target.startswith("/") else f"{base}/{target}", hops + 1)
                if followed is None:
                    return None
                result = followed
        self._resolved[path] = result
        return result

    def stat(self, path: str) -> os.stat_result | str:
        """stat of image path `path` (links followed), or why there is none."""
        host = self.host(path)
        if host is None:
            return "is a loop of symbolic links"
        try:
            return os.lstat(host)  # resolved already: the last component is no link
        except FileNotFoundError:
            return "is a dangling symbolic link" if self.is_link(path) else "does not exist"
        except NotADirectoryError:
            return "does not exist"
        except OSError as e:
            return f"cannot be read: {e.strerror}"

    def is_link(self, path: str) -> bool:
        """Whether the entry at image path `path` is itself a symbolic link."""
        parent, _, name = path.rstrip("/").rpartition("/")
        host = self.host(parent or "/")
        try:
            return host is not None and stat.S_ISLNK(os.lstat(f"{host.rstrip('/')}/{name}").st_mode)
        except OSError:
            return False

    def exists(self, path: str) -> bool:
        """Whether there is an entry (a dangling link counts) at image path `path`."""
        parent, _, name = path.rpartition("/")
        host = self.host(parent or "/")
        return host is not None and os.path.lexists(f"{host.rstrip('/')}/{name}")

    def listdir(self, path: str) -> list[str] | str:
        """Entry names of image directory `path` in byte order ([] when missing), or why not."""
        host = self.host(path)
        if host is None:
            return "not a directory"
        try:
            return sorted(os.listdir(host), key=os.fsencode)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            return "not a directory"
        except OSError as e:
            return f"cannot list: {e.strerror}"

    def read(self, path: str, limit: int) -> bytes | str:
        """Up to `limit` bytes of the regular file at image path `path`, or why not (never blocks)."""
        host = self.host(path)
        if host is None:
            return "is a loop of symbolic links"
        try:
            fd = os.open(host, READ_FLAGS)
        except OSError as e:
            return f"cannot read: {e.strerror}"
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                return f"is {kind(mode)}, expected a regular file"
            chunks, left = [], limit
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError as e:
            return f"cannot read: {e.strerror}"
        finally:
            os.close(fd)

    def executable(self, path: str) -> str | None:
        """Why image path `path` cannot be exec'ed, or None; cached, as every script names the same few."""
        if path not in self._executable:
            self._executable[path] = self._why_not_executable(path)
        return self._executable[path]

    def _why_not_executable(self, path: str) -> str | None:
        st = self.stat(path)
        if isinstance(st, str):
            return st
        if stat.S_ISDIR(st.st_mode):
            return "is a directory"
        if not stat.S_ISREG(st.st_mode):
            return "is not a regular file"
        if not st.st_mode & 0o111:
            return "is not executable"
        return None
