"""Write the merged environment as an s6 envdir that `with-env` reads back exactly.

`s6-envdir -fnL` gives each file's whole content as the value, newlines and
length kept, but unsets the variable for an empty file; so empty values go to
ENVS_EMPTY as one-newline files, read by a second `s6-envdir` without -f.
Values cannot contain NUL (the kernel forbids it), which -f would translate.
"""

from __future__ import annotations

import os

from ignity import paths

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Mapping

# The longest file name Linux file systems take.
NAME_MAX = 255


def storable(name: bytes) -> bool:
    """Whether `name` can be a file in the envdir without escaping it.

    s6-envdir skips dot-files and names with `=`; a `/` would leave the
    directory; a file name has at most NAME_MAX bytes. Such variables cannot reach with-env and are reported instead.
    """
    return (
        0 < len(name) <= NAME_MAX
        and b"/" not in name
        and b"=" not in name
        and b"\0" not in name
        and not name.startswith(b".")
    )


def write(
    env: Mapping[bytes, bytes],
    directory: str = paths.ENVS,
    empty_dir: str = paths.ENVS_EMPTY,
    group: int | None = None,
    unset: tuple[bytes, ...] = (),
) -> list[bytes]:
    """Write `env` into `directory`; return the names that could not be stored.

    The environment may hold secrets: files are 0600 and the directories
    0700, the writer's own. With `group` (root writing for a mapped user),
    they are root's with that group, 0640 and 0750: the mapped user can read
    them (with-env as that user) and never write them (with-env as root).
    Each name of `unset` gets an empty file, which s6-envdir reads as "unset":
    variables of the inherited environment that with-env must not pass on.
    """
    fmode, dmode = (0o640, 0o750) if group is not None else (0o600, 0o700)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.makedirs(empty_dir, mode=0o700, exist_ok=True)
    d = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    e = os.open(empty_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    skipped: list[bytes] = []
    env = {**{name: b"" for name in unset if name not in env and storable(name)}, **env}
    try:
        for dfd in (d, e):
            if group is not None:
                os.fchown(dfd, 0, group)
            os.fchmod(dfd, dmode)
        for name, value in env.items():
            if not storable(name):
                skipped.append(name)
                continue
            if value or name not in unset:
                target, data = (d, value) if value else (e, b"\n")
            else:
                target, data = d, b""  # unset
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600, dir_fd=target)
                try:
                    if group is not None:
                        os.fchown(fd, 0, group)
                        os.fchmod(fd, fmode)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            except OSError as err:  # named, for the one-line error (a full /run/ignity)
                err.filename = f"{directory if value else empty_dir}/{name.decode(errors='replace')}"
                raise
    finally:
        os.close(d)
        os.close(e)
    return skipped
