"""Coming from s6-overlay: what such an image has that Ignity would silently ignore, with its equivalent.

The s6-overlay directories, S6_* variables and, in one pass, every script an
unported image still has (services.d, cont-init.d, s6-rc.d...) checked as if
moved: warnings there, since Ignity does not run them. In /etc/ignity, a
program only s6-overlay brings is an error (the script fails at run time), an
s6-rc oneshot or bundle is named as one, a quoted env value is a warning.
docs/from-s6-overlay.md is the long form; `ignity migrate` converts.
"""

from __future__ import annotations

import stat

from ignity.check.report import WARNING, show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ignity.check.context import Context

WITH_CONTENV = "with-contenv"
OVERLAY = "/etc/s6-overlay"
RC_D = f"{OVERLAY}/s6-rc.d"

# s6-overlay directory -> (what it is, what to do with it in Ignity)
DIRECTORIES = (
    ("/etc/services.d", "s6-overlay services", "move each NAME/ to /etc/ignity/services/NAME/ (run, finish, log/)"),
    ("/etc/cont-init.d", "s6-overlay init scripts", "move them to /etc/ignity/init/ (run in name order, as there)"),
    ("/etc/cont-finish.d", "s6-overlay finish scripts", "move them to /etc/ignity/finalize/"),
    (
        "/etc/fix-attrs.d",
        "s6-overlay permission fixes",
        "move them to /etc/ignity/perms/: their lines are read as they are, but for 'name,uid:gid' fallbacks",
    ),
)
RC_FIX = (
    "longruns become /etc/ignity/services/NAME (run, finish, dependencies.d as is); "
    "oneshots become /etc/ignity/init scripts (their up command); bundles have no equivalent"
)
OVERLAY_FIX = "Ignity reads only /etc/ignity: move what the image needs there (docs/from-s6-overlay.md)"
MIGRATE = "`ignity migrate --from s6-overlay` converts them (then remove them), or "

HALT = "to end the container from a finish script, run `ignity halt CODE`"
# Paths of s6-overlay in a script (most specific first) -> (what it is, the Ignity way)
PATHS = (
    (b"/var/run/s6/services", "s6-overlay v2's scan directory", f"Ignity's is /run/ignity/services-state; {HALT}"),
    (b"/run/s6/services", "s6-overlay v2's scan directory", f"Ignity's is /run/ignity/services-state; {HALT}"),
    (b"/run/service", "s6-overlay v3's scan directory", f"Ignity's is /run/ignity/services-state; {HALT}"),
    (b"/run/s6/basedir/bin/halt", "s6-overlay v3's halt", f"{HALT}"),
    (b"/run/s6-linux-init-container-results", "s6-overlay v3's exit code file", f"{HALT} instead"),
    (
        b"/var/run/s6/container_environment",
        "s6-overlay's saved environment",
        "Ignity keeps none: start the script with #!/usr/bin/with-env sh",
    ),
    (
        b"/run/s6/container_environment",
        "s6-overlay's saved environment",
        "Ignity keeps none: start the script with #!/usr/bin/with-env sh",
    ),
    (b"/var/run/s6/", "s6-overlay's run-time state", "no equivalent (Ignity's state is under /run/ignity)"),
    (b"/run/s6/", "s6-overlay's run-time state", "no equivalent (Ignity's state is under /run/ignity)"),
    (b"/command/", "s6-overlay's program directory", "Ignity has no /command: call s6 and execline programs by name"),
)
WORD = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
END = b" \t\"'`;|&)}<>\n"

