"""One run of `ignity check` over one tree: the root view, what was found, and the reporting helpers."""

from __future__ import annotations

import stat

from ignity.check.report import ERROR, WARNING, Problem
from ignity.check.root import Root, kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

MAX_READ = 1 << 20  # a script is read this far for its #! line and line endings


class Context:
    """A run over one tree; `live` when the tree is the running system's (errors, not guesses)."""

    def __init__(self, root: str, environ: Mapping[str, str], live: bool, with_perms: bool | None = True) -> None:
        self.root = root
        self.view = Root(root)
        self.environ = environ
        self.live = live
        # None: as the IGNITY_SKIP_PERMS of the env files and the environment say (the boot's own rule)
        self.with_perms = with_perms
        self.settings: dict[str, str] = {}  # IGNITY_* as the boot merges them: env files in order, environment last
        self.problems: list[Problem] = []
        self.mapped_user = ""  # USER: created by the user mapping, so it need not exist yet
        # Paths already reported as fifos, devices or sockets: nothing more is said about them.
        self.special: set[str] = set()
        self.accounts_cache: tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, str]] | None = None

    def error(self, path: str, line: int | None, problem: str, fix: str = "") -> None:
        if path not in self.special:
            self.problems.append(Problem(ERROR, path, line, problem, fix))

    def warning(self, path: str, line: int | None, problem: str, fix: str = "") -> None:
        if path not in self.special:
            self.problems.append(Problem(WARNING, path, line, problem, fix))

    def listdir(self, path: str) -> list[str]:
        """Entry names of image directory `path` in byte order; a missing one is empty, an unlistable reported."""
        names = self.view.listdir(path)
        if isinstance(names, list):
            return names
        fix = f"make {path} a directory, or remove it" if names == "not a directory" else "make it readable"
        self.error(path, None, names, fix)
        return []

    def read(self, path: str, shown: str, limit: int = MAX_READ) -> bytes | None:
        """The start of regular file `path`; None, reported, when it cannot be read."""
        data = self.view.read(path, limit)
        if isinstance(data, str):
            self.error(shown, None, data, "make it a readable file")
            return None
        return data

    def regular(self, path: str, shown: str, what: str, fix: str) -> os.stat_result | None:
        """stat of `path` when it is a regular file; otherwise one error saying what it is instead."""
        st = self.view.stat(path)
        if isinstance(st, str):
            self.error(shown, None, st, fix)
            return None
        if not stat.S_ISREG(st.st_mode):
            self.error(shown, None, f"is {kind(st.st_mode)}, expected {what}", fix)
            return None
        return st
