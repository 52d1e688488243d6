"""Health checks: a small sh loop per checked service, and reading what it found.

An executable `health` in a service directory is run every `health-interval`
ms (default 10000) once the service is up (ready, with a notification-fd),
each run bounded by `health-timeout` ms (default 5000, then SIGKILL). After
`health-retries` consecutive failures (default 3) the service is restarted
with `s6-svc -r`; for an `essential` service the container stops instead
(`ignity halt 1`).

The loop is /bin/sh, started in the background by the first lines of the
service's `run` (wrappers.py), so it lives in the service's process group: when the service
dies, the finish wrapper's clean-up kills it with the rest, and the next start
begins a new loop. With `keep-children` it ends itself at its next turn, once
the pid it watches is gone. The time bound is `timeout` (coreutils on
Debian, busybox on Alpine: both take `-s KILL SECONDS`); s6 has none.

The loop writes its state in NAME/.ignity/ for `ignity status`:
  health       one line "STATE FAILURES" (starting, healthy, failing, unhealthy)
  health-last  the last line of output of the last failed check
  health-restarts  one line per restart it caused
"""

from __future__ import annotations

import os

from ignity import tools
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


def loop_script(path: str, name: str, notifies: bool, essential: bool) -> str:
    """The loop, with every number and program path written in: no lookup at run time."""
    s = settings(path, name)
    svwait, svc = tools.find("s6-svwait"), tools.find("s6-svc")
    timeout = _find_timeout()
    if essential:
        from ignity import wrappers

        act = f"{wrappers.ignity_command()} halt 1"
    else:
        act = f"echo >> {RESTARTS}; {svc} -r ."
    return f"""#!/bin/sh
# Written by Ignity: the health checks of service {name}. $1: the pid of its run.
main=$1
nl='
'
put() {{ echo "$1" > {STATE}.new && mv -f {STATE}.new {STATE}; }}
put "starting 0"
{svwait} {"-U" if notifies else "-u"} . || exit 0
fails=0 state=starting
while sleep {_seconds(s["health-interval"])}; do
  kill -0 "$main" 2>/dev/null || exit 0
  out=$({timeout} -s KILL {_seconds(s["health-timeout"])} ./health 2>&1 < /dev/null)
  rc=$?
  if [ "$rc" = 0 ]; then
    [ "$state" = healthy ] || {{ fails=0 state=healthy; put "healthy 0"; }}
    continue
  fi
  fails=$((fails + 1))
  case "$rc" in
    124|137) line="timed out after {s["health-timeout"]} ms" ;;
    *) line="exit $rc: ${{out##*"$nl"}}" ;;
  esac
  echo "$line" > {LAST}.new && mv -f {LAST}.new {LAST}
  if [ "$fails" -ge {s["health-retries"]} ]; then
    put "unhealthy $fails"
    {act}
    exit 0
  fi
  state=failing
  put "failing $fails"
done
"""


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
        with open(f"{path}/{STATE}") as f:
            words = f.read().split()
        if len(words) == 2 and words[1].isdigit():
            state, failures = words[0], int(words[1])
    except OSError:
        pass
    last = None
    try:
        with open(f"{path}/{LAST}", errors="replace") as f:
            last = f.read(LAST_MAX + 1).rstrip("\n") or None
        if last is not None and len(last) > LAST_MAX:
            last = last[:LAST_MAX] + "..."  # a check may print anything: the status stays one line
    except OSError:
        pass
    try:
        with open(f"{path}/{RESTARTS}") as f:
            restarts = len(f.read())
    except OSError:
        restarts = 0
    return State(state, failures, last, restarts)
