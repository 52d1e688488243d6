"""`ignity check`: find what would break an /etc/ignity tree, without running anything.

Meant for `RUN ignity check` at image build time, where a mistake costs a
rebuild instead of a crash loop, and for stage 1, which stops on errors before
it starts anything. Each problem names the file (as seen in the image) and,
when it has one, the line, says what is wrong and how to fix it.

With --root the tree is someone else's: every path, symbolic links included,
is resolved inside the root (an absolute link target is relative to it), and
interpreters and accounts are looked up in the root's files, never the
running system's. The parsers are the boot's own (envfile, perms, config), so
the messages are the ones the boot would print.
"""

from __future__ import annotations

import os
import stat
import sys

from ignity import config, envfile, paths, perms
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ERROR = "error"
WARNING = "warning"

SUBDIRS = ("envs", "perms", "init", "finalize", "services")
# Where `#!/usr/bin/env prog` (and with-env) finds prog: the usual container PATH.
PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# perms files are checked with the placeholders of the default account.
PERMS_VARIABLES = {"USERMAP_UID": "0", "USERMAP_GID": "0"}
# Interpreters that take one program name and exec it through PATH.
CHAINERS = ("env", "with-env")
ENVIRONMENT = "environment"

UINT_MAX = 2**32 - 1  # s6 reads its control files as unsigned ints
# control file -> (lowest, highest) accepted value
CONTROL_FILES = {
    "notification-fd": (3, UINT_MAX),
    "timeout-kill": (0, UINT_MAX),
    "timeout-finish": (0, UINT_MAX),
    "max-death-tally": (0, 4096),
}
MAX_NAME = 255  # bytes in a file name (NAME_MAX)
MAX_READ = 1 << 20  # a script is read this far for its #! line and line endings
SYMLINK_HOPS = 40  # the kernel's own limit (ELOOP)

CR_FIX = "convert the file to Unix line endings: dos2unix FILE, or sed -i 's/\\r$//' FILE"
ENV_FIX = "each line is NAME=VALUE, blank or a # comment (README: Env file format)"
PERMS_FIX = "each line is 'PATH UID:GID FMODE DMODE' or 'PATH RECURSE ACCOUNT FMODE DMODE' (README: perms)"


class Problem:
    """One thing wrong in the tree: where (path as in the image, line or None), what, and how to fix it."""

    __slots__ = ("fix", "line", "path", "problem", "severity")

    def __init__(self, severity: str, path: str, line: int | None, problem: str, fix: str = "") -> None:
        self.severity, self.path, self.line, self.problem, self.fix = severity, path, line, problem, fix

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.problem}" + (f" — {self.fix}" if self.fix else "")

    def __repr__(self) -> str:
        return f"Problem({self.severity!r}, {self.path!r}, {self.line!r}, {self.problem!r}, {self.fix!r})"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "problem": self.problem, "fix": self.fix}


def _show(name: str) -> str:
    """A file name fit for a one-line message (a newline in a name would split it)."""
    return name if name.isprintable() else repr(name)[1:-1]


def _split_error(error: IgnityError, source: str) -> tuple[int | None, str]:
    """(line, problem) out of an IgnityError message `SOURCE:LINE: problem`."""
    message = str(error)
    if not message.startswith(source + ":"):
        return None, message
    rest = message[len(source) + 1 :]
    number, sep, problem = rest.partition(": ")
    if sep and number.isdigit():
        return int(number), problem
    return None, rest.lstrip()


def _number(text: str) -> bool:
    """What perms reads as an id rather than a name."""
    return text.isascii() and text.isdigit()


def service_name_problem(name: str) -> str | None:
    """Why s6 cannot take `name` as a service directory name, or None."""
    if "/" in name:
        return "service name contains '/'"
    if "\n" in name:
        return "service name contains a newline"
    if len(os.fsencode(name)) > MAX_NAME:
        return f"service name is longer than {MAX_NAME} bytes"
    return None