EXECLINE_BIN = "/usr/lib/execline/bin"  # Debian's execline programs: off PATH, on execlineb's
# Programs s6-overlay brings (s6-portable-utils, s6-linux-utils, its own) that a distribution's s6 has not:
# program -> (what to call instead, or None, and how to do without it)
PORTABLE: dict[str, tuple[str | None, str]] = {
    "s6-test": ("test", "use test (sh) or eltest (execline 2.9.1+)"),
    "s6-echo": ("echo", "use echo"),
    "s6-sleep": ("sleep", "use sleep"),
    "s6-cat": ("cat", "use cat"),
    "s6-touch": ("touch", "use touch"),
    "s6-true": ("true", "use true"),
    "s6-false": ("false", "use false"),
    "s6-mkdir": ("mkdir", "use mkdir"),
    "s6-chmod": ("chmod", "use chmod"),
    "s6-ln": ("ln", "use ln"),
    "s6-rmrf": ("rm -rf", "use rm -rf"),
    "s6-basename": ("basename", "use basename"),
    "s6-dirname": ("dirname", "use dirname"),
    "s6-env": ("env", "use env"),
    "s6-printenv": ("printenv", "use printenv"),
    "s6-sort": ("sort", "use sort"),
    "s6-head": ("head", "use head"),
    "s6-tail": ("tail", "use tail"),
    "s6-hostname": ("hostname", "use hostname"),
    "s6-sync": ("sync", "use sync"),
    "s6-chown": (None, "use chown UID:GID FILE"),
    "s6-hiercopy": (None, "use cp -a"),
    "s6-maximumtime": (None, "use timeout (coreutils)"),
    "s6-nuke": (None, "Ignity's stage 3 kills what is left: remove the call"),
    "s6-pause": (None, "use sleep infinity"),
    "s6-ps": (None, "use ps"),
    "s6-mount": (None, "use mount"),
    "s6-umount": (None, "use umount"),
    "s6-grep": (None, "use grep"),
    "s6-expr": (None, "use expr or $(( ))"),
    "s6-seq": (None, "use seq"),
    "s6-format-filter": (None, "use awk or printf"),
    "s6-cut": (None, "use cut"),
    "s6-clock": (None, "use date"),
    "s6-dumpenv": (None, "use s6-envdir's opposite: write the files with printf"),
    "s6-rc": (None, "Ignity has no s6-rc: `ignity start|stop NAME`, or s6-svc on /run/ignity/services-state/NAME"),
    "printcontenv": (None, "Ignity keeps no saved environment: run the program under /usr/bin/with-env"),
    "logutil-service": (None, "give the service a log/run running s6-log"),
    "logutil-newfifo": (None, "use mkfifo"),
    "fix-attrs": (None, "write /etc/ignity/perms rules"),
    "s6-overlay-suexec": (None, "remove it: /init is Ignity's"),
}

# S6_* variable -> its Ignity equivalent, or why there is none
VARIABLES = {
    "S6_CMD_WAIT_FOR_SERVICES": "IGNITY_CMD_WAIT_FOR_SERVICES",
    "S6_CMD_WAIT_FOR_SERVICES_MAXTIME": "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME (0 is no limit there, 5000 ms here)",
    "S6_KILL_FINISH_MAXTIME": "IGNITY_KILL_FINALIZE_MAXTIME",
    "S6_KILL_FINALIZE_MAXTIME": "IGNITY_KILL_FINALIZE_MAXTIME",
    "S6_SERVICES_GRACETIME": "IGNITY_SERVICES_GRACETIME",
    "S6_KILL_GRACETIME": "IGNITY_KILL_GRACETIME",
    "S6_SYNC_DISKS": "IGNITY_SYNC_DISKS",
    "S6_VERBOSITY": "IGNITY_VERBOSITY (0-2, default 1: s6-overlay's 2 is Ignity's 1)",
    "S6_CMD_RECEIVE_SIGNALS": "IGNITY_CMD_RECEIVE_SIGNALS",
    "S6_BEHAVIOUR_IF_STAGE2_FAILS": "no equivalent: a failing init script always stops the container",
    "S6_KEEP_ENV": "no equivalent: services see the image's environment; with-env adds the env files",
    "S6_LOGGING": "no equivalent: give a service a log/ directory, or set IGNITY_SERVICES_OUTPUT",
    "S6_LOGGING_SCRIPT": "no equivalent: write the s6-log line in the service's log/run",
    "S6_CATCHALL_USER": "no equivalent: there is no catch-all logger",
    "S6_CMD_ARG0": "no equivalent: put the prefix in the image's ENTRYPOINT after /init",
    "S6_CMD_USE_TERMINAL": "no equivalent: the CMD always has the container's terminal",
    "S6_READ_ONLY_ROOT": "no equivalent needed: Ignity writes only under /run/ignity",
    "S6_FIX_ATTRS_HIDDEN": "no equivalent: perms rules apply to hidden files too",
    "S6_STAGE2_HOOK": "no equivalent: use an /etc/ignity/init script",
    "S6_SERVICES_READYTIME": "no equivalent needed: Ignity waits on s6's events, not a delay",
}


def directories(ctx: Context) -> None:
    """One warning for each s6-overlay directory that has something in it."""
    for path, what, fix in DIRECTORIES:
        if _names(ctx, path):
            ctx.warning(path, None, f"{what}: Ignity does not read them", MIGRATE + fix)
    for name in _names(ctx, OVERLAY):
        if name == "s6-rc.d":
            _rc_d(ctx)
        else:
            shown = f"{OVERLAY}/{show(name)}"
            ctx.warning(shown, None, "s6-overlay configuration: Ignity does not read it", OVERLAY_FIX)
    _leftover_scripts(ctx)


