"""Fifos, devices and sockets anywhere in /etc/ignity: found by stat alone, before anything reads.

A fifo where an env file is expected blocks the first open() forever, and at
boot that is PID 1, deaf to SIGTERM. So this walk runs first, looks at every
entry of the tree (links followed inside the root, each directory once) and
never opens one; the rules after it read only what is a regular file, and
say nothing more about what this walk reported. A link to a directory is
followed only where Ignity itself follows one (the tree, its subdirectories,
a service, its log/ and dependencies.d/): elsewhere stage 2 copies it as a
link, and a link to / must not walk the whole system at every boot.
"""

from __future__ import annotations

import stat

from ignity import paths
from ignity.check.report import show
from ignity.check.root import kind, special

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.context import Context

FIX = "remove it: Ignity reads only regular files and directories here (opening a fifo would block the boot)"


def _expected(parts: tuple[str, ...]) -> str:
    """What belongs at /etc/ignity/PARTS: a directory where Ignity looks for one, else a regular file."""
    directory = (
        len(parts) <= 1
        or (len(parts) == 2 and parts[0] == "services")
        or (len(parts) in (3, 4) and parts[0] == "services" and parts[-1] in ("log", "dependencies.d"))
    )
    return "a directory" if directory else "a regular file"


def walk(ctx: Context) -> None:
    """Report each fifo, device or socket (or link to one) under /etc/ignity, in byte order of names."""
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[str, str, tuple[str, ...]]] = [(paths.ETC, paths.ETC, ())]
    while stack:
        path, shown, parts = stack.pop()
        st = ctx.view.stat(path)
        if isinstance(st, str):
            continue  # missing or a broken link: the rule that needs it says so
        if special(st.st_mode):
            link = "a symbolic link to " if ctx.view.is_link(path) else ""
            ctx.error(shown, None, f"is {link}{kind(st.st_mode)}, expected {_expected(parts)}", FIX)
            ctx.special.add(shown)
            continue
        if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in visited:
            continue
        if _expected(parts) != "a directory" and ctx.view.is_link(path):
            continue  # a link to a directory elsewhere (say /): Ignity copies it as a link, never reads it
        visited.add((st.st_dev, st.st_ino))
        names = ctx.view.listdir(path)
        if isinstance(names, str):
            continue
        for name in reversed(names):  # popped in byte order
            stack.append((f"{path}/{name}", f"{shown}/{show(name)}", (*parts, name)))
