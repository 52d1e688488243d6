"""`ignity migrate --from supervisord FILE`: each [program:x] of a supervisord.conf as a service directory.

The run script does what supervisord does at a spawn (environment, directory,
umask, user, then exec of the command), written as sh with every value
quoted; `%(ENV_X)s` stays a run-time "${X}". The restart behaviour becomes
the restart-policy files, start order the dependencies, output the service's
output or a log/. Everything else is reported, never dropped silently.
"""

from __future__ import annotations

import glob
import os
import re

from ignity.check.report import service_name_problem, show
from ignity.check.root import Root
from ignity.errors import IgnityError
from ignity.migrate.report import Report
from ignity.migrate.rewrite import PATH
from ignity.migrate.shell import MARK, quote, split, word
from ignity.migrate.writer import Plan

ETC = "/etc/ignity"
EXPANSION = re.compile(r"%\(([A-Za-z0-9_]+)\)([-#0 +]*[0-9]*(?:\.[0-9]+)?[sdi])|%%")
PROGRAM_KEYS = {
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "environment",
    "directory",
    "umask",
}
# Keys that change nothing a container sees, or have no equivalent: key -> what the report says
NOT_CONVERTED = {
    "stdout_capture_maxbytes": "process communication events: no equivalent",
    "stderr_capture_maxbytes": "process communication events: no equivalent",
    "stdout_events_enabled": "supervisord events: no equivalent",
    "stderr_events_enabled": "supervisord events: no equivalent",
    "stdout_syslog": "no syslog: give the service a log/ that forwards its lines",
    "stderr_syslog": "no syslog: give the service a log/ that forwards its lines",
    "serverurl": "no XML-RPC server: `ignity status`, `ignity start|stop NAME` are the control",
}
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
STDOUT = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")
STDERR = ("/dev/stderr", "/dev/fd/2", "/proc/self/fd/2")


class Section:
    def __init__(self, name: str, path: str, line: int) -> None:
        self.name, self.path, self.line = name, path, line
        self.values: dict[str, tuple[str, str, int]] = {}  # key -> (value, file, line)

    def where(self, key: str | None = None) -> tuple[str, int]:
        if key is not None and key in self.values:
            return self.values[key][1], self.values[key][2]
        return self.path, self.line


def parse(path: str, text: str, sections: dict[str, Section], shown: str | None = None) -> None:
    """supervisord's ini: `[section]`, `key = value` (or `:`), indented continuation lines, ; and # comments."""
    current: Section | None = None
    key = ""
    path = path if shown is None else shown
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        if line[0] in " \t" and current is not None and key:
            value, where, at = current.values[key]
            current.values[key] = (value + "\n" + _uncomment(stripped), where, at)
            continue
        if stripped.startswith("["):
            if not stripped.endswith("]"):
                raise IgnityError(f"{path}:{number}: section header {stripped!r} has no closing ']'")
            name = stripped[1:-1].strip()
            current = sections.get(name) or Section(name, path, number)
            sections[name] = current
            key = ""
            continue
        at = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if current is None or at <= 0:
            raise IgnityError(f"{path}:{number}: expected [section] or key = value, got {stripped!r}")
        key = line[:at].strip().lower()
        current.values[key] = (_uncomment(line[at + 1 :].strip()), path, number)


def _uncomment(value: str) -> str:
    """An inline comment starts at ; or # after whitespace (configparser's inline_comment_prefixes)."""
    for i, c in enumerate(value):
        if c in ";#" and i > 0 and value[i - 1] in " \t":
            return value[:i].rstrip()
    return value