def _leftover_scripts(ctx: Context) -> None:
    """The scripts of an unported image, checked as if moved (so one pass shows all), as warnings."""
    from ignity.check.scripts import script

    found: list[str] = []
    for directory in ("/etc/cont-init.d", "/etc/cont-finish.d", f"{OVERLAY}/scripts"):
        found.extend(f"{directory}/{n}" for n in _names(ctx, directory))
    for name in _names(ctx, "/etc/services.d"):
        found.extend(f"/etc/services.d/{name}/{f}" for f in ("run", "finish", "log/run"))
    for name in _names(ctx, RC_D):
        found.extend(f"{RC_D}/{name}/{f}" for f in ("run", "finish"))
        for which in ("up", "down"):  # an execline command line, no #! line
            data = ctx.view.read(f"{RC_D}/{name}/{which}", 1 << 16)
            if isinstance(data, bytes):
                shown = f"{RC_D}/{show(name)}/{which}"
                _as_warnings(ctx, _command_line, data, shown)
    for path in found:
        st = ctx.view.stat(path)
        if not isinstance(st, str) and stat.S_ISREG(st.st_mode):
            _as_warnings(ctx, script, path, show(path))


def _command_line(ctx: Context, data: bytes, shown: str) -> None:
    s6_paths(ctx, data, shown)
    programs(ctx, data, shown, 0)


def _as_warnings(ctx: Context, rule: Callable[[Context, Any, str], None], what: Any, shown: str) -> None:
    """What `rule` reports, as warnings: Ignity does not run these files, the image may still use them."""
    start = len(ctx.problems)
    rule(ctx, what, shown)
    for problem in ctx.problems[start:]:
        problem.severity = WARNING


def rc_definition(ctx: Context, path: str, shown: str, names: set[str]) -> bool:
    """An s6-rc oneshot or bundle moved into /etc/ignity/services: named as what it is (True), not as 'no run'."""
    data = ctx.view.read(f"{path}/type", 64) if "type" in names else b""
    kind = data.strip().decode("ascii", "replace") if isinstance(data, bytes) else ""
    if kind == "oneshot" or (not kind and "up" in names):
        ctx.error(shown, None, "is an s6-rc oneshot (type oneshot, an up command line): Ignity has no oneshots",
                  f"make its up line an /etc/ignity/init script (#!/bin/execlineb -P, then the line), "
                  f"its down line a finalize script, and remove {shown}")  # fmt: skip
        return True
    if kind == "bundle":
        ctx.error(shown, None, "is an s6-rc bundle: Ignity has none",
                  "depend on each service of its contents.d instead, and remove it")  # fmt: skip
        return True
    return False


def links_to_with_env(ctx: Context, path: str) -> bool:
    """Whether image path `path` is (a link to) Ignity's with-env: then with-contenv is fine."""
    host = ctx.view.host(path)
    return host is not None and host.rpartition("/")[2] == "with-env" and ctx.view.executable(path) is None


# What comes before a word that is a command: separators, and sh or execline words that run the next one
_SEPARATORS = (b";", b"&", b"|", b"(", b"{", b"}", b"!", b"`", b"$(")
_KEYWORDS = {b"then", b"do", b"else", b"elif", b"exec", b"if", b"while", b"until", b"time", b"nice", b"nohup",
             b"with-env", b"/usr/bin/with-env", b"with-contenv", b"foreground", b"background"}  # fmt: skip


def programs(ctx: Context, head: bytes, shown: str, skip: int = 1) -> None:
    """One error per s6-overlay-only program (PORTABLE) the script calls and the image lacks, at its first call."""
    if b"s6-" not in head and b"contenv" not in head and b"logutil" not in head and b"fix-attrs" not in head:
        return
    seen: set[str] = set()
    for number, line in enumerate(head.split(b"\n"), start=1):
        if number <= skip or line.lstrip().startswith(b"#"):
            continue
        for program in PORTABLE:
            if program in seen:
                continue
            at = line.find(program.encode())
            while at >= 0 and not _called(line, at, len(program)):
                at = line.find(program.encode(), at + 1)
            if at < 0 or _on_path(ctx, program):
                continue
            seen.add(program)
            ctx.error(shown, number, f"calls {program}, which the image lacks (s6-overlay brings it, "
                      "a distribution's s6 does not): it fails at run time", PORTABLE[program][1])  # fmt: skip


