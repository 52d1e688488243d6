"""`ignity migrate --from s6-overlay`: an image's s6-overlay configuration as an /etc/ignity tree.

Reads /etc/cont-init.d, cont-finish.d, services.d, fix-attrs.d and
/etc/s6-overlay/s6-rc.d of the image (never changing them), and plans the
files that do the same under Ignity. s6-rc oneshots become init scripts in
dependency order (after cont-init.d, as s6-overlay's `base` runs that
first); their `down` lines become finalize scripts in the reverse order.
"""

from __future__ import annotations

import stat

from ignity.check.migration import VARIABLES
from ignity.check.report import show
from ignity.check.root import Root
from ignity.migrate.report import Report
from ignity.migrate.rewrite import Rewriter
from ignity.migrate.writer import Plan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ETC = "/etc/ignity"
RC_D = "/etc/s6-overlay/s6-rc.d"
# Definitions s6-overlay itself provides: what depends on them runs after cont-init.d and fix-attrs,
# which Ignity's init scripts and perms always do.
OVERLAY_OWN = {"base", "fix-attrs", "legacy-cont-init", "s6rc-oneshot-runner", "s6rc-fdholder", "legacy-services"}
USER_BUNDLES = ("user", "user2")
# Files of an s6 service directory copied as they are (run and finish are rewritten)
SERVICE_FILES = ("notification-fd", "timeout-kill", "timeout-finish", "down-signal", "max-death-tally", "lock-fd")
RC_LONGRUN_KNOWN = {
    "type",
    "run",
    "finish",
    "dependencies",
    "dependencies.d",
    "producer-for",
    "consumer-for",
    "pipeline-name",
    "data",
    "env",
    *SERVICE_FILES,
}
MAX_READ = 1 << 24


