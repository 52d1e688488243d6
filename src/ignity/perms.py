"""The perms phase: ownership and modes, fixed without ever following a link.

A volume is other people's data: a symbolic link in it may point at
/etc/shadow. So the walk opens every directory relative to its parent with
O_NOFOLLOW, and every change is made relative to that directory fd with
AT_SYMLINK_NOFOLLOW: a link is never followed, not even one swapped in while
the walk runs. Only what differs is changed, so a second run writes nothing.

Rule formats, one per line (blank lines and `#` comments ignored):

    PATH UID:GID FMODE DMODE               recursive
    PATH RECURSE ACCOUNT FMODE DMODE       RECURSE is true or false
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping

from ignity import log
from ignity.errors import IgnityError

PHASE = "perms"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Rule:
    """One line of a perms file, resolved to numbers."""

    __slots__ = ("dmode", "fmode", "gid", "path", "recurse", "source", "uid")

    def __init__(self, path: str, recurse: bool, uid: int, gid: int, fmode: int, dmode: int, source: str) -> None:
        self.path, self.recurse, self.uid, self.gid = path, recurse, uid, gid
        self.fmode, self.dmode, self.source = fmode, dmode, source

    def __repr__(self) -> str:
        return f"Rule({self.path!r}, recurse={self.recurse}, {self.uid}:{self.gid}, {self.fmode:04o}, {self.dmode:04o})"


def _mode(text: str, what: str, where: str) -> int:
    if not (3 <= len(text) <= 4) or any(c not in "01234567" for c in text):
        raise IgnityError(f"{where}: {what} {text!r} is not an octal mode like 0644")
    return int(text, 8)


def _id(text: str, kind: str, where: str) -> int:
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        if len(digits) > 10 or int(digits) >= 2**32 - 1:
            raise IgnityError(f"{where}: {kind} id {text[:20]} is out of range")
        return int(digits)
    import grp
    import pwd

    try:
        return pwd.getpwnam(text).pw_uid if kind == "user" else grp.getgrnam(text).gr_gid
    except (KeyError, ValueError):  # ValueError: a NUL byte in the name
        raise IgnityError(f"{where}: no {kind} named {text!r} in this image") from None


def _account(text: str, where: str) -> tuple[int, int]:
    user, sep, group = text.partition(":")
    if not user or (sep and not group):
        raise IgnityError(f"{where}: account {text!r} is not USER:GROUP (names or numbers)")
    uid = _id(user, "user", where)
    if sep:
        return uid, _id(group, "group", where)
    import pwd

    try:
        return uid, pwd.getpwuid(uid).pw_gid
    except KeyError:
        raise IgnityError(
            f"{where}: account {text!r} has no group and uid {uid} has no entry to take it from"
        ) from None


def parse(text: str, source: str, variables: Mapping[str, str]) -> list[Rule]:
    """Every rule of one perms file; any bad line fails the whole file."""
    rules = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        for name, value in variables.items():
            line = line.replace("{{" + name + "}}", value)
        if "{{" in line:
            start = line.index("{{")
            end = line.find("}}", start)
            if end < 0:
                word = line[start:].split()[0]
                raise IgnityError(f"{where}: placeholder {word!r} has no closing '}}}}'")
            raise IgnityError(f"{where}: unknown placeholder {line[start : end + 2]!r}")
        fields = line.split()
        if len(fields) == 4:
            path, account, fmode, dmode = fields
            recurse = True
        elif len(fields) == 5:
            path, flag, account, fmode, dmode = fields
            if flag not in ("true", "false"):
                raise IgnityError(f"{where}: RECURSE must be true or false, got {flag!r}")
            recurse = flag == "true"
        else:
            raise IgnityError(
                f"{where}: expected 'PATH UID:GID FMODE DMODE' or 'PATH RECURSE ACCOUNT FMODE DMODE', "
                f"got {len(fields)} field(s)"
            )
        if not path.startswith("/"):
            raise IgnityError(f"{where}: path {path!r} is not absolute")
        path = os.path.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        if path == "/":
            raise IgnityError(f"{where}: refusing to change the whole file system ('/')")
        uid, gid = _account(account, where)
        rules.append(Rule(path, recurse, uid, gid, _mode(fmode, "FMODE", where), _mode(dmode, "DMODE", where), where))
    return rules


def read_files(paths: Iterable[str], variables: Mapping[str, str]) -> list[Rule]:
    rules: list[Rule] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except IsADirectoryError:
            raise IgnityError(f"{path}: is a directory, expected a perms file") from None
        except OSError as e:
            raise IgnityError(f"{path}: cannot read: {e.strerror}") from None
        rules.extend(parse(text, path, variables))
    return rules


class Stats:
    """What a run changed, and what it could not (counted, reported once)."""

    __slots__ = ("changed", "denied", "seen")

    def __init__(self) -> None:
        self.seen = self.changed = self.denied = 0


_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _wanted(st: os.stat_result, rule: Rule, can_chown: bool) -> tuple[bool, bool, int]:
    """(chown needed, chmod needed, the mode) for an entry as it is now."""
    mode = rule.dmode if stat.S_ISDIR(st.st_mode) else rule.fmode
    chown = can_chown and (st.st_uid != rule.uid or st.st_gid != rule.gid)
    # chown clears the set-id bits of a file: set them again when wanted.
    return chown, stat.S_IMODE(st.st_mode) != mode or (chown and bool(mode & 0o6000)), mode


def _fix_fd(fd: int, st: os.stat_result, rule: Rule, can_chown: bool, stats: Stats) -> None:
    """Fix an entry through an fd opened on it: no path, so no link, can be involved."""
    stats.seen += 1
    chown, chmod, mode = _wanted(st, rule, can_chown)
    if not (chown or chmod):
        return
    try:
        if chown:
            os.fchown(fd, rule.uid, rule.gid)
        if chmod:
            os.fchmod(fd, mode)
        stats.changed += 1
    except PermissionError:
        stats.denied += 1


def _fix(name: str, dfd: int, st: os.stat_result, rule: Rule, can_chown: bool, stats: Stats) -> None:
    """Fix a non-directory entry of `dfd`, read as `st` (never a link)."""
    chown, chmod, _ = _wanted(st, rule, can_chown)
    if not (chown or chmod):
        stats.seen += 1
        return
    if stat.S_ISREG(st.st_mode):
        # Opened with O_NOFOLLOW: a file swapped for a link since it was read fails here.
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                _fix_fd(fd, os.fstat(fd), rule, can_chown, stats)
            finally:
                os.close(fd)
            return
    # Devices, fifos, sockets (never opened for I/O: opening a device can act
    # on it), or a file we may not read: an O_PATH descriptor pins the inode,
    # and /proc/self/fd/N names exactly that inode, never a link.
    stats.seen += 1
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return  # gone since it was read
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return  # replaced by a link since it was read: links are never touched
        pinned = f"/proc/self/fd/{fd}"
        if chown:
            os.chown(pinned, rule.uid, rule.gid)
        if chmod:
            os.chmod(pinned, rule.fmode)
        stats.changed += 1
    except PermissionError:
        stats.denied += 1
    except OSError:
        pass  # no /proc, or gone
    finally:
        os.close(fd)


def _walk(dfd: int, rule: Rule, can_chown: bool, stats: Stats) -> None:
    try:
        entries = os.scandir(dfd)
    except PermissionError:
        stats.denied += 1
        return
    with entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            if not stat.S_ISDIR(st.st_mode):
                _fix(entry.name, dfd, st, rule, can_chown, stats)
                continue
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dfd)
            except PermissionError:
                stats.seen += 1
                stats.denied += 1
                continue
            except OSError:
                continue  # swapped for a link since it was read: not followed
            try:
                _fix_fd(child, os.fstat(child), rule, can_chown, stats)
                _walk(child, rule, can_chown, stats)
            finally:
                os.close(child)


def apply(rule: Rule, can_chown: bool | None = None) -> Stats:
    """Apply `rule`; a missing PATH is a notice, not an error."""
    if can_chown is None:
        can_chown = os.geteuid() == 0
    stats = Stats()
    parent, _, base = rule.path.rstrip("/").rpartition("/")
    try:
        pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        stats.seen = stats.denied = 1
        return stats
    except OSError:
        log.info(PHASE, f"{rule.source}: {rule.path} does not exist, skipped")
        return stats
    try:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            log.info(PHASE, f"{rule.source}: {rule.path} does not exist, skipped")
            return stats
        except PermissionError:
            stats.seen = stats.denied = 1
            return stats
        if stat.S_ISLNK(st.st_mode):
            log.info(PHASE, f"{rule.source}: {rule.path} is a symbolic link, not followed")
            return stats
        if not stat.S_ISDIR(st.st_mode):
            _fix(base, pfd, st, rule, can_chown, stats)
            return stats
        try:
            dfd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
        except PermissionError:
            stats.seen += 1
            stats.denied += 1
            return stats
        except OSError:
            return stats  # replaced by a link or a file since it was read: not followed
        try:
            _fix_fd(dfd, os.fstat(dfd), rule, can_chown, stats)
            if rule.recurse:
                _walk(dfd, rule, can_chown, stats)
        finally:
            os.close(dfd)
    finally:
        os.close(pfd)
    return stats


def apply_all(rules: list[Rule]) -> None:
    can_chown = os.geteuid() == 0
    if not can_chown and rules:
        log.info(PHASE, f"running as uid {os.geteuid()}, not root: ownership left as it is, modes fixed where allowed")
    for rule in rules:
        stats = apply(rule, can_chown)
        log.debug(PHASE, f"{rule.source}: {rule.path}: {stats.seen} checked, {stats.changed} changed")
        if stats.denied:
            log.info(
                PHASE, f"{rule.source}: {rule.path}: {stats.denied} file(s) could not be changed (permission denied)"
            )
