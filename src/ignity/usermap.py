"""User mapping: make USER exist with USERMAP_UID:USERMAP_GID.

/etc/passwd and /etc/group are written directly (no useradd needed, so
images without shadow-utils work too), each through a temporary file in the
same directory, fsync'ed and renamed over the original: an interruption leaves
the old file or the new one, never half of one.
"""

from __future__ import annotations

import os

from ignity import log
from ignity.errors import IgnityError

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Mapping

PHASE = "usermap"
ETC = "/etc"


class Account:
    """USER, USERMAP_UID, USERMAP_GID, validated."""

    __slots__ = ("gid", "name", "uid")

    def __init__(self, name: str, uid: int, gid: int) -> None:
        self.name, self.uid, self.gid = name, uid, gid


def _number(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "") or "0"
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) >= 2**32 - 1:
        raise IgnityError(f"{name}={raw!r}: not a valid id, expected a whole number below 4294967295")
    return int(raw)


def from_env(env: Mapping[str, str]) -> Account:
    name = env.get("USER", "") or "root"
    if not name.isascii() or not all(c.isalnum() or c in "._-" for c in name) or name[0] == "-" or len(name) > 32:
        raise IgnityError(f"USER={name!r}: not a valid user name (letters, digits, '.', '_', '-'; at most 32)")
    return Account(name, _number(env, "USERMAP_UID"), _number(env, "USERMAP_GID"))


def _read(path: str) -> list[list[str]]:
    """Every line, split at ':'; comments and blank lines kept so that a rewrite keeps them.

    Split at "\n" only: str.splitlines() would also split at \f or U+2028 inside a field.
    """
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.split(":") for line in lines]


def _entries(rows: list[list[str]]) -> list[list[str]]:
    return [r for r in rows if r[0] and not r[0].startswith("#")]


def _write(path: str, rows: list[list[str]]) -> None:
    """Atomic replace, keeping the original's mode and owner."""
    text = "".join(":".join(row) + "\n" for row in rows)
    try:
        st = os.stat(path)
        mode, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
    except FileNotFoundError:
        mode, uid, gid = 0o644, 0, 0
    tmp = f"{path}.ignity-{os.getpid()}"
    try:
        os.unlink(tmp)  # left by an interrupted run with this same pid (PID 1 is always 1)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, text.encode("utf-8", "surrogateescape"))
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


def ensure(m: Account, etc: str = ETC) -> bool:
    """Make the group and the user exist with the wanted ids; True when a file was written.

    An id that already belongs to another name is reused (and said); a name
    that exists with other ids gets the wanted ones.
    """
    if m.name == "root":
        # root is never remapped: USERMAP_UID/GID then only fill the perms templates.
        return False
    passwd, group = _read(f"{etc}/passwd"), _read(f"{etc}/group")
    changed_group = changed_user = False

    by_gid = next((row for row in _entries(group) if len(row) > 2 and row[2] == str(m.gid)), None)
    if by_gid is not None:
        group_name = by_gid[0]
        if group_name != m.name:
            log.info(PHASE, f"gid {m.gid} already belongs to group {group_name!r}: reused for {m.name}")
    else:
        group_name = m.name
        row = next((r for r in _entries(group) if r[0] == m.name), None)
        if row is not None:
            log.info(PHASE, f"group {m.name!r} had gid {row[2] if len(row) > 2 else '?'}: now {m.gid}")
            row[2:3] = [str(m.gid)]
        else:
            group.append([m.name, "x", str(m.gid), ""])
        changed_group = True

    by_uid = next((row for row in _entries(passwd) if len(row) > 3 and row[2] == str(m.uid)), None)
    if by_uid is not None:
        if by_uid[0] != m.name:
            log.info(PHASE, f"uid {m.uid} already belongs to user {by_uid[0]!r}: reused for {m.name}")
        elif by_uid[3] != str(m.gid):
            by_uid[3] = str(m.gid)
            changed_user = True
    else:
        row = next((r for r in _entries(passwd) if r[0] == m.name), None)
        if row is not None and len(row) >= 7:
            log.info(PHASE, f"user {m.name!r} had uid {row[2]}: now {m.uid}")
            row[2], row[3] = str(m.uid), str(m.gid)
        else:
            passwd.append([m.name, "x", str(m.uid), str(m.gid), "", "/nonexistent", "/bin/false"])
        changed_user = True

    if changed_group:
        _write(f"{etc}/group", group)
    if changed_user:
        _write(f"{etc}/passwd", passwd)
        shadow = f"{etc}/shadow"
        if os.path.exists(shadow) and not any(r[0] == m.name for r in _entries(_read(shadow))):
            _write(shadow, [*_read(shadow), [m.name, "!", "", "", "", "", "", "", ""]])
    if changed_user or changed_group:
        log.debug(PHASE, f"{m.name} is {m.uid}:{m.gid} (group {group_name})")
    return changed_user or changed_group


def run(m: Account) -> None:
    """Map the user if needed, saying once what a non-root user or a read-only /etc prevented."""
    if m.name == "root":
        return
    if os.geteuid() != 0:
        if not _known(m):
            log.info(
                PHASE,
                f"running as uid {os.geteuid()}, not root: user {m.name} ({m.uid}:{m.gid}) not created "
                "(create it at image build time with RUN preboot)",
            )
        return
    try:
        ensure(m)
    except OSError as e:
        log.info(PHASE, f"cannot write {e.filename or ETC} ({e.strerror}): user {m.name} not created "
                 "(create it at image build time with RUN preboot)")  # fmt: skip


def _known(m: Account) -> bool:
    return any(len(r) > 3 and r[0] == m.name and r[2] == str(m.uid) for r in _entries(_read(f"{ETC}/passwd")))