def read(path: str, root: str = "") -> tuple[dict[str, Section], dict[str, str]]:
    """The sections of the main file and of its [include] files (named as in the image); each file's %(here)s."""
    sections: dict[str, Section] = {}
    here = {}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise IgnityError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    parse(path, text, sections, _image(path, root))
    here[_image(path, root)] = os.path.dirname(_image(os.path.abspath(path), root))
    include = sections.get("include")
    if include is not None and "files" in include.values:
        base = os.path.dirname(os.path.abspath(path))
        for pattern in include.values["files"][0].replace("%(here)s", _image(base, root)).split():
            full = root + pattern if pattern.startswith("/") else os.path.join(base, pattern)
            for name in sorted(glob.glob(full)):
                try:
                    with open(name, encoding="utf-8") as f:
                        parse(name, f.read(), sections, _image(name, root))
                except (OSError, UnicodeDecodeError) as e:
                    raise IgnityError(f"{name}: cannot read: {getattr(e, 'strerror', None) or e}") from None
                here[_image(name, root)] = os.path.dirname(_image(os.path.abspath(name), root))
    return sections, here


def _image(path: str, root: str) -> str:
    """`path` as the image sees it (without the --root prefix)."""
    return path[len(root) :] if root and path.startswith(root + "/") else path