def _called(line: bytes, at: int, size: int) -> bool:
    """Whether the word at `at` is in a command's place (start of line, after a separator or keyword)."""
    after = line[at + size : at + size + 1]
    if after and after not in b" \t;|&)}\"'":
        return False
    before = line[:at]
    if before.endswith(b"/command/"):
        before = before[: -len(b"/command/")]
    elif before[-1:] and (before[-1:].isalnum() or before[-1:] in b"-_./"):
        return False
    before = before.rstrip(b" \t")
    if not before or before.endswith(_SEPARATORS):
        return True
    return before.split()[-1] in _KEYWORDS


def _on_path(ctx: Context, program: str) -> bool:
    from ignity.check.scripts import PATH

    return any(ctx.view.executable(f"{d}/{program}") is None for d in (*PATH, EXECLINE_BIN))


def quoted(ctx: Context, name: bytes, value: bytes, shown: str, number: int) -> None:
    """A value in quotes, as s6-overlay users write: the quotes would be part of the value."""
    if len(value) >= 2 and value[:1] in (b'"', b"'") and value[-1:] == value[:1]:
        text = show(value.decode("utf-8", "replace"))
        key = name.decode("ascii", "replace")
        bare = show(value[1:-1].decode("utf-8", "replace"))
        problem = f"the value of {key} is in quotes ({text}): they are part of the value"
        ctx.warning(shown, number, problem, f"write {key}={bare} (values are taken literally)")


def _names(ctx: Context, path: str) -> list[str]:
    names = ctx.view.listdir(path)
    return [n for n in names if not n.startswith(".")] if isinstance(names, list) else []


def _rc_d(ctx: Context) -> None:
    """s6-rc.d, with its definitions by type, when it has any."""
    by_type: dict[str, list[str]] = {}
    for name in _names(ctx, RC_D):
        data = ctx.view.read(f"{RC_D}/{name}/type", 64)
        kind = data.strip().decode("ascii", "replace") if isinstance(data, bytes) else ""
        by_type.setdefault(kind if kind in ("longrun", "oneshot", "bundle") else "other", []).append(show(name))
    if by_type:
        found = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(by_type.items()))
        ctx.warning(RC_D, None, f"s6-rc service definitions ({found}): Ignity does not read them", RC_FIX)


def with_contenv(ctx: Context, shown: str, interpreter: str, argument: str, why: str | None) -> None:
    """A `#!.../with-contenv PROG` script: with-env is Ignity's equivalent."""
    program = argument.split(" ", 1)[0] or "sh"
    fix = f"use #!/usr/bin/with-env {program} (Ignity's equivalent: the env files and the container's environment)"
    if why is not None:
        ctx.error(shown, 1, f"interpreter {interpreter} {why} in the image: with-contenv is s6-overlay's", fix)
    else:
        ctx.warning(shown, 1, "with-contenv is s6-overlay's: under Ignity it has no environment to load", fix)


def s6_paths(ctx: Context, head: bytes, shown: str) -> None:
    """One warning per s6-overlay path (by kind) that a script uses, at its first line."""
    seen: set[str] = set()
    for number, line in enumerate(head.split(b"\n"), start=1):
        if number == 1 and line.startswith(b"#!"):
            continue  # the interpreter line is the shebang rule's
        if b"/" not in line:
            continue
        for pattern, what, fix in PATHS:
            at = _find(line, pattern)
            if at < 0:
                continue
            if what not in seen:
                seen.add(what)
                end = at
                while end < len(line) and line[end] not in END:
                    end += 1
                word = show(line[at:end].decode("utf-8", "replace"))
                ctx.warning(shown, number, f"uses {word}, {what}: it does not exist under Ignity", fix)
            break


def _find(line: bytes, pattern: bytes) -> int:
    """Where `pattern` starts a path in `line` (not in the middle of a longer word or path), or -1."""
    at = line.find(pattern)
    while at >= 0:
        before = line[at - 1 : at]
        after = line[at + len(pattern) : at + len(pattern) + 1]
        starts = not before or before not in WORD + b"/"
        ends = pattern.endswith(b"/") or not after or after in END or after == b"/"
        if starts and ends:
            return at
        at = line.find(pattern, at + 1)
    return -1


def variable(ctx: Context, name: str, path: str, line: int | None) -> None:
    """An S6_* variable: s6-overlay's setting, with Ignity's equivalent or the reason there is none."""
    equivalent = VARIABLES.get(name, "no equivalent")
    fix = f"use {equivalent}" if equivalent.startswith("IGNITY_") else equivalent[0].upper() + equivalent[1:]
    ctx.warning(path, line, f"{name} is an s6-overlay setting: Ignity ignores it", fix)
