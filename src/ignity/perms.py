"""The perms phase: ownership and modes, fixed without ever following a link.

A volume is other people's data: a symbolic link in it may point at
/etc/shadow, and its owner may swap a directory for a link while root walks
it. So a rule's path is opened one component at a time from `/`, each with
O_NOFOLLOW relative to the one before (a link anywhere skips the rule);
below it, every directory is opened relative to its parent with O_NOFOLLOW
and every change is made through a descriptor: a link is never followed,
not even one swapped in while the walk runs. (openat2's RESOLVE_NO_SYMLINKS
would need ctypes, which python3-minimal does not have.)

The walk is iterative and holds a bounded number of directories open
(HELD_DIRS), so no depth of tree and no open-file limit stops it; an
ancestor it comes back to is re-opened and must be the same inode. Nothing
fails silently and nothing stops the boot: each rule ends with at most one
line per kind of problem. Only what differs is changed, so a second run
writes nothing.

Rule formats, one per line (blank lines and `#` comments ignored):

    PATH UID:GID FMODE DMODE               recursive
    PATH RECURSE ACCOUNT FMODE DMODE       RECURSE is true or false
"""

from __future__ import annotations

import errno
import os
import stat

from ignity import log
from ignity.errors import IgnityError

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

PHASE = "perms"


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


_KINDS = {stat.S_IFIFO: "a fifo", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}


def read_files(paths: Iterable[str], variables: Mapping[str, str]) -> list[Rule]:
    """Every rule of every file, in order. Each must be a regular file: never a link
    (not followed), and a fifo or a device is named, never read (it could block)."""
    rules: list[Rule] = []
    for path in paths:
        rules.extend(parse(_read_text(path), path, variables))
    return rules