class _Checker:
    """One run over one tree; `live` when the tree is the running system's (errors, not guesses)."""

    def __init__(self, root: str, environ: Mapping[str, str], live: bool, with_perms: bool = True) -> None:
        self.root = root
        self.environ = environ
        self.live = live
        self.with_perms = with_perms
        self.problems: list[Problem] = []
        self.mapped_user = ""  # USER: created by the user mapping, so it need not exist yet
        self._accounts: tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, str]] | None = None
        self._resolved: dict[str, str] = {}
        self._executable: dict[str, str | None] = {}

    # --- reporting and paths ------------------------------------------------

    def error(self, path: str, line: int | None, problem: str, fix: str = "") -> None:
        self.problems.append(Problem(ERROR, path, line, problem, fix))

    def warning(self, path: str, line: int | None, problem: str, fix: str = "") -> None:
        self.problems.append(Problem(WARNING, path, line, problem, fix))

    def host(self, path: str) -> str | None:
        """Where image path `path` is on this system, links followed inside the root; None on a loop."""
        if not self.root:
            return path
        image = self._resolve(path, 0)
        return None if image is None else self.root + image

    def _resolve(self, path: str, hops: int) -> str | None:
        """`path` with every link followed as the image would ("" is its /); directories are cached."""
        path = path.rstrip("/")
        if not path:
            return ""
        cached = self._resolved.get(path)
        if cached is not None:
            return cached
        parent, _, name = path.rpartition("/")
        base = self._resolve(parent, hops)
        if base is None:
            return None
        if name in ("", "."):
            result = base
        elif name == "..":
            result = base.rpartition("/")[0]
        else:
            result = f"{base}/{name}"
            try:
                target = os.readlink(self.root + result)
            except OSError:  # not a link, or not there: stat will say
                pass
            else:
                if hops >= SYMLINK_HOPS:
                    return None
                followed = self._resolve(target if target.startswith("/") else f"{base}/{target}", hops + 1)
                if followed is None:
                    return None
                result = followed
        self._resolved[path] = result
        return result

    def stat(self, path: str) -> os.stat_result | str:
        """stat of image path `path`, or why there is none."""
        host = self.host(path)
        if host is None:
            return "is a loop of symbolic links"
        try:
            return os.stat(host)
        except FileNotFoundError:
            return "is a dangling symbolic link" if self.exists(path) else "does not exist"
        except NotADirectoryError:
            return "does not exist"
        except OSError as e:
            return f"cannot be read: {e.strerror}"

    def exists(self, path: str) -> bool:
        """Whether there is an entry (a dangling link counts) at image path `path`."""
        parent, _, name = path.rpartition("/")
        host = self.host(parent or "/")
        return host is not None and os.path.lexists(f"{host.rstrip('/')}/{name}")

    def listdir(self, path: str) -> list[str]:
        """Entry names of image directory `path` in byte order; a missing one is empty."""
        host = self.host(path)
        try:
            if host is None:
                raise NotADirectoryError
            return sorted(os.listdir(host), key=os.fsencode)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            self.error(path, None, "not a directory", f"make {path} a directory, or remove it")
        except OSError as e:
            self.error(path, None, f"cannot list: {e.strerror}", "make it readable")
        return []

    def read(self, path: str, limit: int = MAX_READ) -> bytes | None:
        host = self.host(path)
        try:
            if host is None:
                raise OSError(0, "symbolic link loop")
            with open(host, "rb") as f:
                return f.read(limit)
        except OSError as e:
            self.error(path, None, f"cannot read: {e.strerror}", "make it a readable file")
            return None

    def executable(self, path: str) -> str | None:
        """Why image path `path` cannot be exec'ed, or None; cached, as every script names the same few."""
        if path not in self._executable:
            self._executable[path] = self._why_not_executable(path)
        return self._executable[path]

    def _why_not_executable(self, path: str) -> str | None:
        st = self.stat(path)
        if isinstance(st, str):
            return st
        if stat.S_ISDIR(st.st_mode):
            return "is a directory"
        if not stat.S_ISREG(st.st_mode):
            return "is not a regular file"
        if not st.st_mode & 0o111:
            return "is not executable"
        return None

    # --- the tree ------------------------------------------------------------

    def all(self) -> list[Problem]:
        if self.root and not os.path.isdir(self.root):
            self.error(self.root, None, "no such directory", "name the image's root directory with --root")
            return self.problems
        etc = self.stat(paths.ETC)
        if isinstance(etc, str):
            self.warning(paths.ETC, None, etc, "`ignity install` creates it; with --root, name the image's root")
            self.environment()
            return self.problems
        self.top_level()
        self.env_files()
        self.environment()
        if self.with_perms:
            self.perms_files()
        for kind in ("init", "finalize"):
            for name in self.listdir(f"{paths.ETC}/{kind}"):
                if not name.startswith("."):
                    self.script(f"{paths.ETC}/{kind}/{name}", f"{paths.ETC}/{kind}/{_show(name)}")
        self.services()
        return self.problems

    def top_level(self) -> None:
        for name in self.listdir(paths.ETC):
            if name.startswith(".") or name in SUBDIRS:
                continue
            import difflib

            close = difflib.get_close_matches(name, SUBDIRS, n=1, cutoff=0.8)
            self.warning(
                f"{paths.ETC}/{_show(name)}",
                None,
                "unknown entry: Ignity reads only " + ", ".join(SUBDIRS),
                f"did you mean {close[0]}?" if close else "move it where it belongs, or remove it",
            )

    def data_files(self, sub: str, kind: str) -> Iterator[tuple[str, bytes]]:
        """(path as shown, contents) of each readable regular file of /etc/ignity/SUB; the rest reported."""
        directory = f"{paths.ETC}/{sub}"
        for name in self.listdir(directory):
            if name.startswith("."):
                continue
            path, shown = f"{directory}/{name}", f"{directory}/{_show(name)}"
            st = self.stat(path)
            if isinstance(st, str):
                self.error(shown, None, st, f"remove it, or make it {kind}")
                continue
            if stat.S_ISDIR(st.st_mode):
                self.error(shown, None, f"is a directory, expected {kind}", f"move its files up into {sub}/")
                continue
            if not stat.S_ISREG(st.st_mode):  # a fifo would hang the read (and the boot)
                self.error(shown, None, "is not a regular file", f"make it {kind}, or remove it")
                continue
            data = self.read(path, 1 << 30)
            if data is not None:
                yield shown, data

    # --- env files and IGNITY_* ------------------------------------------------

    def env_files(self) -> None:
        """Every line of every env file (all bad lines, not only the first), then its IGNITY_* names."""
        for shown, data in self.data_files("envs", "an env file"):
            for number, line in enumerate(data.split(b"\n"), start=1):
                try:
                    parsed = envfile.parse(line, shown)
                except IgnityError as e:
                    problem = _split_error(e, shown)[1]
                    carriage_return = line.endswith(b"\r")
                    self.error(shown, number, problem, "" if carriage_return else ENV_FIX)
                    if carriage_return:
                        break  # one report for a file with Windows line endings
                    continue
                for key, value in parsed.items():
                    if key == b"USER":
                        self.mapped_user = value.decode("utf-8", "replace")
                    if key.startswith(b"IGNITY_"):
                        self.setting(key.decode("ascii"), value.decode("utf-8", "replace"), shown, number)

    def environment(self) -> None:
        for key in sorted(self.environ):
            if key.startswith("IGNITY_"):
                self.setting(key, self.environ[key], ENVIRONMENT, None)
        if self.environ.get("USER"):
            self.mapped_user = self.environ["USER"]

    def setting(self, name: str, value: str, path: str, line: int | None) -> None:
        if name not in config.KNOWN:
            import difflib

            close = difflib.get_close_matches(name, config.KNOWN, n=1, cutoff=0.8)
            self.warning(
                path,
                line,
                f"unknown variable {name}: Ignity ignores it",
                f"did you mean {close[0]}?" if close else "remove it (known: README, Settings)",
            )
            return
        try:
            config.from_env({name: value})
        except IgnityError as e:
            default = config.KNOWN[name][0]
            self.error(path, line, str(e), f"correct it, or leave it empty for the default ({default})")

    # --- perms files ----------------------------------------------------------

    def accounts(self) -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, str]]:
        """(user -> (uid, gid), uid -> gid, group -> gid) from the image's /etc/passwd and /etc/group."""
        if self._accounts is None:
            users: dict[str, tuple[str, str]] = {}
            by_uid: dict[str, str] = {}
            groups: dict[str, str] = {}
            for row in self._rows("/etc/passwd"):
                if len(row) > 3 and row[2].isdigit() and row[3].isdigit():
                    users.setdefault(row[0], (row[2], row[3]))
                    by_uid.setdefault(str(int(row[2])), row[3])
            for row in self._rows("/etc/group"):
                if len(row) > 2 and row[2].isdigit():
                    groups.setdefault(row[0], row[2])
            self._accounts = users, by_uid, groups
        return self._accounts

    def _rows(self, path: str) -> list[list[str]]:
        host = self.host(path)
        try:
            if host is None:
                return []
            with open(host, encoding="utf-8", errors="surrogateescape") as f:
                return [line.split(":") for line in f.read().splitlines() if line and not line.startswith("#")]
        except OSError:
            return []

    def unresolved(self, where: str, line: int, problem: str, fix: str) -> None:
        """A name the image lacks: certain on the running system, only likely in a tree under --root."""
        if self.live:
            self.error(where, line, problem, fix)
        else:
            self.warning(
                where, line, problem, fix + f" (looked up in {self.root}/etc/passwd and {self.root}/etc/group)"
            )

    def account(self, line: str, shown: str, number: int) -> str:
        """`line` with the account's names replaced by the image's ids.

        perms.parse would look names up on the running system, which under
        --root is not the image; numbers it checks itself, so they are kept.
        """
        if "{{" in line:
            return line  # an unknown placeholder: perms.parse says so
        fields = line.split()
        index = {4: 1, 5: 2}.get(len(fields))
        if index is None:
            return line
        user, sep, group = fields[index].partition(":")
        if not user or (sep and not group):
            return line
        users, by_uid, groups = self.accounts()
        fix = "create it in the image (useradd/groupadd, or USER with USERMAP_UID/USERMAP_GID), or use a number"
        uid, gid = user, "0"
        if not _number(user):
            uid, gid = users.get(user, ("0", "0"))
            if user not in users and user != self.mapped_user:
                self.unresolved(shown, number, f"no user named {user!r} in this image", fix)
        elif not sep and int(user) < UINT_MAX:
            gid = by_uid.get(str(int(user)), "0")
            if str(int(user)) not in by_uid:
                self.unresolved(
                    shown,
                    number,
                    f"account {user!r} has no group and uid {user} has no entry to take it from",
                    "write UID:GID",
                )
        if sep:
            gid = group
            if not _number(group):
                gid = groups.get(group, "0")
                if group not in groups and group != self.mapped_user:
                    self.unresolved(shown, number, f"no group named {group!r} in this image", fix)
        fields[index] = f"{uid}:{gid}"
        return " ".join(fields)

    def perms_files(self) -> None:
        for shown, data in self.data_files("perms", "a perms file"):
            text = data.decode("utf-8", "surrogateescape")
            for number, raw in enumerate(text.split("\n"), start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                for key, value in PERMS_VARIABLES.items():
                    line = line.replace("{{" + key + "}}", value)
                try:
                    perms.parse(self.account(line, shown, number), shown, PERMS_VARIABLES)
                except IgnityError as e:
                    self.error(shown, number, _split_error(e, shown)[1], PERMS_FIX)

    # --- scripts ----------------------------------------------------------------

    def script(self, path: str, shown: str) -> None:
        """An init/finalize script or a run/finish file: can the kernel exec it as it is?"""
        st = self.stat(path)
        if isinstance(st, str):
            self.error(shown, None, st, "point it at an existing file, or remove it")
            return
        if stat.S_ISDIR(st.st_mode):
            self.error(shown, None, "is a directory, expected an executable", "move it out, or remove it")
            return
        if not stat.S_ISREG(st.st_mode):
            self.error(shown, None, "is not a regular file", "make it an executable file")
            return
        if not st.st_mode & 0o111:
            self.error(shown, None, "is not executable", f"chmod +x {shown}")
        head = self.read(path)
        if head is None or head.startswith(b"\x7fELF"):
            return
        first, _, _ = head.partition(b"\n")
        if first.endswith(b"\r"):
            self.error(
                shown,
                1,
                "the #! line ends with a carriage return (Windows line endings): the kernel looks for an "
                'interpreter whose name ends in \\r ("No such file or directory")',
                CR_FIX,
            )
        elif b"\r\n" in head:
            number = head[: head.index(b"\r\n")].count(b"\n") + 1
            self.error(shown, number, "line ends with a carriage return (Windows line endings)", CR_FIX)
        if not head.startswith(b"#!"):
            self.error(
                shown,
                1,
                'no #! line: the kernel cannot run it ("Exec format error")',
                "make its first line an interpreter line, e.g. #!/bin/sh",
            )
            return
        self.shebang(os.fsdecode(first[2:].rstrip(b"\r")), shown)

    def shebang(self, text: str, shown: str) -> None:
        """The interpreter as the kernel reads it: one name, then at most one argument (the rest)."""
        interpreter, _, argument = text.strip(" \t").replace("\t", " ").partition(" ")
        argument = argument.strip(" ")
        if not interpreter:
            self.error(shown, 1, "the #! line names no interpreter", "e.g. #!/bin/sh")
            return
        if not interpreter.startswith("/"):
            self.error(
                shown,
                1,
                f"interpreter {interpreter!r} is not an absolute path",
                f"write the full path (#!/bin/{interpreter}) or #!/usr/bin/env {interpreter}",
            )
            return
        why = self.executable(interpreter)
        if why is not None:
            base = interpreter.rpartition("/")[2]
            fix = (
                "run `ignity install` in the image (it writes /usr/bin/with-env)"
                if base == "with-env"
                else f"install {base} in the image, or change the #! line"
            )
            self.error(shown, 1, f"interpreter {interpreter} {why} in the image", fix)
            return
        base = interpreter.rpartition("/")[2]
        if base in CHAINERS:
            self.chained(base, interpreter, argument, shown)

    def chained(self, base: str, interpreter: str, argument: str, shown: str) -> None:
        """The program `#!/usr/bin/env PROG` or `#!/usr/bin/with-env PROG` will look up on PATH."""
        if not argument:
            self.error(shown, 1, f"#!{interpreter} names no program", f"e.g. #!{interpreter} sh")
            return
        program = argument
        if argument.startswith("-"):
            option = argument.split(" ", 1)[0]
            if base != "env" or "S" not in option:
                return  # options we do not model
            words = [w for w in argument[argument.index("S") + 1 :].split() if "=" not in w]
            if not words or words[0].startswith("-"):
                return
            program = words[0]
        elif " " in argument:
            fix = (
                f"use #!{interpreter} -S {argument}"
                if base == "env"
                else f"keep one word after {interpreter} (e.g. #!{interpreter} sh), "
                "or make with-env the first command inside the script"
            )
            self.error(
                shown,
                1,
                f"{base} gets {argument!r} as one program name: the kernel passes the rest of the #! line "
                "as a single argument",
                fix,
            )
            return
        if "/" in program:
            why = self.executable(program) if program.startswith("/") else None
            if why is not None:
                self.error(shown, 1, f"{program} (run by {base}) {why} in the image", "install it, or fix the path")
            return
        if not any(self.executable(f"{d}/{program}") is None for d in PATH):
            self.error(
                shown,
                1,
                f"{program} (run by {base}) is not on PATH ({':'.join(PATH)}) in the image",
                f"install {program} in the image, or name it by absolute path",
            )

    # --- services ---------------------------------------------------------------

    def services(self) -> None:
        directory = f"{paths.ETC}/services"
        for name in self.listdir(directory):
            shown = f"{directory}/{_show(name)}"
            if name.startswith("."):
                # A dot directory looks like a service that will never run; a .gitkeep file is fine.
                st = self.stat(f"{directory}/{name}")
                if not isinstance(st, str) and stat.S_ISDIR(st.st_mode):
                    self.warning(
                        shown, None, "name starts with a dot: Ignity and s6 ignore it", "rename it, or remove it"
                    )
                continue
            bad = service_name_problem(name)
            if bad is not None:
                self.error(shown, None, bad, "rename it (letters, digits, '-', '_', '.')")
                continue
            self.service(f"{directory}/{name}", shown, with_log=True)

    def service(self, path: str, shown: str, with_log: bool) -> None:
        st = self.stat(path)
        if isinstance(st, str) or not stat.S_ISDIR(st.st_mode):
            self.error(
                shown,
                None,
                st if isinstance(st, str) else "not a directory, expected a service directory",
                f"a service is a directory with an executable run file: {shown}/run",
            )
            return
        names = set(self.listdir(path))  # one read of the directory, not a lookup per file
        if "run" not in names:
            self.error(shown, None, "no run file: s6 cannot start it", f"add an executable {shown}/run")
        else:
            self.script(f"{path}/run", f"{shown}/run")
        if "finish" in names:
            self.script(f"{path}/finish", f"{shown}/finish")
        if "down" in names:
            down = self.stat(f"{path}/down")
            if isinstance(down, str) or not stat.S_ISREG(down.st_mode):
                why = down if isinstance(down, str) else "is not a regular file"
                self.error(f"{shown}/down", None, why, f"make it an empty file: touch {shown}/down")
        for name, (low, high) in CONTROL_FILES.items():
            if name in names:
                self.control_file(f"{path}/{name}", f"{shown}/{name}", name, low, high)
        if with_log and "log" in names:
            self.service(f"{path}/log", f"{shown}/log", with_log=False)

    def control_file(self, path: str, shown: str, name: str, low: int, high: int) -> None:
        """One of s6's number files: digits, one optional newline, within s6's range."""
        st = self.stat(path)
        if isinstance(st, str) or not stat.S_ISREG(st.st_mode):
            self.error(
                shown, None, st if isinstance(st, str) else "is not a regular file", f"write a number in {shown}"
            )
            return
        data = self.read(path, 64)
        if data is None:
            return
        text = data[:-1] if data.endswith(b"\n") else data
        if not text.isdigit():
            fix = CR_FIX if b"\r" in data else f"write a whole number from {low} to {high} and a newline"
            self.error(shown, 1, f"{name} is {_show(os.fsdecode(data))!r}, not a whole number", fix)
            return
        value = int(text)
        if name == "notification-fd" and value < low:
            self.error(
                shown,
                1,
                f"notification-fd is {value}: fds 0, 1 and 2 are the service's stdin, stdout and stderr",
                "use 3 or above, and have the service write its readiness newline on that fd",
            )
        elif not low <= value <= high:
            self.error(shown, 1, f"{name} is {value}, out of range", f"write a whole number from {low} to {high}")


def run(root: str = "", environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every problem in the tree under `root` ("" or "/": this system), errors and warnings, in walk order.

    `environ` is checked for IGNITY_* variables; by default that is this
    process's environment when the tree is this system's, nothing otherwise.
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


def at_boot(environ: Mapping[str, str], skip_perms: bool = False) -> None:
    """Stage 1's use: warnings and errors logged, and an IgnityError when there is an error.

    With IGNITY_SKIP_PERMS=1 the boot never reads the perms files, so they cannot stop it.
    """
    from ignity import log

    problems = _Checker("", environ, live=True, with_perms=not skip_perms).all()
    for p in problems:
        (log.error if p.severity == ERROR else log.info)("check", f"{p.severity}: {p}")
    count = sum(p.severity == ERROR for p in problems)
    if count:
        raise IgnityError(f"{count} error(s) in {paths.ETC} (listed above): nothing started")
