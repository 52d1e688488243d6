"""`ignity check`: find what would break an image's Ignity setup, without running anything.

Meant for `RUN ignity check` at image build time, where a mistake costs a
rebuild instead of a crash loop, and for stage 1, which stops on errors before
it starts anything. Each problem names the file (as seen in the image) and,
when it has one, the line, says what is wrong and how to fix it.

The package: `root` is the view of an image root (links resolved inside it,
nothing but regular files opened), `context` one run over it, and the rules
live by area: `special` (fifos, devices, sockets: first, so nothing reads
them), `envs`, `perms`, `scripts`, `services` (with `jobs`, a service's schedule), `dependencies`, `migration`
(what an s6-overlay image has that Ignity would ignore). The parsers are the
boot's own (envfile, perms, config), so the messages are the ones the boot
would print.
"""

from __future__ import annotations

import os
import sys

from ignity import paths
from ignity.check import envs, migration, scripts, services, special
from ignity.check import perms as perms_rules
from ignity.check.context import Context
from ignity.check.perms import PERMS_VARIABLES
from ignity.check.report import ERROR, WARNING, Problem, did_you_mean, service_name_problem, show
from ignity.check.scripts import PATH
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ERROR",
    "PATH",
    "PERMS_VARIABLES",
    "SUBDIRS",
    "WARNING",
    "Problem",
    "at_boot",
    "main",
    "run",
    "service_name_problem",
    "special_at_boot",
]

SUBDIRS = ("envs", "perms", "init", "finalize", "services")


class _Checker(Context):
    """One run over one tree: every rule, in the order a reader walks the tree."""

    def all(self) -> list[Problem]:
        if self.root and not os.path.isdir(self.root):
            self.error(self.root, None, "no such directory", "name the image's root directory with --root")
            return self.problems
        migration.directories(self)
        etc = self.view.stat(paths.ETC)
        if isinstance(etc, str):
            self.warning(paths.ETC, None, etc, "`ignity install` creates it; with --root, name the image's root")
            envs.environment(self)
            return self.problems
        special.walk(self)  # before anything opens a file
        self.top_level()
        envs.env_files(self)
        envs.environment(self)
        if self.with_perms is None:
            self.with_perms = self.settings.get("IGNITY_SKIP_PERMS", "").lstrip("0") != "1"
        if self.with_perms:
            perms_rules.perms_files(self)
        for kind in ("init", "finalize"):
            for name in self.listdir(f"{paths.ETC}/{kind}"):
                if not name.startswith("."):
                    scripts.script(self, f"{paths.ETC}/{kind}/{name}", f"{paths.ETC}/{kind}/{show(name)}")
        services.services(self)
        return self.problems

    def top_level(self) -> None:
        for name in self.listdir(paths.ETC):
            if name.startswith(".") or name in SUBDIRS:
                continue
            close = did_you_mean(name, SUBDIRS)
            self.warning(
                f"{paths.ETC}/{show(name)}",
                None,
                "unknown entry: Ignity reads only " + ", ".join(SUBDIRS),
                f"did you mean {close}?" if close else "move it where it belongs, or remove it",
            )


def run(root: str = "", environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem in the tree under `root` ("" or "/": this system), errors and warnings, in walk order.

    `environ` is checked for IGNITY_* and S6_* variables; by default that is
    this process's environment when the tree is this system's, nothing otherwise.
    """
    root = root.rstrip("/")
    live = not root
    if environ is None:
        environ = os.environ if live else {}
    return _Checker(root, environ, live).all()


def main(root: str, as_json: bool) -> int:
    """`ignity check`: print the problems (errors first); 1 when there is an error, else 0.

    A clean tree prints nothing in text mode; --json always prints one object,
    {"errors": [...], "warnings": [...]}, so that a consumer always gets JSON.
    """
    problems = run(root)
    errors = [p for p in problems if p.severity == ERROR]
    warnings = [p for p in problems if p.severity == WARNING]
    if as_json:
        from ignity import jsonout

        report = {"errors": [p.to_dict() for p in errors], "warnings": [p.to_dict() for p in warnings]}
        sys.stdout.write(jsonout.dumps(report, indent=2) + "\n")
    else:
        text = "".join(f"{p.severity}: {p}\n" for p in (*errors, *warnings))
        sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))
    sys.stdout.flush()
    return 1 if errors else 0


def at_boot(environ: Mapping[str, str], skip_perms: bool | None = None) -> None:
    """Stage 1's use: warnings and errors logged, and an IgnityError when there is an error.

    It opens nothing but regular files (never a fifo), so stage 1 can run it
    first, before anything else reads /etc/ignity. With IGNITY_SKIP_PERMS=1
    the boot never reads the perms files, so they cannot stop it: `skip_perms`
    None takes that setting as the boot does (env files, then `environ`).
    """
    from ignity import log

    with_perms = None if skip_perms is None else not skip_perms
    problems = _Checker("", environ, live=True, with_perms=with_perms).all()
    for p in problems:
        (log.error if p.severity == ERROR else log.info)("check", f"{p.severity}: {p}")
    count = sum(p.severity == ERROR for p in problems)
    if count:
        raise IgnityError(f"{count} error(s) in {paths.ETC} (listed above): nothing started")


def special_at_boot() -> None:
    """Only the fifo/device/socket walk of /etc/ignity, logged, and an IgnityError if it found any.

    For a stage 1 that keeps reading the env files (and its own messages for
    them) before the full at_boot: this runs first, costs a stat per entry,
    and opens nothing, so no fifo can block PID 1 before at_boot reports it.
    """
    from ignity import log

    ctx = _Checker("", {}, live=True, with_perms=False)
    special.walk(ctx)
    for p in ctx.problems:
        log.error("check", f"{p.severity}: {p}")
    if ctx.problems:
        raise IgnityError(f"{len(ctx.problems)} error(s) in {paths.ETC} (listed above): nothing started")