def _read_text(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise IgnityError(f"{path}: is a symbolic link, expected a perms file (links are not followed)") from None
        raise IgnityError(f"{path}: cannot read: {e.strerror}") from None
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind == stat.S_IFDIR:
            raise IgnityError(f"{path}: is a directory, expected a perms file")
        if kind != stat.S_IFREG:
            raise IgnityError(f"{path}: is {_KINDS.get(kind, 'not a regular file')}, expected a perms file")
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as e:
        raise IgnityError(f"{path}: cannot read: {e.strerror}") from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


class Stats:
    """What one rule's run changed, and what it could not, each counted once.

    `failed`: changes or opens that failed (EROFS, EPERM, EMFILE, ...);
    `raced`: entries that changed under the walk (a directory replaced by a
    link, moved away or swapped), not followed; `linked`: files left alone
    because they have other hard links that may lie outside the rule's tree.
    For each, the first path and reason are kept for the rule's one line.
    """

    __slots__ = ("changed", "failed", "first_failure", "first_linked", "first_raced", "linked", "raced", "seen")

    def __init__(self) -> None:
        self.seen = self.changed = self.failed = self.raced = self.linked = 0
        self.first_failure = self.first_raced = self.first_linked = ""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Regular files only (the entry was read as one): O_NONBLOCK and O_NOCTTY in case
# it was swapped for a fifo or a terminal since; fstat then says what was opened.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# Also for the components of a rule's path: like the path lookup it replaces, an
# O_PATH open needs search permission only, not read (a 0711 home works as non-root).
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# Descriptors held for the directories being walked: the deepest ones, plus the
# rule's own directory. An ancestor left behind is re-opened when the walk comes
# back up to it (through "..", verified), so a tree of any depth needs no more.
HELD_DIRS = 32


def hardlinks_protected() -> bool:
    """Whether the kernel refuses hard links to files the linker does not own or may not write.

    With fs.protected_hardlinks=1 a hostile user can only hard-link into a
    volume files it could change anyway, so changing a multiply-linked file
    gives it nothing. When the setting is 0 or cannot be read, it may have
    linked /etc/shadow: such files are left alone.
    """
    try:
        with open("/proc/sys/fs/protected_hardlinks", "rb") as f:
            return f.read().strip() == b"1"
    except OSError:
        return False


class _Dir:
    """A directory on the walk's stack: its name in its parent, identity, descriptor (-1 when not held)."""

    __slots__ = ("dead", "dev", "fd", "ino", "name", "subdirs")

    def __init__(self, name: str, st: os.stat_result, fd: int) -> None:
        self.name, self.dev, self.ino, self.fd = name, st.st_dev, st.st_ino, fd
        self.subdirs: list[str] = []
        self.dead = False  # moved or swapped while the walk was away: not re-opened


class _Walk:
    """One rule applied to one tree, iteratively, without following any link.

    Entries are named for messages only, and lazily: `name` is an entry of
    the deepest directory on the stack (None: that directory itself, or the
    rule's path before the walk starts).
    """

    def __init__(self, rule: Rule, can_chown: bool, links_ok: bool, stats: Stats) -> None:
        self.rule, self.can_chown, self.links_ok, self.stats = rule, can_chown, links_ok, stats
        self.stack: list[_Dir] = []

    # --- bookkeeping ---------------------------------------------------------

    def where(self, name: str | None = None, depth: int | None = None) -> str:
        if not self.stack:
            return self.rule.path  # before the walk: the rule's own path (or its last component)
        parts = [d.name for d in self.stack[: None if depth is None else depth + 1]]
        if name is not None:
            parts.append(name)
        return "/".join(parts)

    def fail(self, name: str | None, e: OSError, depth: int | None = None) -> None:
        self.stats.failed += 1
        if not self.stats.first_failure:
            self.stats.first_failure = f"{self.where(name, depth)}: {e.strerror or e}"

    def raced(self, name: str | None, depth: int | None = None) -> None:
        self.stats.raced += 1
        if not self.stats.first_raced:
            self.stats.first_raced = self.where(name, depth)

    # --- changing one entry --------------------------------------------------

    def fix(self, fd: int, st: os.stat_result, pinned: bool, name: str | None) -> bool:
        """Fix the entry open as `fd` (its fstat `st`) through the descriptor: no path, so no link.

        `pinned`: an O_PATH descriptor, changed through /proc/self/fd/N, which
        names exactly that inode. False when a change failed.
        """
        rule = self.rule
        is_dir = stat.S_ISDIR(st.st_mode)
        mode = rule.dmode if is_dir else rule.fmode
        chown = self.can_chown and (st.st_uid != rule.uid or st.st_gid != rule.gid)
        # chown clears the set-id bits of a file: set them again when wanted.
        chmod = stat.S_IMODE(st.st_mode) != mode or (chown and bool(mode & 0o6000))
        if not (chown or chmod):
            return True
        if not is_dir and st.st_nlink > 1 and self.can_chown and not self.links_ok:
            self.stats.linked += 1
            if not self.stats.first_linked:
                self.stats.first_linked = self.where(name)
            return True
        try:
            if pinned:
                proc = f"/proc/self/fd/{fd}"
                if chown:
                    os.chown(proc, rule.uid, rule.gid)
                if chmod:
                    os.chmod(proc, mode)
            else:
                if chown:
                    os.fchown(fd, rule.uid, rule.gid)
                if chmod:
                    os.fchmod(fd, mode)
        except OSError as e:
            if pinned and e.errno == errno.ENOENT and not os.path.isdir("/proc/self/fd"):
                e = OSError(e.errno, "cannot be changed without /proc (special files are never opened)")
            self.fail(name, e)
            return False
        self.stats.changed += 1
        return True

    def fix_entry(self, name: str, dfd: int, st: os.stat_result) -> None:
        """Fix the non-directory entry `name` of `dfd`, read as `st` (not a link).

        A regular file is opened with O_NOFOLLOW; anything else (a device:
        opening one can act on it; a fifo: opening one can block; a socket)
        and a file we may not read get an O_PATH descriptor, never opened for I/O.
        """
        fd = -1
        if stat.S_ISREG(st.st_mode):
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
            except FileNotFoundError:
                return  # gone since it was read: nothing to fix
            except OSError as e:
                if e.errno == errno.ELOOP:
                    self.raced(name)  # replaced by a link since it was read
                    return
                if e.errno not in (errno.EACCES, errno.EPERM):
                    self.fail(name, e)
                    return
        pinned = fd < 0
        if pinned:
            try:
                fd = os.open(name, _PATH_FLAGS, dir_fd=dfd)
            except FileNotFoundError:
                return
            except OSError as e:
                self.fail(name, e)
                return
        try:
            now = os.fstat(fd)
            kind = stat.S_IFMT(now.st_mode)
            if kind in (stat.S_IFLNK, stat.S_IFDIR) or (not pinned and kind != stat.S_IFREG):
                self.raced(name)  # swapped since it was read: left alone
                return
            self.fix(fd, now, pinned, name)
        finally:
            os.close(fd)

    # --- directories -----------------------------------------------------------

    def open_dir(self, name: str, dfd: int) -> tuple[int, os.stat_result] | None:
        """Open and fix the directory `name` of `dfd` (read as one); None when it cannot be walked (reported)."""
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
        except FileNotFoundError:
            return None  # gone since it was listed
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                self.raced(name)  # replaced by a link or a file since it was listed
                return None
            if e.errno != errno.EACCES:
                self.stats.seen += 1
                self.fail(name, e)
                return None
            return self._unreadable_dir(name, dfd, e)
        try:
            st = os.fstat(fd)
        except OSError as e:
            os.close(fd)
            self.fail(name, e)
            return None
        self.stats.seen += 1
        self.fix(fd, st, False, name)
        return fd, st

    def _unreadable_dir(self, name: str, dfd: int, denied: OSError) -> tuple[int, os.stat_result] | None:
        """A directory we may not read (we are not root): fix its mode through O_PATH, then open it again."""
        self.stats.seen += 1
        try:
            pfd = os.open(name, _PATH_FLAGS | os.O_DIRECTORY, dir_fd=dfd)
        except OSError:
            self.fail(name, denied)
            return None
        try:
            st = os.fstat(pfd)
            changed = self.stats.changed
            if not self.fix(pfd, st, True, name):
                return None  # reported
            if self.stats.changed == changed:
                self.fail(name, denied)  # its mode is what the rule says, and still unreadable
                return None
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except OSError as e:
                self.fail(name, e)
                return None
            if not _same(fd, st.st_dev, st.st_ino):
                os.close(fd)
                self.raced(name)
                return None
            return fd, st
        finally:
            os.close(pfd)

    def scan(self, top: _Dir) -> None:
        """Fix every non-directory entry of `top`, list its subdirectories; links are left alone."""
        rule, stats, can_chown = self.rule, self.stats, self.can_chown
        uid, gid, fmode = rule.uid, rule.gid, rule.fmode
        subdirs = top.subdirs
        try:
            with os.scandir(top.fd) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)  # one call: most entries are files
                    except FileNotFoundError:
                        continue  # gone since it was listed
                    except OSError as e:
                        self.fail(entry.name, e)
                        continue
                    mode = st.st_mode
                    if stat.S_ISDIR(mode):
                        subdirs.append(entry.name)  # fixed when opened, through its descriptor
                    elif not stat.S_ISLNK(mode):
                        stats.seen += 1
                        if stat.S_IMODE(mode) != fmode or (can_chown and (st.st_uid != uid or st.st_gid != gid)):
                            self.fix_entry(entry.name, top.fd, st)
        except OSError as e:
            self.fail(None, e)
        subdirs.reverse()  # taken from the end: in the listing's order

    def reopen(self, depth: int) -> None:
        """Hold stack[depth] again: ".." of its held child, or else name by name from the top, each verified.

        The directory found must be the one recorded (st_dev, st_ino) when it
        was first opened; one moved or swapped since is not followed, and
        what was left of it (and of the directories between) is skipped.
        """
        stack = self.stack
        here, child = stack[depth], stack[depth + 1]
        if child.fd >= 0:
            try:
                fd = os.open("..", _DIR_FLAGS, dir_fd=child.fd)
            except OSError:
                fd = -1
            if fd >= 0:
                if _same(fd, here.dev, here.ino):
                    here.fd = fd
                    return
                os.close(fd)
        fd, own = stack[0].fd, False  # own: fd was opened here, for a directory not held
        for i in range(1, depth + 1):
            d = stack[i]
            error: OSError | None = None
            if d.fd >= 0:
                nfd, mine = d.fd, False  # held: start again from there
            else:
                try:
                    nfd = os.open(d.name, _DIR_FLAGS, dir_fd=fd)
                except OSError as e:
                    nfd, error = -1, e
                mine = True
                if nfd >= 0 and not _same(nfd, d.dev, d.ino):
                    os.close(nfd)
                    nfd = -1
            if own:
                os.close(fd)
            if nfd < 0:
                if error is None or error.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
                    self.raced(None, i)  # moved, or swapped for a link or another directory
                else:
                    self.fail(None, error, i)
                for lost in stack[i : depth + 1]:
                    lost.subdirs, lost.dead = [], True
                return
            fd, own = nfd, mine
        here.fd = fd

    def walk(self, fd: int, st: os.stat_result) -> None:
        """Everything below the directory open as `fd` (the caller keeps and closes it).

        Depth-first with an explicit stack; of the directories on it, the
        rule's own and the deepest HELD_DIRS are held open, so neither the
        depth of the tree nor the open-file limit matters.
        """
        stack = self.stack
        stack.append(_Dir(self.rule.path, st, fd))
        self.scan(stack[0])
        try:
            while True:
                top = stack[-1]
                if top.subdirs:
                    name = top.subdirs.pop()
                    opened = self.open_dir(name, top.fd)
                    if opened is None:
                        continue
                    stack.append(_Dir(name, opened[1], opened[0]))
                    far = len(stack) - 1 - HELD_DIRS
                    if far >= 1 and stack[far].fd >= 0:
                        os.close(stack[far].fd)
                        stack[far].fd = -1
                    self.scan(stack[-1])
                    continue
                if len(stack) == 1:
                    return
                # Going up: the directory that now enters the held window comes back first.
                up = len(stack) - 1 - HELD_DIRS
                if up >= 1 and stack[up].fd < 0 and not stack[up].dead:
                    self.reopen(up)
                stack.pop()
                if top.fd >= 0:
                    os.close(top.fd)
        finally:
            for d in stack[1:]:
                if d.fd >= 0:
                    os.close(d.fd)
            stack.clear()


