"""Service directories: what s6 and Ignity read in each, checked the way they read it.

s6's own files (run, finish, down, notification-fd, timeout-*,
max-death-tally, down-signal, log/) and Ignity's (essential, health*,
keep-children, output-mode, restart*; dependencies.d is dependencies.py's).
"""

from __future__ import annotations

import os
import stat

from ignity import paths, restarts
from ignity.check import dependencies, migration
from ignity.check.report import service_name_problem, show
from ignity.check.root import kind
from ignity.check.scripts import CR_FIX, script

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.context import Context

UINT_MAX = 2**32 - 1  # s6 reads its control files as unsigned ints
MS_MAX = 2**31 - 1
# number file -> (lowest, highest) accepted value; s6's, in every service directory (logger too)
CONTROL_FILES = {
    "notification-fd": (3, UINT_MAX),
    "timeout-kill": (0, UINT_MAX),
    "timeout-finish": (0, UINT_MAX),
    "max-death-tally": (0, 4096),
}
# Ignity's, in a service directory (not its logger's)
HEALTH_FILES = {
    "health-interval": (1, MS_MAX),
    "health-timeout": (1, MS_MAX),
    "health-retries": (1, 1000),
}
OUTPUT_MODES = ("raw", "prefixed", "json")
NAME_FIX = "rename it (letters, digits, '-', '_', '.')"


def services(ctx: Context) -> None:
    directory = f"{paths.ETC}/services"
    found: dict[str, tuple[str, set[str]]] = {}  # name -> (shown, entries): the services s6 will run
    for name in ctx.listdir(directory):
        shown = f"{directory}/{show(name)}"
        if name.startswith("."):
            # A dot directory looks like a service that will never run; a .gitkeep file is fine.
            st = ctx.view.stat(f"{directory}/{name}")
            if not isinstance(st, str) and stat.S_ISDIR(st.st_mode):
                ctx.warning(shown, None, "name starts with a dot: Ignity and s6 ignore it", "rename it, or remove it")
            continue
        bad = service_name_problem(name)
        if bad is not None:
            ctx.error(shown, None, bad, NAME_FIX)
            continue
        names = service(ctx, f"{directory}/{name}", shown, with_log=True)
        if names is not None:
            found[name] = (shown, names)
    dependencies.check(ctx, directory, found)


def service(ctx: Context, path: str, shown: str, with_log: bool) -> set[str] | None:
    """Check one service directory (`with_log`: a service, not a logger); its entry names, None if none."""
    st = ctx.view.stat(path)
    if isinstance(st, str) or not stat.S_ISDIR(st.st_mode):
        ctx.error(
            shown,
            None,
            st if isinstance(st, str) else "not a directory, expected a service directory",
            f"a service is a directory with an executable run file: {shown}/run",
        )
        return None
    names = set(ctx.listdir(path))  # one read of the directory, not a lookup per file
    if "run" not in names and migration.rc_definition(ctx, path, shown, names):
        return names
    if "run" not in names:
        ctx.error(shown, None, "no run file: s6 cannot start it", f"add an executable {shown}/run")
    else:
        script(ctx, f"{path}/run", f"{shown}/run")
    if "finish" in names:
        script(ctx, f"{path}/finish", f"{shown}/finish")
    if "down" in names:
        marker(ctx, f"{path}/down", f"{shown}/down", "down")
    for name, (low, high) in CONTROL_FILES.items():
        if name in names:
            control_file(ctx, f"{path}/{name}", f"{shown}/{name}", name, low, high)
    if with_log:
        ignity_files(ctx, path, shown, names)
        if "log" in names:
            service(ctx, f"{path}/log", f"{shown}/log", with_log=False)
    return names


def ignity_files(ctx: Context, path: str, shown: str, names: set[str]) -> None:
    """The files Ignity (not s6) reads in a service directory."""
    if "essential" in names:
        marker(ctx, f"{path}/essential", f"{shown}/essential", "essential", empty_warning=True)
    if "keep-children" in names:
        marker(ctx, f"{path}/keep-children", f"{shown}/keep-children", "keep-children")
    if "health" in names:
        script(ctx, f"{path}/health", f"{shown}/health")
    for name, (low, high) in HEALTH_FILES.items():
        if name in names:
            control_file(ctx, f"{path}/{name}", f"{shown}/{name}", name, low, high)
    if "output-mode" in names:
        output_mode(ctx, f"{path}/output-mode", f"{shown}/output-mode")
    if "schedule" in names or "concurrency" in names or "timeout" in names:
        from ignity.check import jobs  # scheduled jobs: check/jobs.py

        jobs.job(ctx, path, shown, names)
    for name in restarts.FILES:
        if name in names:
            restart_file(ctx, f"{path}/{name}", f"{shown}/{name}", name)
    if "down-signal" in names:
        down_signal(ctx, f"{path}/down-signal", f"{shown}/down-signal")


