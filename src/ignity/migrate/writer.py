"""The files `ignity migrate` writes: planned whole first, then written all or nothing.

Nothing is written over an existing file unless forced; every file goes
through a temp file and a rename in its own directory, and no component of a
path is followed if it is a symbolic link (the tree is root's).
"""

from __future__ import annotations

import os
import stat

from ignity.errors import IgnityError


class Plan:
    """Image path -> (content, mode), in the order added."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, int]] = {}
        self.dirs: list[str] = []

    def add(self, path: str, content: bytes | str, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        if path in self.files and self.files[path] != (data, mode):
            raise IgnityError(f"{path}: two conversions write it: rename one of their sources")
        self.files[path] = (data, mode)

    def mkdir(self, path: str) -> None:
        if path not in self.dirs:
            self.dirs.append(path)

    def existing(self, root: str) -> list[str]:
        return [p for p in self.files if os.path.lexists(root + p)]

    def show(self, root: str) -> str:
        lines = []
        for path in self.dirs:
            lines.append(f"  mkdir {path}")
        for path, (data, mode) in self.files.items():
            there = " (exists: --force replaces it)" if os.path.lexists(root + path) else ""
            lines.append(f"  write {path} ({len(data)} bytes, mode {mode:04o}){there}")
        return "\n".join(lines) + ("\n" if lines else "")

    def write(self, root: str, force: bool) -> int:
        """Write every file under `root`; an IgnityError, before anything is written, on a conflict."""
        self.check_dirs(root)
        clash = self.existing(root)
        if clash and not force:
            listed = ", ".join(clash[:5]) + (f" and {len(clash) - 5} more" if len(clash) > 5 else "")
            raise IgnityError(
                f"{listed}: already there, nothing written — remove them, or pass --force to replace them"
            )
        for path in self.dirs:
            _makedirs(root, path)
        for path, (data, mode) in self.files.items():
            parent = path.rpartition("/")[0]
            _makedirs(root, parent)
            _write(root + path, data, mode)
        return len(self.files)

    def check_dirs(self, root: str) -> None:
        """An IgnityError, before anything is written, if a directory the plan needs is not one.

        Each position of each directory must be absent or a real directory (lstat: no
        link), and each file's own path absent or a regular file: then the write cannot
        stop midway on something in the way.
        """
        needed = {p.rpartition("/")[0] for p in self.files} | set(self.dirs)
        for path in sorted(needed):
            current = root
            for part in path.strip("/").split("/"):
                current = f"{current}/{part}"
                try:
                    st = os.lstat(current)
                except FileNotFoundError:
                    break
                if not stat.S_ISDIR(st.st_mode):
                    raise IgnityError(
                        f"{current[len(root) :]}: is in the way, not a directory (links are not followed), "
                        "nothing written — remove it, or move it aside"
                    )
        for path in self.files:
            try:
                st = os.lstat(root + path)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
                raise IgnityError(f"{path}: is in the way, not a file, nothing written — remove it, or move it aside")


def _makedirs(root: str, path: str) -> None:
    """mkdir -p of image path `path` under `root`, refusing a link at any position."""
    current = root
    for part in path.strip("/").split("/"):
        current = f"{current}/{part}"
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise IgnityError(
                f"{current[len(root) :]}: is not a directory (links are not followed): nothing more written"
            )


def _write(host: str, data: bytes, mode: int) -> None:
    directory, _, name = host.rpartition("/")
    temp = f"{directory}/.{name}.ignity-migrate"
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.rename(temp, host)
