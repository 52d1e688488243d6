"""The s6-overlay constructs of a script, rewritten for Ignity on the copy `ignity migrate` writes.

Each rewrite is one regular expression on one line (comments skipped), so
the copy differs from the original only where the report says; what it
cannot rewrite (a saved environment read by name, an exit code written with
no halt after it) is left as it is and reported with the line.
"""

from __future__ import annotations

import re

from ignity.check.migration import EXECLINE_BIN, PORTABLE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.root import Root
    from ignity.migrate.report import Report

WITH_ENV = "/usr/bin/with-env"
EXIT_FILE = "/run/s6-linux-init-container-results/exitcode"
PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

_START = r"(?<![\w/.-])"
_END = r"(?![\w.-])"
SHEBANG_CONTENV = re.compile(r"^#!\s*/\S*/with-contenv(?:\s+(.*))?$")
SHEBANG_COMMAND = re.compile(r"^#!\s*/command/(\S+)(.*)$")
CONTENV_WORD = re.compile(_START + r"(?:/command/|/usr/bin/)?with-contenv" + _END)
ENVDIR = re.compile(_START + r"s6-envdir(?:\s+-\w+)*(?:\s+--)?\s+/(?:var/)?run/s6/container_environment/?" + _END)
SVSCANCTL_T = re.compile(_START + r"s6-svscanctl\s+-t\s+/(?:var/)?run/s6/services/?(?=\s|$|;|\))")
HALT = re.compile(_START + r"/run/s6/basedir/bin/halt" + _END)
SCANDIR = re.compile(_START + r"/(?:var/run/s6/services|run/s6/services|run/service)/(?=[\w.-])")
COMMAND_DIR = re.compile(_START + r"/command/([\w.+-]+)" + _END)
SH_EXIT = re.compile(
    r"^(\s*)(?:echo|printf\s+(?:'%s\\n'|\"%s\\n\"|'%s'|\"%s\"))\s+(\S+)\s*>\s*" + re.escape(EXIT_FILE) + r"\s*$"
)
EL_EXIT = re.compile(
    r"foreground\s*\{\s*redirfd\s+-w\s+1\s+" + re.escape(EXIT_FILE) + r"\s+(?:s6-)?echo\s+(?:--\s+)?(\S+)\s*\}"
)
SAVED_ENV = re.compile(_START + r"(?:/(?:var/)?run/s6/container_environment|printcontenv)" + _END)


class Rewriter:
    """Rewrites scripts as the image `root` can run them (which programs it has decides some rewrites)."""

    def __init__(self, root: Root, report: Report) -> None:
        self.root = root
        self.report = report

    def has(self, program: str) -> str | None:
        """Where `program` is in the image (PATH, then execline's directory), or None."""
        for d in (*PATH, EXECLINE_BIN):
            if self.root.executable(f"{d}/{program}") is None:
                return f"{d}/{program}"
        return None

    def script(self, data: bytes, shown: str) -> tuple[bytes, list[str]]:
        """The rewritten copy of a script and what changed; binaries and non-UTF-8 text are copied as they are."""
        if data.startswith(b"\x7fELF"):
            return data, []
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.report.leave(shown, None, "not UTF-8 text: copied as it is", "check it by hand for s6-overlay paths")
            return data, []
        lines = text.split("\n")
        changes: list[str] = []
        execline = "execlineb" in lines[0] if lines[0].startswith("#!") else False
        if lines[0].startswith("#!"):
            lines[0] = self.shebang(lines[0], changes)
        code = None  # the exit code written to s6-overlay's exit code file, as a word of the script
        code_line = 0
        for i in range(1 if lines[0].startswith("#!") else 0, len(lines)):
            line = lines[i]
            if line.lstrip().startswith("#"):
                continue
            new = line
            if EXIT_FILE in new:
                m = (EL_EXIT.search(new) if execline else SH_EXIT.match(new)) or None
                if m is not None:
                    code, code_line = m.group(m.lastindex or 1), i + 1
                    new = EL_EXIT.sub("", new) if execline else f"{m.group(1)}: # exit code {code}: ignity halt below"
                    _once(changes, f"exit code file -> ignity halt {code}")
            new = self.words(new, execline, changes, shown, i + 1)
            if HALT.search(new):
                halt = "ignity halt" if code is None else f"ignity halt {code}"
                new = HALT.sub(halt, new)
                _once(changes, f"/run/s6/basedir/bin/halt -> {halt}")
                code = None
            if SAVED_ENV.search(new):
                self.report.leave(
                    shown,
                    i + 1,
                    "reads s6-overlay's saved environment",
                    f"Ignity keeps none: run the program under {WITH_ENV} (or #!{WITH_ENV} sh)",
                )
            lines[i] = new
        if code is not None:
            self.report.leave(
                shown,
                code_line,
                f"writes exit code {code} to {EXIT_FILE} with no halt after it",
                f"call `ignity halt {code}` where the container should stop",
            )
        out = "\n".join(lines).encode("utf-8")
        return out, changes

    def shebang(self, line: str, changes: list[str]) -> str:
        m = SHEBANG_CONTENV.match(line)
        if m:
            program = (m.group(1) or "sh").strip()
            _once(changes, f"#!with-contenv -> #!{WITH_ENV}")
            return f"#!{WITH_ENV} {program}"
        m = SHEBANG_COMMAND.match(line)
        if m and self.root.executable(f"/command/{m.group(1)}") is not None:
            found = self.has(m.group(1))
            if found is not None:
                _once(changes, f"/command/{m.group(1)} -> {found}")
                return f"#!{found}{m.group(2)}"
        return line

    def words(self, line: str, execline: bool, changes: list[str], shown: str, number: int) -> str:
        """Programs and paths of s6-overlay in one line of a script."""
        if ENVDIR.search(line):
            line = ENVDIR.sub(WITH_ENV, line)
            _once(changes, f"s6-envdir of the saved environment -> {WITH_ENV}")
        if CONTENV_WORD.search(line):
            line = CONTENV_WORD.sub(WITH_ENV, line)
            _once(changes, f"with-contenv -> {WITH_ENV}")
        if SVSCANCTL_T.search(line):
            line = SVSCANCTL_T.sub("ignity halt", line)
            _once(changes, "s6-svscanctl -t of the v2 scan directory -> ignity halt")
        if SCANDIR.search(line):
            line = SCANDIR.sub("/run/ignity/services-state/", line)
            _once(changes, "s6-overlay's scan directory -> /run/ignity/services-state")
        for m in list(COMMAND_DIR.finditer(line)):
            program = m.group(1)
            if self.root.executable(f"/command/{program}") is None:
                continue
            found = self.has(program)
            if found is None:
                self.report.leave(shown, number, f"/command/{program} is not in the image", f"install {program}")
                continue
            line = line.replace(m.group(0), program if found.startswith(PATH) else found, 1)
            _once(changes, f"/command/{program} -> {program}")
        for program, (sh_equivalent, why) in PORTABLE.items():
            pattern = re.compile(_START + re.escape(program) + _END)
            if not pattern.search(line) or self.has(program) is not None:
                continue
            if sh_equivalent is None:
                self.report.leave(shown, number, f"{program} is not in the image", why)
                continue
            equivalent = sh_equivalent
            if program == "s6-test" and execline:
                equivalent = "eltest" if self.has("eltest") else "test"
            line = pattern.sub(equivalent, line)
            _once(changes, f"{program} -> {equivalent}")
        return line


def _once(changes: list[str], change: str) -> None:
    if change not in changes:
        changes.append(change)
