"""Health checks: a small sh loop per checked service (sh/health-loop.sh), and reading what it found.

The loop runs `health` every `health-interval` ms once the service is up, and after
`health-retries` failures stops the service (its restart policy then applies) or,
for an essential one, the container. It lives in the service's process group, so it
dies with it. Files, defaults and escalation: docs/how-it-works.md ("Health checks").
"""

from __future__ import annotations

import os

from ignity import svfile, templates, tools
from ignity.errors import IgnityError

DEFAULTS = {"health-interval": 10000, "health-retries": 3, "health-timeout": 5000}
STATE = ".ignity/health"
LAST = ".ignity/health-last"
RESTARTS = ".ignity/health-restarts"
LAST_MAX = 200  # characters of the last failure's line shown


def has_check(path: str) -> bool:
    return os.path.lexists(f"{path}/health")


def settings(path: str, name: str) -> dict[str, int]:
    """The three numbers, from the service's files or the defaults; errors name the file."""
    values = dict(DEFAULTS)
    for key in DEFAULTS:
        try:
            with open(f"{path}/{key}") as f:
                text = f.read().strip()
        except FileNotFoundError:
            continue
        if not text.isdigit() or int(text) == 0:
            unit = "a count" if key == "health-retries" else "milliseconds"
            raise IgnityError(f"/etc/ignity/services/{name}/{key}: {text!r} is not a positive whole number ({unit})")
        values[key] = int(text)
    return values


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def down_signal(path: str) -> str:
    """The service's `down-signal` (s6's file: a name, with or without SIG, or a number) as a
    name `kill -s` takes; TERM when absent or not a signal (s6 then sends SIGTERM too)."""
    import signal

    try:
        with open(f"{path}/down-signal") as f:
            text = f.read(64).strip().upper()
    except OSError:
        return "TERM"
    try:
        number = int(text) if text.isdigit() else int(signal.Signals["SIG" + text.removeprefix("SIG")])
        return signal.Signals(number).name[3:]
    except (KeyError, ValueError):
        return "TERM"


def grace(path: str, gracetime_ms: int) -> int:
    """The service's stop grace: its `timeout-kill`, else IGNITY_SERVICES_GRACETIME (at least 1 ms)."""
    try:
        with open(f"{path}/timeout-kill") as f:
            text = f.read(64).strip()
    except OSError:
        text = ""
    return int(text) if text.isdigit() and int(text) > 0 else max(1, gracetime_ms)


def loop_script(
    path: str, name: str, notifies: bool, essential: bool, clean: bool = True, gracetime_ms: int = 5000
) -> str:
    """The loop: sh/health-loop.sh with this service's numbers and the programs' paths."""
    s = settings(path, name)
    from ignity import wrappers

    return templates.render(
        "health-loop.sh",
        {
            "interval": _seconds(s["health-interval"]),
            "retries": s["health-retries"],
            "timeout_ms": s["health-timeout"],
            "timeout_s": _seconds(s["health-timeout"]),
            "notifies": int(notifies),
            "essential": int(essential),
            "clean": int(clean),
            "downsig": down_signal(path),
            "grace_ms": grace(path, gracetime_ms),
            "svwait": tools.find("s6-svwait"),
            "timeout": _find_timeout(),
            "sleep": tools.find("sleep"),
            "mv": tools.find("mv"),
            "tail": tools.find("tail"),
            "ignity": wrappers.ignity_command() if essential else "ignity",
        },
    )


def _find_timeout() -> str:
    try:
        return tools.find("timeout")
    except IgnityError:
        raise IgnityError("timeout not found: health checks need it (coreutils, or busybox on Alpine)") from None


class State:
    """What the loop last wrote, for `ignity status`."""

    __slots__ = ("failures", "last_failure", "restarts", "state")

    def __init__(self, state: str, failures: int, last_failure: str | None, restarts: int) -> None:
        self.state = state
        self.failures = failures
        self.last_failure = last_failure
        self.restarts = restarts


def read(path: str) -> State | None:
    """The health state of the service at `path`, or None if it has no check."""
    if not has_check(path):
        return None
    state, failures = "starting", 0
    try:
        words = svfile.read_text(f"{path}/{STATE}", 256).split()
        if len(words) == 2 and words[1].isdigit():
            state, failures = (words[0] if words[0].isprintable() else "?"), int(words[1])
    except OSError:
        pass
    last = None
    try:
        last = svfile.read_text(f"{path}/{LAST}", LAST_MAX + 1).rstrip("\n") or None
        if last is not None and len(last) > LAST_MAX:
            last = last[:LAST_MAX] + "..."  # a check may print anything: the status stays one line
        if last is not None and not last.isprintable():
            # nor may it move the operator's cursor or recolour the terminal (escape sequences)
            last = "".join(c if c.isprintable() else "?" for c in last)
    except OSError:
        pass
    try:
        restarts = len(svfile.read_small(f"{path}/{RESTARTS}", 1 << 16))
    except OSError:
        restarts = 0
    return State(state, failures, last, restarts)