def restart_file(ctx: Context, path: str, shown: str, name: str) -> None:
    """restart, restart-delay, restart-limit: one line, parsed as the boot parses it (restarts.py)."""
    if ctx.regular(path, shown, "a regular file", restarts.FIX[name]) is None:
        return
    data = ctx.read(path, shown, 256)
    if data is None:
        return
    text = data[:-1] if data.endswith(b"\n") else data
    parse = restarts.PARSE[name]
    try:
        if b"\n" in text or b"\r" in text:
            raise ValueError("more than one line")
        parse(text.decode("ascii", "replace"))
    except ValueError as e:
        ctx.error(shown, 1, f"{name}: {e}", CR_FIX if b"\r" in data else restarts.FIX[name])


def down_signal(ctx: Context, path: str, shown: str) -> None:
    """down-signal (s6's): a signal name (SIGHUP or HUP) or number."""
    import signal

    fix = "write a signal name such as SIGTERM, SIGQUIT or SIGINT"
    if ctx.regular(path, shown, "a regular file", fix) is None:
        return
    data = ctx.read(path, shown, 64)
    if data is None:
        return
    text = data.decode("ascii", "replace").strip().upper()
    try:
        signal.Signals(int(text)) if text.isdigit() else signal.Signals["SIG" + text.removeprefix("SIG")]
    except (KeyError, ValueError):
        ctx.error(shown, 1, f"down-signal is {show(os.fsdecode(data).strip())!r}, not a signal", fix)


def marker(ctx: Context, path: str, shown: str, name: str, empty_warning: bool = False) -> None:
    """A file whose presence is the setting (down, essential, keep-children): a regular file, best empty."""
    fix = f"make it an empty file: touch {shown}"
    st = ctx.regular(path, shown, "an empty regular file", fix)
    if st is not None and empty_warning and st.st_size:
        ctx.warning(shown, None, f"{name} is not empty: only its presence counts, its content is ignored", fix)


def control_file(ctx: Context, path: str, shown: str, name: str, low: int, high: int) -> None:
    """A number file: digits, one optional newline, within the reader's range."""
    st = ctx.view.stat(path)
    if isinstance(st, str) or not stat.S_ISREG(st.st_mode):
        why = st if isinstance(st, str) else f"is {kind(st.st_mode)}, expected a regular file"
        ctx.error(shown, None, why, f"write a number in {shown}")
        return
    data = ctx.read(path, shown, 64)
    if data is None:
        return
    text = data[:-1] if data.endswith(b"\n") else data
    if not text.isdigit():
        fix = CR_FIX if b"\r" in data else f"write a whole number from {low} to {high} and a newline"
        ctx.error(shown, 1, f"{name} is {show(os.fsdecode(data))!r}, not a whole number", fix)
        return
    value = int(text)
    if name == "notification-fd" and value < low:
        ctx.error(
            shown,
            1,
            f"notification-fd is {value}: fds 0, 1 and 2 are the service's stdin, stdout and stderr",
            "use 3 or above, and have the service write its readiness newline on that fd",
        )
    elif not low <= value <= high:
        ctx.error(shown, 1, f"{name} is {value}, out of range", f"write a whole number from {low} to {high}")


def output_mode(ctx: Context, path: str, shown: str) -> None:
    """output-mode: one line, one of raw, prefixed, json."""
    fix = "write one of " + ", ".join(OUTPUT_MODES) + " and a newline"
    if ctx.regular(path, shown, "a regular file", fix) is None:
        return
    data = ctx.read(path, shown, 64)
    if data is None:
        return
    text = data[:-1] if data.endswith(b"\n") else data
    if text.decode("ascii", "replace") not in OUTPUT_MODES:
        fix = CR_FIX if b"\r" in data else fix
        ctx.error(shown, 1, f"output-mode is {show(os.fsdecode(data))!r}, not one of the modes", fix)
