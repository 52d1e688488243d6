"""Secrets from files: `FILE__NAME=/path` sets NAME to the file's content.

The convention of Docker/Podman/Kubernetes secrets and linuxserver images: a
secret is mounted as a file and its path given in the environment, so that the
value itself never sits in `docker inspect`. Stage 1 resolves these once, as
root, before anything starts; the content then travels like any other
variable of the merged environment (the CMD's environment, `with-env`).

What is read, and how (the path is the operator's; the file may be a link on a
volume someone else writes):

- The path must be absolute. It is resolved one component at a time, from a
  descriptor of the directory above (openat), never by the kernel's own walk:
  a symbolic link is followed only when it is owned by root, or by the user
  Ignity runs as (Kubernetes secret volumes are chains of root's links;
  Podman binds the file itself). A link made by any other uid (a volume the
  application writes) is refused, so it cannot make root read /etc/shadow
  into the application's environment.
- The file is opened with O_PATH first and must be a regular file: a
  directory, fifo, socket or device is refused without ever being opened
  (opening a fifo blocks, opening a device can act on it). It is then read
  through /proc/self/fd, the very inode that was checked.
- At most MAX_BYTES are read; a larger file, a NUL byte, or a value the kernel
  cannot pass to exec is an error.
- Errors name the variable and the path and never the content. The content
  is never logged.

Exactly one trailing newline is removed (`echo secret > file` gives
`secret`); a CR before it, or a second newline, is kept.
"""

from __future__ import annotations

import os
import stat

from ignity import envfile
from ignity.errors import IgnityError

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import MutableMapping

PREFIX = b"FILE__"
MAX_BYTES = 1024 * 1024
# A symbolic-link chain longer than this is refused, as the kernel does (ELOOP).
MAX_LINKS = 40


def resolve(merged: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """`merged` with every FILE__NAME replaced by NAME = the file's content.

    FILE__NAME wins over a NAME set directly (the file is the operator's
    explicit choice). Raises IgnityError (one line: variable and path) on the
    first file that cannot be used; nothing is returned half resolved.
    """
    result = {k: v for k, v in merged.items() if not k.startswith(PREFIX)}
    for key in sorted(k for k in merged if k.startswith(PREFIX)):
        name = key[len(PREFIX) :]
        shown = key.decode("utf-8", "backslashreplace")
        if not envfile.valid_name(name):
            raise IgnityError(f"{shown}: not a valid variable name after {PREFIX.decode()} (expected FILE__NAME=/path)")
        result[name] = read(shown, merged[key])
    return result


def read(variable: str, raw_path: bytes) -> bytes:
    """The content of the file at `raw_path` for `variable`, checked as the module says."""
    path = raw_path.decode("utf-8", "backslashreplace")
    where = f"{variable}={path!r}"
    if not raw_path.startswith(b"/"):
        raise IgnityError(f"{where}: not an absolute path (expected FILE__NAME=/path/to/file)")
    fd = _open_path(raw_path, where)
    try:
        st = os.fstat(fd)
        _check_kind(st, where)
        if st.st_size > MAX_BYTES:
            raise IgnityError(f"{where}: larger than 1 MiB ({st.st_size} bytes)")
        data = _read_checked(fd, st, where)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise IgnityError(f"{where}: larger than 1 MiB")
    if data.endswith(b"\n"):
        data = data[:-1]
    if b"\0" in data:
        raise IgnityError(f"{where}: the file holds a NUL byte, which no environment variable can")
    name = variable[len(PREFIX) :]
    limit = envfile.MAX_VARIABLE - len(name) - 2
    if len(data) > limit:
        raise IgnityError(f"{where}: {len(data)} bytes, a variable can hold at most {limit} (the kernel's limit)")
    return data


def _check_kind(st: os.stat_result, where: str) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a fifo, socket or device)"
    raise IgnityError(f"{where}: {kind}, expected a file")


def _open_path(raw_path: bytes, where: str) -> int:
    """An O_PATH descriptor of the file, following only root's symbolic links."""
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    todo = [p for p in raw_path.split(b"/") if p not in (b"", b".")]
    todo.reverse()  # a stack: the next component last
    dirs = [os.open("/", flags | os.O_DIRECTORY)]
    links = 0
    try:
        while todo:
            part = todo.pop()
            if part == b"..":
                if len(dirs) > 1:
                    os.close(dirs.pop())
                continue
            try:
                fd = os.open(part, flags, dir_fd=dirs[-1])
            except FileNotFoundError:
                raise IgnityError(f"{where}: no such file") from None
            except NotADirectoryError:
                raise IgnityError(f"{where}: a component of the path is not a directory") from None
            except OSError as e:
                raise IgnityError(f"{where}: cannot open: {e.strerror}") from None
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                os.close(fd)
                links += 1
                if st.st_uid not in (0, os.geteuid()):
                    raise IgnityError(
                        f"{where}: {os.fsdecode(part)!r} is a symbolic link owned by uid {st.st_uid}: "
                        "only links owned by root (or by the user Ignity runs as) are followed"
                    )
                if links > MAX_LINKS:
                    raise IgnityError(f"{where}: too many levels of symbolic links")
                target = os.readlink(part, dir_fd=dirs[-1])
                if target.startswith(b"/"):
                    for d in dirs[1:]:
                        os.close(d)
                    del dirs[1:]
                parts = [p for p in target.split(b"/") if p not in (b"", b".")]
                todo.extend(reversed(parts))
                continue
            if todo:
                if not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise IgnityError(f"{where}: a component of the path is not a directory")
                dirs.append(fd)
            else:
                return fd
        # The path named a directory (e.g. "/" or "/tmp/..").
        return os.dup(dirs[-1])
    finally:
        for d in dirs:
            os.close(d)


def _read_checked(path_fd: int, st: os.stat_result, where: str) -> bytes:
    """Read the checked inode: reopened through /proc/self/fd, never by name again."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(f"/proc/self/fd/{path_fd}", flags)
    except FileNotFoundError:
        raise IgnityError(f"{where}: cannot read: /proc is not mounted") from None
    except OSError as e:
        raise IgnityError(f"{where}: cannot read: {e.strerror}") from None
    try:
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
            raise IgnityError(f"{where}: the file changed while it was opened")
        chunks = []
        total = 0
        while total <= MAX_BYTES:
            try:
                chunk = os.read(fd, MAX_BYTES + 1 - total)
            except OSError as e:
                raise IgnityError(f"{where}: cannot read: {e.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def unexport(environ: MutableMapping[str, str]) -> None:
    """Remove FILE__* from `environ`, the environment s6-svscan and so every service inherit.

    The merged environment no longer has them (resolve); this keeps them out
    of what a service sees before `with-env` adds the merged one.
    """
    for key in [k for k in environ if k.startswith("FILE__")]:
        del environ[key]