def _same(fd: int, dev: int, ino: int) -> bool:
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return st.st_dev == dev and st.st_ino == ino


def _skip(rule: Rule, why: str) -> None:
    log.info(PHASE, f"{rule.source}: {why}")


def apply(rule: Rule, can_chown: bool | None = None, links_ok: bool | None = None) -> Stats:
    """Apply `rule`: every component of its path opened from / without following a link.

    A missing PATH is a notice; a link anywhere in PATH skips the rule with a
    notice naming it; every other problem is counted in the Stats.
    """
    if can_chown is None:
        can_chown = os.geteuid() == 0
    if links_ok is None:
        links_ok = hardlinks_protected()
    stats = Stats()
    walk = _Walk(rule, can_chown, links_ok, stats)
    names = rule.path.strip("/").split("/")
    try:
        dfd = os.open("/", _PATH_FLAGS | os.O_DIRECTORY)
    except OSError as e:
        walk.fail(None, e)
        return stats
    try:
        walked = ""
        for name in names[:-1]:
            walked += "/" + name
            try:
                nfd = os.open(name, _PATH_FLAGS | os.O_DIRECTORY, dir_fd=dfd)
            except OSError as e:
                _path_problem(rule, walk, walked, name, dfd, e)
                return stats
            os.close(dfd)
            dfd = nfd
        base = names[-1]
        try:
            st = os.stat(base, dir_fd=dfd, follow_symlinks=False)
        except OSError as e:
            _path_problem(rule, walk, rule.path, base, dfd, e)
            return stats
        if stat.S_ISLNK(st.st_mode):
            _skip(rule, f"{rule.path} is a symbolic link, not followed: rule skipped")
            return stats
        if not stat.S_ISDIR(st.st_mode):
            stats.seen += 1
            walk.fix_entry(base, dfd, st)
            return stats
        try:
            fd = os.open(base, _DIR_FLAGS, dir_fd=dfd)
        except OSError as e:
            _path_problem(rule, walk, rule.path, base, dfd, e)
            return stats
        try:
            st = os.fstat(fd)
            stats.seen += 1
            walk.fix(fd, st, False, None)
            if rule.recurse:
                walk.walk(fd, st)
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    return stats