class Converter:
    def __init__(self, root: str, environ: Mapping[str, str]) -> None:
        self.view = Root(root)
        self.environ = environ
        self.plan = Plan()
        self.report = Report("s6-overlay")
        self.rewriter = Rewriter(self.view, self.report)
        self.init_names: list[str] = []

    def run(self) -> tuple[Plan, Report]:
        self.scripts("/etc/cont-init.d", "init")
        self.fix_attrs()
        rc_longruns = self.s6_rc()
        self.legacy_services(rc_longruns)
        self.scripts("/etc/cont-finish.d", "finalize")
        self.variables()
        return self.plan, self.report

    # --- reading the image -----------------------------------------------------------------------

    def names(self, path: str) -> list[str]:
        found = self.view.listdir(path)
        if isinstance(found, str):
            self.report.leave(path, None, found, "make it a readable directory")
            return []
        names = [n for n in found if not n.startswith(".")]
        if path == RC_D or (path.startswith(f"{RC_D}/") and path.endswith(".d")):
            return names  # s6-rc names: a longrun's is refused in s6_rc, a oneshot's made safe in its file name
        for name in [n for n in names if not n.isprintable()]:
            self.report.leave(
                f"{path}/{show(name)}", None, "a control character in its name: not converted", "rename it"
            )
        return [n for n in names if n.isprintable()]

    def read(self, path: str) -> bytes | None:
        data = self.view.read(path, MAX_READ)
        if isinstance(data, str):
            self.report.leave(show(path), None, data, "make it a readable regular file")
            return None
        return data

    def is_dir(self, path: str) -> bool:
        st = self.view.stat(path)
        return not isinstance(st, str) and stat.S_ISDIR(st.st_mode)

    def words(self, path: str) -> list[str]:
        """The names of a `NAME.d` directory, or of the lines of a `NAME` file (s6-rc takes either)."""
        if self.is_dir(f"{path}.d"):
            return self.names(f"{path}.d")
        st = self.view.stat(path)
        if isinstance(st, str):
            return []
        data = self.read(path) or b""
        return [w for w in data.decode("utf-8", "replace").split() if not w.startswith("#")]

    # --- copying ---------------------------------------------------------------------------------

    def script(self, origin: str, target: str, mode: int | None = None) -> list[str] | None:
        """Copy one script, rewritten; what changed, None when it could not be read."""
        data = self.read(origin)
        if data is None:
            return None
        if mode is None:
            st = self.view.stat(origin)
            mode = 0o755 if isinstance(st, str) else (st.st_mode & 0o777) | 0o111
        new, changes = self.rewriter.script(data, show(origin))
        self.plan.add(target, new, mode)
        return changes

    def copy(self, origin: str, target: str) -> None:
        """A file as it is, or a directory (run, finish and executables rewritten), recursively."""
        st = self.view.stat(origin)
        if isinstance(st, str):
            self.report.leave(show(origin), None, st, "remove it, or make it a file")
        elif stat.S_ISDIR(st.st_mode):
            self.plan.mkdir(target)
            for name in self.names(origin):
                if name not in ("supervise", "event"):
                    self.copy(f"{origin}/{name}", f"{target}/{name}")
        elif not stat.S_ISREG(st.st_mode):
            self.report.leave(show(origin), None, "not a regular file: not copied", "make it a file, or remove it")
        elif st.st_mode & 0o111 or origin.rpartition("/")[2] in ("run", "finish"):
            changes = self.script(origin, target, (st.st_mode & 0o777) | 0o111)
            if changes:
                self.report.convert(show(origin), target, "; ".join(changes))
        else:
            data = self.read(origin)
            if data is not None:
                self.plan.add(target, data, st.st_mode & 0o777)

    # --- the parts -------------------------------------------------------------------------------

    def scripts(self, directory: str, kind: str) -> None:
        """cont-init.d -> init, cont-finish.d -> finalize: the same names, so the same order."""
        for name in self.names(directory):
            target = f"{ETC}/{kind}/{name}"
            changes = self.script(f"{directory}/{name}", target)
            if changes is not None:
                self.report.convert(f"{directory}/{show(name)}", target, "; ".join(changes))
                if kind == "init":
                    self.init_names.append(name)

    def legacy_services(self, rc_longruns: list[str]) -> None:
        """services.d/NAME -> services/NAME; they started after the user bundle there, so they depend on it."""
        for name in self.names("/etc/services.d"):
            origin, target = f"/etc/services.d/{name}", f"{ETC}/services/{name}"
            if not self.is_dir(origin):
                self.report.leave(show(origin), None, "not a service directory", "remove it")
                continue
            self.copy(origin, target)
            for dependency in rc_longruns:
                self.plan.add(f"{target}/dependencies.d/{dependency}", b"")
            after = f" (after {', '.join(rc_longruns)}, as s6-overlay starts them after the user bundle)"
            self.report.convert(show(origin) + "/", target + "/", "service" + (after if rc_longruns else ""))

    def fix_attrs(self) -> None:
        """fix-attrs.d lines are perms rules but for `name,uid:gid` fallbacks, settled here on the image's accounts."""
        users = self.accounts("/etc/passwd")
        groups = self.accounts("/etc/group")
        for name in self.names("/etc/fix-attrs.d"):
            origin, target = f"/etc/fix-attrs.d/{name}", f"{ETC}/perms/{name}"
            data = self.read(origin)
            if data is None:
                continue
            lines = data.decode("utf-8", "replace").split("\n")
            for i, line in enumerate(lines):
                fields = line.split()
                if len(fields) == 5 and "," in fields[2]:
                    account, _, fallback = fields[2].partition(",")
                    user, _, group = account.partition(":")
                    known = user in users and (not group or group in groups)
                    fields[2] = account if known else fallback
                    lines[i] = " ".join(fields)
                    self.report.convert(
                        f"{origin}:{i + 1}",
                        f"{target}:{i + 1}",
                        f"account {fields[2]}: {account} is "
                        + ("in the image" if known else "not in the image, so its fallback"),
                    )
            self.plan.add(target, "\n".join(lines).encode(), 0o644)
            self.report.convert(show(origin), target, "perms rules")

    def accounts(self, path: str) -> set[str]:
        data = self.view.read(path, MAX_READ)
        return (
            set()
            if isinstance(data, str)
            else {ln.split(":", 1)[0] for ln in data.decode("utf-8", "replace").split("\n")}
        )

    def variables(self) -> None:
        """S6_* of the build's environment -> an env file of IGNITY_* where there is an equivalent."""
        lines = []
        for name in sorted(k for k in self.environ if k.startswith("S6_")):
            value = self.environ[name]
            equivalent = VARIABLES.get(name, "no equivalent")
            if not equivalent.startswith("IGNITY_"):
                self.report.leave(
                    "environment", None, f"{name}={value}: {equivalent}", "remove it from the image's ENV"
                )
                continue
            target = equivalent.split()[0]
            if name == "S6_VERBOSITY" and value.isdigit():
                value = str(min(int(value), 3) - 1 if int(value) else 0)  # s6-overlay's 0-5 (2) -> 0-2 (1)
            lines.append(f"{target}={value}\n")
            self.report.convert(
                f"environment {name}",
                f"{ETC}/envs/10-s6-overlay {target}={value}",
                "remove the S6_ variable from the image's ENV",
            )
        if lines:
            self.plan.add(f"{ETC}/envs/10-s6-overlay", "".join(lines).encode(), 0o644)

    # --- s6-rc ---------------------------------------------------------------------------------

    def s6_rc(self) -> list[str]:
        """The definitions the user bundles start: longruns -> services, oneshots -> init/finalize. The longruns."""
        kinds: dict[str, str] = {}
        for name in self.names(RC_D):
            data = self.view.read(f"{RC_D}/{name}/type", 64)
            kind = data.decode("utf-8", "replace").strip() if isinstance(data, bytes) else ""
            if kind not in ("longrun", "oneshot", "bundle"):
                self.report.leave(
                    f"{RC_D}/{show(name)}/type",
                    1,
                    f"type {kind!r} is not longrun, oneshot or bundle",
                    "remove the definition, or fix its type",
                )
                continue
            if kind == "longrun" and not name.isprintable():  # it would be a service directory's name
                self.report.leave(f"{RC_D}/{show(name)}", None, "a service name has no control characters", "rename it")
                continue
            kinds[name] = kind
        if not kinds:
            return []
        self.kinds = kinds
        wanted: set[str] = set()
        todo = [m for b in USER_BUNDLES if b in kinds for m in self.expand(b, set())]
        while todo:
            name = todo.pop()
            if name in wanted:
                continue
            wanted.add(name)
            todo.extend(self.dependencies(name))
            if kinds[name] == "longrun":  # s6-rc starts a pipeline whole
                todo.extend(n for n in self.words(f"{RC_D}/{name}/producer-for") if n in kinds)
        for name in sorted(set(kinds) - wanted - set(USER_BUNDLES)):
            if kinds[name] != "bundle":
                self.report.leave(
                    f"{RC_D}/{show(name)}",
                    None,
                    f"{kinds[name]} in no user bundle: s6-overlay does not start it",
                    "not converted; add it to user/contents.d first if it should run",
                )
        loggers = self.pipelines(wanted)
        longruns = sorted(n for n in wanted if kinds[n] == "longrun" and n not in loggers.values())
        for name in longruns:
            self.longrun(name, set(wanted) - set(loggers.values()), loggers.get(name))
        self.oneshots(sorted(n for n in wanted if kinds[n] == "oneshot"))
        return longruns

    def expand(self, name: str, seen: set[str]) -> list[str]:
        """The longruns and oneshots a name stands for (a bundle: its contents, recursively)."""
        if name in seen:
            return []
        seen.add(name)
        kind = self.kinds.get(name)
        if kind is None:
            if name not in OVERLAY_OWN and name.isprintable():  # (one with a control character is reported)
                self.report.leave(
                    f"{RC_D}/{show(name)}", None, "named but not defined", "define it, or remove its name"
                )
            return []
        if kind != "bundle":
            return [name]
        return [m for c in self.words(f"{RC_D}/{name}/contents") for m in self.expand(c, seen)]

    def dependencies(self, name: str) -> list[str]:
        return [m for d in self.words(f"{RC_D}/{name}/dependencies") for m in self.expand(d, set())]

    def pipelines(self, wanted: set[str]) -> dict[str, str]:
        """producer -> consumer, for two-element pipelines (a longer one is reported)."""
        loggers: dict[str, str] = {}
        for name in sorted(wanted):
            if self.kinds[name] != "longrun":
                continue
            consumers = self.words(f"{RC_D}/{name}/producer-for")
            if not consumers:
                continue
            consumer = consumers[0]
            if self.kinds.get(consumer) != "longrun" or self.words(f"{RC_D}/{consumer}/producer-for"):
                self.report.leave(
                    f"{RC_D}/{show(name)}/producer-for",
                    1,
                    f"pipeline {name} -> {consumer} is not a service and its logger",
                    "Ignity gives a service one logger (log/): chain the rest inside log/run",
                )
                continue
            loggers[name] = consumer
        return loggers

    def longrun(self, name: str, wanted: set[str], logger: str | None) -> None:
        origin, target = f"{RC_D}/{name}", f"{ETC}/services/{name}"
        self.service_dir(origin, target)
        kept, dropped = [], []
        for dependency in self.dependencies(name):
            if self.kinds.get(dependency) == "longrun" and dependency in wanted:
                kept.append(dependency)
            elif dependency != logger:
                dropped.append(dependency)
        for dependency in kept:
            self.plan.add(f"{target}/dependencies.d/{dependency}", b"")
        note = "service"
        if kept:
            note += f", after {', '.join(sorted(set(kept)))}"
        if dropped:
            note += f" (oneshots {', '.join(sorted(set(dropped)))} are init scripts: they run before every service)"
        if logger is not None:
            self.service_dir(f"{RC_D}/{logger}", f"{target}/log")
            note += f", with {logger} as its log/"
        self.report.convert(f"{show(origin)}/", f"{target}/", note)

    def service_dir(self, origin: str, target: str) -> None:
        self.plan.mkdir(target)
        for entry in self.names(origin):
            if entry in ("run", "finish", "data", "env", *SERVICE_FILES):
                self.copy(f"{origin}/{entry}", f"{target}/{entry}")
            elif entry not in RC_LONGRUN_KNOWN:
                what = {
                    "flag-essential": "Ignity's `essential` is another thing (its death stops the container)",
                    "timeout-up": "Ignity bounds the wait with IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME",
                    "timeout-down": "Ignity bounds the stop with IGNITY_SERVICES_GRACETIME",
                }.get(entry, "an entry s6-rc does not read either")
                self.report.leave(f"{show(origin)}/{show(entry)}", None, "not converted", what)

    def oneshots(self, names: list[str]) -> None:
        """Oneshots as init scripts after cont-init.d, dependencies first; their down lines as finalize scripts."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                self.report.leave(
                    f"{RC_D}/{name}/dependencies.d",
                    None,
                    "dependency cycle: " + " -> ".join([*path, name]),
                    "break the cycle",
                )
                return
            state[name] = 1
            for dependency in sorted(set(self.dependencies(name))):
                if self.kinds.get(dependency) == "oneshot":
                    visit(dependency, [*path, name])
                elif self.kinds.get(dependency) == "longrun":
                    self.report.leave(
                        f"{RC_D}/{name}/dependencies.d/{dependency}",
                        None,
                        f"oneshot {name} depends on longrun {dependency}: init scripts run before every service",
                        f"make {name} a service with `restart never` and dependencies.d/{dependency}",
                    )
            state[name] = 2
            order.append(name)

        for name in names:
            visit(name, [])
        prefix = next((p for p in ("90-rc-", "zz-rc-", "~rc-") if all(n < p for n in self.init_names)), "~rc-")
        downs = []
        for number, name in enumerate(order, start=1):
            target = f"{ETC}/init/{prefix}{number:02d}-{_file_name(name)}"
            up = self.oneshot_script(name, "up", target)
            if up:
                self.report.convert(f"{RC_D}/{show(name)}/up", target, up)
            if self.view.exists(f"{RC_D}/{name}/down"):
                downs.append(name)
        for number, name in enumerate(reversed(downs), start=1):
            target = f"{ETC}/finalize/00-rc-{number:02d}-{_file_name(name)}"
            done = self.oneshot_script(name, "down", target)
            if done:
                self.report.convert(f"{RC_D}/{show(name)}/down", target, done)

    def oneshot_script(self, name: str, which: str, target: str) -> str:
        """An s6-rc up/down command line as a script: the script it names alone, else the line under execlineb -P."""
        origin = f"{RC_D}/{name}/{which}"
        data = self.read(origin)
        if data is None:
            return ""
        line = data.decode("utf-8", "replace").strip()
        if not line:
            return ""
        if line.startswith("/") and not any(c in line for c in " \t\n{};") and self.view.executable(line) is None:
            changes = self.script(line, target, 0o755)
            return f"oneshot {which}: {line}" + (f"; {'; '.join(changes)}" if changes else "")
        for word in line.split():
            if word.startswith("/") and self.view.executable(word) is None:
                head = self.view.read(word, 256)
                if isinstance(head, bytes) and head.startswith(b"#!") and b"with-contenv" in head.split(b"\n", 1)[0]:
                    fix = "change it to #!/usr/bin/with-env, or link /usr/bin/with-contenv to with-env"
                    self.report.leave(show(origin), 1, f"calls {show(word)}, whose #! line is with-contenv's", fix)
        execlineb = self.rewriter.has("execlineb") or "/usr/bin/execlineb"
        # show(): a newline in the name would end the comment, and execlineb would run what follows it
        text = f"#!{execlineb} -P\n# {which} of the s6-rc oneshot {show(name)}\n{line}\n".encode()
        new, changes = self.rewriter.script(text, show(origin))
        self.plan.add(target, new, 0o755)
        return f"oneshot {which} as an execline script" + (f"; {'; '.join(changes)}" if changes else "")


def _file_name(name: str) -> str:
    """An s6-rc name as part of a script's file name: a control character (a newline) as `_`."""
    return "".join(c if c.isprintable() else "_" for c in name)


def convert(root: str, environ: Mapping[str, str]) -> tuple[Plan, Report]:
    return Converter(root, environ).run()
