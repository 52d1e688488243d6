"""The processes of Ignity's own tree: what stage 3 may signal, and nothing else.

Stage 3 is PID 1, or a child subreaper under another init: either way every
orphan of its tree is re-parented to it, so its tree is exactly its
descendants through parent links. A process it did not start or adopt (the
other containers of a shared PID namespace, its own parent, a host's
processes) is never in it, so `kill(-1, ...)` is never needed.

What a process says of itself (its name, its argv) never decides what root
opens, signals or waits for: any uid can choose both. Its uid and its
executable, the kernel's, can be checked (owned_by, exe).
"""

from __future__ import annotations

import os


class Proc:
    __slots__ = ("arg1", "argv0", "pgid", "pid", "ppid")

    def __init__(self, pid: int, ppid: int, pgid: int, argv0: str, arg1: str) -> None:
        self.pid, self.ppid, self.pgid, self.argv0, self.arg1 = pid, ppid, pgid, argv0, arg1


def _read(pid: str) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # comm is in parentheses and may itself contain ") ": split at the last one.
    try:
        rest = stat[stat.rindex(b")") + 2 :].split()
        return Proc(int(pid), int(rest[1]), int(rest[2]), "", "")
    except (ValueError, IndexError):
        return None


def descendants(root: int | None = None) -> list[Proc]:
    """Every live process below `root` (default: this process), parents before children."""
    root = os.getpid() if root is None else root
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            p = _read(entry)
            if p is not None:
                children.setdefault(p.ppid, []).append(p)
    found: list[Proc] = []
    todo = [root]
    while todo:
        for p in children.get(todo.pop(), ()):
            found.append(p)
            todo.append(p.pid)
    return found


def argv(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def owned_by(pid: int, uid: int) -> bool:
    """Whether every uid of `pid` (real, effective, saved, filesystem) is `uid`: the kernel's word."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f.read(1 << 16).splitlines():
                if line.startswith(b"Uid:"):
                    return all(int(u) == uid for u in line.split()[1:])
    except (OSError, ValueError):
        pass
    return False


def exe(pid: int) -> str:
    """The program `pid` runs, as the kernel knows it ("" when gone or unreadable)."""
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""