def _path_problem(rule: Rule, walk: _Walk, walked: str, name: str, dfd: int, e: OSError) -> None:
    """Why the component `walked` of a rule's path (`name` in `dfd`) could not be opened: one line."""
    if e.errno in (errno.ELOOP, errno.ENOTDIR):
        try:
            mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            rest = "rule skipped" if walked == rule.path else f"rule for {rule.path} skipped"
            _skip(rule, f"{walked} is a symbolic link, not followed: {rest}")
        elif mode and not stat.S_ISDIR(mode):
            _skip(rule, f"{walked} is not a directory: rule for {rule.path} skipped")
        else:
            walk.raced(walked)
    elif e.errno == errno.ENOENT:
        _skip(rule, f"{rule.path} does not exist, skipped")
    else:
        walk.stats.seen += 1
        walk.fail(None, OSError(e.errno, f"cannot open {walked}: {e.strerror}"))


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def report(rule: Rule, stats: Stats) -> None:
    """The rule's outcome: a debug line, and one line for each kind of problem (the first one named)."""
    log.debug(PHASE, f"{rule.source}: {rule.path}: {stats.seen} checked, {stats.changed} changed")
    head = f"{rule.source}: {rule.path}:"
    if stats.failed:
        log.info(
            PHASE,
            f"{head} {_plural(stats.failed, 'entry', 'entries')} could not be changed, first {stats.first_failure}",
        )
    if stats.raced:
        log.info(
            PHASE,
            f"{head} {_plural(stats.raced, 'entry', 'entries')} changed during the walk (replaced by a link, moved "
            f"or swapped): not followed, left as they are; first {stats.first_raced}",
        )
    if stats.linked:
        log.info(
            PHASE,
            f"{head} {_plural(stats.linked, 'file', 'files')} with more than one hard link left as they are "
            f"(fs.protected_hardlinks is not 1: another link may lie outside {rule.path}); first {stats.first_linked}",
        )


def apply_all(rules: list[Rule]) -> None:
    """Apply every rule in order; a rule that cannot be fully applied is reported and the next one goes on."""
    can_chown = os.geteuid() == 0
    if not can_chown and rules:
        log.info(PHASE, f"running as uid {os.geteuid()}, not root: ownership left as it is, modes fixed where allowed")
    links_ok = hardlinks_protected() if rules else True
    for rule in rules:
        report(rule, apply(rule, can_chown, links_ok))
