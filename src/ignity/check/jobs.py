"""Scheduled jobs (a `schedule` file in a service directory): the schedule, `concurrency`, `timeout`.

The schedule is parsed by the job's own parser (cron.py), so the message is
the one the boot would print; what a job cannot have (a health check, a
notification-fd: a job is not "up" in the sense a service is) is refused.
"""

from __future__ import annotations

import os
import stat

from ignity import cron
from ignity.check.report import show
from ignity.check.scripts import CR_FIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.context import Context

JOB_FILES = ("schedule", "concurrency", "timeout")
MS_MAX = 2**31 - 1


def job(ctx: Context, path: str, shown: str, names: set[str]) -> None:
    """Check the job files of the service directory at `path` (entries `names`)."""
    if "schedule" not in names:
        for name in ("concurrency", "timeout"):
            if name in names:
                ctx.warning(
                    f"{shown}/{name}", None, "only a job (a service with a schedule file) reads it", "remove it"
                )
        return
    schedule(ctx, f"{path}/schedule", f"{shown}/schedule")
    if "concurrency" in names:
        concurrency(ctx, f"{path}/concurrency", f"{shown}/concurrency")
    if "timeout" in names:
        timeout(ctx, f"{path}/timeout", f"{shown}/timeout")
    for name in sorted(names):
        if name == "health" or name.startswith("health-"):
            ctx.error(
                f"{shown}/{name}",
                None,
                "a job has no health check (it runs at its times, it is not kept up)",
                f"remove {shown}/{name}, or the schedule file to make it a service",
            )
    if "notification-fd" in names:
        ctx.error(
            f"{shown}/notification-fd",
            None,
            "a job does not notify readiness (its program is up between runs)",
            f"remove {shown}/notification-fd",
        )


def _text(ctx: Context, path: str, shown: str, what: str, fix: str) -> bytes | None:
    if ctx.regular(path, shown, what, fix) is None:
        return None
    return ctx.read(path, shown, 65536)


def schedule(ctx: Context, path: str, shown: str) -> None:
    data = _text(ctx, path, shown, "a regular file", f"write one schedule line in {shown}, {cron.EXAMPLE}")
    if data is None:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        ctx.error(shown, None, "not UTF-8 text", f"write one schedule line, {cron.EXAMPLE}")
        return
    try:
        cron.parse(text, check_zone=ctx.live or not ctx.root)
    except cron.ScheduleError as e:
        ctx.error(shown, e.line, e.problem, e.fix)
        return
    if not ctx.live and ctx.root:
        # The zone file is looked up in the image (links resolved inside it), not on this machine.
        words = text.split()
        if words and words[0].startswith("CRON_TZ="):
            zone = words[0][len("CRON_TZ=") :]
            line = 1 + text[: text.index(words[0])].count("\n")
            st = ctx.view.stat(f"{cron.ZONEINFO}/{zone}")
            if isinstance(st, str) or not stat.S_ISREG(st.st_mode):
                ctx.error(
                    shown, line, f"CRON_TZ={zone}: no such zone in {cron.ZONEINFO}", "install tzdata in the image"
                )


def concurrency(ctx: Context, path: str, shown: str) -> None:
    fix = "write forbid (the default: a run still going skips the next) or replace"
    data = _text(ctx, path, shown, "a regular file", fix)
    if data is None:
        return
    text = data[:-1] if data.endswith(b"\n") else data
    if text.decode("ascii", "replace") not in ("forbid", "replace"):
        ctx.error(shown, 1, f"concurrency is {show(os.fsdecode(data))!r}", CR_FIX if b"\r" in data else fix)


def timeout(ctx: Context, path: str, shown: str) -> None:
    fix = f"write a whole number of milliseconds from 1 to {MS_MAX} and a newline"
    data = _text(ctx, path, shown, "a regular file", fix)
    if data is None:
        return
    text = data[:-1] if data.endswith(b"\n") else data
    if not text.isdigit() or not 1 <= int(text) <= MS_MAX:
        ctx.error(
            shown, 1, f"timeout is {show(os.fsdecode(data))!r}, not a number of ms", CR_FIX if b"\r" in data else fix
        )