class Converter:
    def __init__(self, path: str, root: str) -> None:
        self.path = path
        self.view = Root(root)
        self.plan = Plan()
        self.report = Report("supervisord")
        self.services: list[tuple[str, int, bool]] = []  # (name, priority, autostart)

    def find(self, program: str) -> str:
        for d in PATH:
            if self.view.executable(f"{d}/{program}") is None:
                return f"{d}/{program}"
        return f"/usr/bin/{program}"

    def run(self) -> tuple[Plan, Report]:
        sections, self.here = read(self.path, self.view.root)
        groups: dict[str, str] = {}
        for name, section in sections.items():
            if name.startswith("group:"):
                members = [m.strip() for m in section.values.get("programs", ("", "", 0))[0].split(",") if m.strip()]
                for m in members:
                    groups[m] = name[6:]
                path, line = section.where()
                self.report.leave(
                    path,
                    line,
                    f"[{name}] ({', '.join(members)}): no groups in Ignity",
                    "start and stop each service by name (ignity start|stop NAME...)",
                )
        self.globals = sections.get("supervisord")
        for name, section in sections.items():
            path, line = section.where()
            if name.startswith("program:"):
                self.program(section, name[8:], groups.get(name[8:], name[8:]))
            elif name in ("supervisord", "include"):
                self.settings(section)
            elif name.startswith("group:"):
                continue
            elif name in ("unix_http_server", "inet_http_server", "supervisorctl") or name.startswith("rpcinterface:"):
                self.report.note(f"{path}:{line}: [{name}] not needed: `ignity status|start|stop` talk to s6 directly")
            else:
                self.report.leave(
                    path, line, f"[{name}] has no equivalent", "write that part by hand (a service, or an init script)"
                )
        self.order()
        return self.plan, self.report

    def settings(self, section: Section) -> None:
        for key, (value, path, line) in section.values.items():
            if key in ("files", "environment", "nodaemon"):
                continue
            self.report.note(
                f"{path}:{line}: [{section.name}] {key}={value}: supervisord's own setting, not carried over"
            )

    def expand(self, value: str, section: Section, key: str, names: dict[str, object]) -> str:
        """%(name)s expansions: ENV_X kept for run time (MARK X MARK), the others now."""
        path, line = section.where(key)

        def one(m: re.Match[str]) -> str:
            if m.group(0) == "%%":
                return "%"
            name, spec = m.group(1), m.group(2)
            if name.startswith("ENV_"):
                variable = name[4:]
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
                    raise IgnityError(f"{path}:{line}: %({name})s names no variable")
                return MARK + variable + MARK
            if name == "here":
                return str(self.here.get(path, os.path.dirname(os.path.abspath(path))))
            if name not in names:
                raise IgnityError(f"{path}:{line}: unknown expansion %({name}){spec} in {key}")
            return ("%" + spec) % names[name]

        return EXPANSION.sub(one, value)

    def get(self, section: Section, key: str, default: str) -> str:
        return section.values[key][0] if key in section.values else default

    def number(self, section: Section, key: str, default: int) -> int:
        text = self.get(section, key, str(default)).strip()
        if not text.isdigit():
            path, line = section.where(key)
            raise IgnityError(f"{path}:{line}: {key} is {text!r}, not a whole number")
        return int(text)

    def boolean(self, section: Section, key: str, default: str) -> bool:
        text = self.get(section, key, default).strip().lower()
        if text not in TRUE + FALSE:
            path, line = section.where(key)
            raise IgnityError(f"{path}:{line}: {key} is {text!r}, not true or false")
        return text in TRUE

    def program(self, section: Section, program: str, group: str) -> None:
        path, line = section.where()
        for key, (value, kpath, kline) in section.values.items():
            if key in NOT_CONVERTED:
                self.report.leave(kpath, kline, f"{key}={value}: {NOT_CONVERTED[key]}", "remove it")
            elif key not in PROGRAM_KEYS:
                self.report.leave(
                    kpath, kline, f"unknown key {key} (supervisord 4.2 has none such)", "remove it, or fix its name"
                )
        if "command" not in section.values:
            raise IgnityError(f"{path}:{line}: [program:{program}] has no command")
        numprocs = self.number(section, "numprocs", 1)
        start = self.number(section, "numprocs_start", 0)
        process_name = self.get(section, "process_name", "%(program_name)s")
        if numprocs > 1 and "%(process_num)" not in process_name:
            raise IgnityError(f"{path}:{line}: numprocs={numprocs} but process_name has no %(process_num)d")
        for num in range(start, start + numprocs):
            names: dict[str, object] = {
                "program_name": program,
                "group_name": group,
                "process_num": num,
                "numprocs": numprocs,
            }
            name = self.expand(process_name, section, "process_name", names)
            bad = service_name_problem(name) or ("is empty" if not name else None)
            if bad is None and not name.isprintable():
                bad = "a service name has no control characters"
            if bad is not None or MARK in name:
                raise IgnityError(f"{path}:{line}: process name {name!r}: {bad or 'cannot use %(ENV_...)s'}")
            self.instance(section, program, group, name, names)

    def instance(self, section: Section, program: str, group: str, name: str, names: dict[str, object]) -> None:
        target = f"{ETC}/services/{name}"
        path, line = section.where()
        notes: list[str] = []
        # Every value in a comment goes through show(): a newline in it would end the comment.
        lines = ["#!/bin/sh", f"# [program:{show(program)}] of {show(path)}:{line}, converted by ignity migrate"]
        # supervisord's environment at a spawn: its own, SUPERVISOR_*, then [supervisord] and [program] environment=
        lines.append("export SUPERVISOR_ENABLED=1")
        lines.append(f"export SUPERVISOR_PROCESS_NAME={quote(name)}")
        lines.append(f"export SUPERVISOR_GROUP_NAME={quote(group)}")
        for owner in (self.globals, section):
            if owner is not None and "environment" in owner.values:
                text = self.expand(owner.values["environment"][0], owner, "environment", names)
                for key, value in pairs(text, *owner.where("environment")):
                    lines.append(f"export {key}={word(value)}")
        directory = self.get(section, "directory", "")
        if directory:
            lines.append(f"cd {word(self.expand(directory, section, 'directory', names))} || exit 127")
        umask = self.get(section, "umask", "")
        if umask:
            if not re.fullmatch(r"0?[0-7]{1,4}", umask.strip()):
                raise IgnityError(f"{':'.join(map(str, section.where('umask')))}: umask {umask!r} is not octal")
            lines.append(f"umask {umask.strip()}")
        lines.extend(self.output(section, name, names, target, notes))
        try:
            argv = split(self.expand(self.get(section, "command", ""), section, "command", names))
        except ValueError as e:
            raise IgnityError(f"{':'.join(map(str, section.where('command')))}: command: {e}") from None
        if not argv:
            raise IgnityError(f"{':'.join(map(str, section.where('command')))}: command is empty")
        user = self.get(section, "user", "").strip()
        prefix = f"{self.find('s6-setuidgid')} {quote(user)} " if user else ""
        if user:
            notes.append(f"as {user} (s6-setuidgid)")
        lines.append("exec " + prefix + " ".join(word(w) for w in argv))
        self.plan.add(f"{target}/run", "\n".join(lines) + "\n", 0o755)
        notes.extend(self.policy(section, target))
        autostart = self.boolean(section, "autostart", "true")
        if not autostart:
            self.plan.add(f"{target}/down", b"")
            notes.append("down (autostart=false): `ignity start " + name + "` starts it")
        self.services.append((name, self.number(section, "priority", 999), autostart))
        self.report.convert(f"{path}:{line} [program:{program}]", f"{target}/", "; ".join(notes))

    def policy(self, section: Section, target: str) -> list[str]:
        """autorestart, exitcodes, startsecs, startretries, stopsignal, stopwaitsecs -> the policy files."""
        notes = []
        mode = self.get(section, "autorestart", "unexpected").strip().lower()
        restart = {"unexpected": "on-failure", **dict.fromkeys(TRUE, "always"), **dict.fromkeys(FALSE, "never")}.get(
            mode
        )
        if restart is None:
            path, line = section.where("autorestart")
            raise IgnityError(f"{path}:{line}: autorestart is {mode!r}, not true, false or unexpected")
        self.plan.add(f"{target}/restart", restart + "\n")
        notes.append(f"restart {restart}")
        codes = self.get(section, "exitcodes", "0").replace(",", " ").split()
        if not all(c.isdigit() and int(c) < 256 for c in codes):
            path, line = section.where("exitcodes")
            raise IgnityError(f"{path}:{line}: exitcodes {' '.join(codes)!r} are not exit statuses (0-255)")
        if restart == "on-failure" and codes != ["0"]:
            self.plan.add(f"{target}/success-exit-codes", " ".join(codes) + "\n")
            notes.append(f"success-exit-codes {' '.join(codes)}")
        startsecs = self.number(section, "startsecs", 1)
        retries = self.number(section, "startretries", 3)
        if restart != "never" and startsecs > 0:
            # supervisord gives up after startretries+1 runs that each died within startsecs of their start,
            # waiting 1, 2, 3... s between them: at most (retries+1) * (startsecs + retries) s in all.
            window = (retries + 1) * (startsecs + retries) * 1000
            self.plan.add(f"{target}/restart-limit", f"{retries + 1} {window}\n")
            self.plan.add(f"{target}/restart-delay", f"1000 {max(retries, 1) * 1000}\n")
            notes.append(f"restart-limit {retries + 1} {window} (startretries={retries}, startsecs={startsecs})")
        elif restart == "never" and startsecs > 0:
            self.report.note(
                f"{target}: autorestart=false runs it once; supervisord would also retry a run "
                f"shorter than startsecs={startsecs}, up to startretries={retries} times"
            )
        if "stopsignal" in section.values:
            signal = self.get(section, "stopsignal", "TERM").strip().upper()
            signal = signal[3:] if signal.startswith("SIG") else signal
            if not re.fullmatch(r"[A-Z0-9]+", signal):
                path, line = section.where("stopsignal")
                raise IgnityError(f"{path}:{line}: stopsignal {signal!r} is not a signal name")
            self.plan.add(f"{target}/down-signal", f"SIG{signal}\n" if not signal.isdigit() else f"{signal}\n")
            notes.append(f"down-signal {signal}")
        if "stopwaitsecs" in section.values:
            ms = self.number(section, "stopwaitsecs", 10) * 1000
            self.plan.add(f"{target}/timeout-kill", f"{ms}\n")
            notes.append(f"timeout-kill {ms} (bounded by IGNITY_SERVICES_GRACETIME at the container's stop)")
        for key in ("stopasgroup", "killasgroup"):
            if self.get(section, key, "false").strip().lower() in TRUE:
                path, line = section.where(key)
                self.report.leave(
                    path,
                    line,
                    f"{key}=true: s6 signals the service's process, not its group",
                    "have the program pass the signal on (or exec the real program); "
                    "at the container's stop Ignity ends every process",
                )
        return notes

    def output(self, section: Section, name: str, names: dict[str, object], target: str, notes: list[str]) -> list[str]:
        """stdout_logfile, stderr_logfile, redirect_stderr: sh redirections, or a log/ with s6-log."""
        lines = []
        out = self.logfile(section, "stdout", names)
        err = self.logfile(section, "stderr", names)
        redirect = self.boolean(section, "redirect_stderr", "false")
        if out == "AUTO":
            notes.append("stdout: the container's (was a file under supervisord's childlogdir)")
        elif out == "NONE":
            lines.append("exec >/dev/null")
            notes.append("stdout discarded")
        elif out in STDERR:
            lines.append("exec >&2")
        elif out not in STDOUT:
            directory = out + ".d"
            backups = self.number(section, "stdout_logfile_backups", 10)
            size = self.bytes(section, "stdout_logfile_maxbytes")
            limits = f"n{backups} " + (f"s{max(size, 4096)} " if size else "")
            log = [
                "#!/bin/sh",
                f"# stdout_logfile={show(out)} of [program:{show(name)}], converted by ignity migrate",
                f"{self.find('mkdir')} -p -- {quote(directory)} || exit 111",
                f"exec {self.find('s6-log')} -- {limits}T {quote(directory)}",
            ]
            self.plan.add(f"{target}/log/run", "\n".join(log) + "\n", 0o755)
            notes.append(f"stdout to s6-log in the directory {directory} (current, rotated @*.s) instead of {out}")
        if redirect:
            lines.append("exec 2>&1")
            notes.append("stderr with stdout (redirect_stderr)")
        elif err == "NONE":
            lines.append("exec 2>/dev/null")
        elif err in STDOUT or (err == out and err not in ("AUTO", *STDERR)):
            lines.append("exec 2>&1")
        elif err not in ("AUTO", *STDERR):
            lines.append(f"exec 2>>{quote(err)}")
            notes.append(f"stderr appended to {err}, without rotation")
        return lines

    def logfile(self, section: Section, stream: str, names: dict[str, object]) -> str:
        value = self.get(section, f"{stream}_logfile", "AUTO").strip()
        if value.lower() in ("auto",):
            return "AUTO"
        if value.lower() in ("none", "off", ""):
            return "NONE"
        value = self.expand(value, section, f"{stream}_logfile", names)
        if MARK in value:
            path, line = section.where(f"{stream}_logfile")
            raise IgnityError(f"{path}:{line}: {stream}_logfile with %(ENV_...)s: write the path itself")
        return value

    def bytes(self, section: Section, key: str) -> int:
        text = self.get(section, key, "50MB").strip().upper()
        for suffix, factor in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
            if text.endswith(suffix) and text[: -len(suffix)].strip().isdigit():
                return int(text[: -len(suffix)]) * factor
        if not text.isdigit():
            path, line = section.where(key)
            raise IgnityError(f"{path}:{line}: {key} is {text!r}, not a size (e.g. 50MB)")
        return int(text)

    def order(self) -> None:
        """priority: each service depends on the autostarted ones of the nearest lower priority."""
        levels = sorted({p for _, p, start in self.services if start})
        if len(levels) < 2:
            return
        for name, priority, _ in self.services:
            lower = [p for p in levels if p < priority]
            if not lower:
                continue
            before = [n for n, p, start in self.services if start and p == lower[-1]]
            for dependency in before:
                self.plan.add(f"{ETC}/services/{name}/dependencies.d/{dependency}", b"")
            self.report.note(
                f"{ETC}/services/{name}: starts after {', '.join(before)} (priority {priority} > {lower[-1]})"
            )


def pairs(text: str, path: str, line: int) -> list[tuple[str, str]]:
    """KEY=val,KEY2="v,2" as supervisord reads environment= (quotes around a value dropped)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n,":
            i += 1
        if i >= n:
            break
        m = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*").match(text, i)
        if m is None:
            raise IgnityError(f"{path}:{line}: environment: expected KEY=value at {text[i : i + 20]!r}")
        i = m.end()
        if i < n and text[i] in "\"'":
            end = text.find(text[i], i + 1)
            if end < 0:
                raise IgnityError(f"{path}:{line}: environment: {m.group(1)}'s value has no closing quote")
            value, i = text[i + 1 : end], end + 1
        else:
            end = i
            while end < n and text[end] not in ", \t\n":
                end += 1
            value, i = text[i:end], end
        out.append((m.group(1), value))
    return out


def convert(path: str, root: str) -> tuple[Plan, Report]:
    return Converter(path, root).run()
