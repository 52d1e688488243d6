"""Restart policies: the `restart`, `restart-delay` and `restart-limit` files, and the sh that applies them.

s6-supervise restarts a dead service one second after its finish; everything
else is decided by the finish wrapper (wrappers.py) at each death, in sh, from
numbers written into it at install time and a small tally it keeps in
.ignity/deaths. A delay beyond s6's one second is waited out by the next run
itself, before the service starts (`restart-wait`), so that `s6-svc -d` or the
container's stop ends the wait at once like any run. No program stays resident.
"""

from __future__ import annotations

import os

from ignity import paths, tools
from ignity.errors import IgnityError

POLICIES = ("always", "on-failure", "never")
FILES = ("restart", "restart-delay", "restart-limit", "success-exit-codes")
FLOOR_MS = 1000  # s6-supervise's own pause between two starts
MS_MAX = 2**31 - 1
LIMIT_MAX = 1000  # deaths remembered for the window

DEATHS = ".ignity/deaths"  # RESTARTS CONSECUTIVE SINCE_CS START_CS TOLD_CS [DEATH_CS...] (finish's memory)
RESTART = ".ignity/restart"  # DEATHS DELAY_MS NEXT_MS while a start is pending (docs/service-states.md)
WAIT = ".ignity/restart-wait"

FIX = {
    "restart": "write always, on-failure or never",
    "restart-delay": "write FIRST_MS or FIRST_MS MAX_MS (whole milliseconds, MAX_MS >= FIRST_MS)",
    "restart-limit": "write N WINDOW_MS (give up at the N-th death within WINDOW_MS), or 0 for no limit",
    "success-exit-codes": "write the exit statuses (0 to 255) that count as success, e.g. 0 3",
}


def _numbers(text: str, what: str) -> list[int]:
    words = text.split()
    for word in words:
        if not (word.isascii() and word.isdigit()):
            raise ValueError(f"{word!r} is not a whole number of {what}")
        if len(word.lstrip("0")) > 10 or int(word) > MS_MAX:
            raise ValueError(f"{word} is too large (at most {MS_MAX})")
    return [int(w) for w in words]


def parse_policy(text: str) -> str:
    word = text.strip()
    if word not in POLICIES:
        raise ValueError(f"{word!r} is not a restart policy")
    return word


def parse_delay(text: str) -> tuple[int, int]:
    """`FIRST_MS [MAX_MS]` -> (first, max); one number: no doubling."""
    numbers = _numbers(text, "milliseconds")
    if len(numbers) not in (1, 2):
        raise ValueError(f"{len(numbers)} numbers, expected FIRST_MS or FIRST_MS MAX_MS")
    first, most = numbers[0], numbers[-1]
    if most < first:
        raise ValueError(f"MAX_MS {most} is less than FIRST_MS {first}")
    return first, most


def parse_limit(text: str) -> tuple[int, int]:
    """`N WINDOW_MS` -> (n, window); `0`: (0, 0), never given up."""
    numbers = _numbers(text, "deaths and milliseconds")
    if numbers == [0]:
        return 0, 0
    if len(numbers) != 2:
        raise ValueError(f"{len(numbers)} numbers, expected N WINDOW_MS (or 0 for no limit)")
    n, window = numbers
    if not 1 <= n <= LIMIT_MAX:
        raise ValueError(f"N is {n}, expected 1 to {LIMIT_MAX}")
    if window == 0:
        raise ValueError("WINDOW_MS is 0, expected a positive number of milliseconds")
    return n, window


def parse_success(text: str) -> tuple[int, ...]:
    """`CODE...`: the exits `on-failure` and `never` take as success (supervisord's exitcodes)."""
    codes = _numbers(text, "exit statuses")
    if not codes:
        raise ValueError("no exit status, expected one or more of 0 to 255")
    bad = next((c for c in codes if c > 255), None)
    if bad is not None:
        raise ValueError(f"{bad} is not an exit status (0 to 255)")
    return tuple(sorted(set(codes)))


class Policy:
    __slots__ = ("first", "limit", "max", "restart", "success", "window")

    def __init__(
        self, restart: str, delay: tuple[int, int], limit: tuple[int, int], success: tuple[int, ...] = (0,)
    ) -> None:
        self.restart = restart
        self.success = success
        self.first, self.max = delay
        self.limit, self.window = limit

    @property
    def waits(self) -> bool:
        """Whether a delay can exceed s6's own pause: then the run waits it out."""
        return self.max > FLOOR_MS


def read(path: str, name: str, delay: str, limit: str, essential: bool) -> Policy:
    """The policy of the service at `path`: its files, else the defaults (IGNITY_SERVICES_RESTART_*).

    An essential service without a `restart` file is never restarted: its death ends the container.
    """
    texts: dict[str, str] = {}
    for file in FILES:
        try:
            with open(f"{path}/{file}") as f:
                texts[file] = f.read(256)
        except FileNotFoundError:
            continue
    try:
        return Policy(
            parse_policy(texts.get("restart", "never" if essential else "always")),
            parse_delay(texts.get("restart-delay", delay)),
            parse_limit(texts.get("restart-limit", limit)),
            parse_success(texts.get("success-exit-codes", "0")),
        )
    except ValueError as e:
        bad = next((f for f in FILES if f in texts and _bad(f, texts[f])), None)
        if bad is None:  # config.py checked the variables: not reached
            raise IgnityError(f"IGNITY_SERVICES_RESTART_*: {e}") from None
        raise IgnityError(f"/etc/ignity/services/{name}/{bad}: {e} — {FIX[bad]}") from None


def _bad(file: str, text: str) -> bool:
    try:
        PARSE[file](text)
    except ValueError:
        return True
    return False


PARSE = {
    "restart": parse_policy,
    "restart-delay": parse_delay,
    "restart-limit": parse_limit,
    "success-exit-codes": parse_success,
}


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def filled(name: str, policy: Policy, essential: bool, tell: bool) -> list[str]:
    """The finish wrapper's assignments for its restart section."""
    return [
        f"name={_q(name)} essential={int(essential)} tell={int(tell)}",
        f"policy={policy.restart} first={policy.first} max={policy.max} limit={policy.limit} window={policy.window}",
        f"waits={int(policy.waits)} success={_q(' '.join(map(str, policy.success)))}",
        f"svstat={_q(tools.find('s6-svstat'))} svc={_q(tools.find('s6-svc'))}",
        f"mv={_q(tools.find('mv'))} stopping={_q(paths.STOPPING)} booted={_booted_ms()}",
    ]


def _booted_ms() -> int:
    """When the kernel's uptime (/proc/uptime, CLOCK_BOOTTIME) was 0, in ms of CLOCK_REALTIME."""
    import time

    try:
        with open("/proc/uptime") as f:
            uptime_ms = int(float(f.read().split()[0]) * 1000)
    except (OSError, ValueError, IndexError):
        uptime_ms = 0
    return int(time.time() * 1000) - uptime_ms


# The finish wrapper's decision, after the clean-up and the author's finish ($code).
# $1/$2: s6's exit code (256: killed) and signal. Numbers in centiseconds since boot
# (/proc/uptime: no fork), except the ms of .ignity/restart (CLOCK_REALTIME, for status).
DECIDE = r"""put() { printf '%s\n' "$2" > "$1.new" && "$mv" -f "$1.new" "$1"; }
# The container stops (the latch, a test without a fork: a stop costs nothing more), or s6 no longer wants it up.
want=false
[ -e "$stopping" ] || want=$("$svstat" -o wantedup . 2>/dev/null)
if [ "$want" != true ]; then
  # Asked to stop (an operator, the container's stop): nothing to decide.
  [ ! -s .ignity/restart ] || : > .ignity/restart
  exit "$code"
fi
ok=0
if [ "$1" = 256 ]; then
  sig=$(kill -l "$2" 2>/dev/null) || sig=$2
  status=$((128 + $2)) what="crashed (signal $sig)"
  read -r h _ 2>/dev/null < .ignity/health && [ "$h" = unhealthy ] && what="crashed (unhealthy, stopped by signal $sig)"
else
  status=$1 what="exited $1"
  case " $success " in *" $1 "*) ok=1 ;; esac  # success-exit-codes (0 by default); never a signal
fi
read -r up _ < /proc/uptime
now=$((${up%.*} * 100 + 1${up#*.} - 100))
restarts=0 consec=0 since=$now start=0 told=0 times=
[ ! -s .ignity/deaths ] || read -r restarts consec since start told times < .ignity/deaths
# The count of consecutive deaths resets once a run lasted max ms, or passed its health check.
if [ "$start" = 0 ] || [ $(((now - start) * 10)) -ge "$max" ]; then consec=0; fi
if [ -s .ignity/health-passed ]; then consec=0; : > .ignity/health-passed; fi
consec=$((consec + 1))
[ "$consec" != 1 ] || since=$now
n=1 kept= oldest=$now
if [ "$limit" -gt 0 ]; then
  for t in $times; do
    if [ $(((now - t) * 10)) -lt "$window" ]; then kept="$kept $t" n=$((n + 1)); [ "$t" -ge "$oldest" ] || oldest=$t; fi
  done
  kept="$kept $now"
fi
case $consec in *1[123]) th=th ;; *1) th=st ;; *2) th=nd ;; *3) th=rd ;; *) th=th ;; esac
count=" ($consec$th time in $(((now - since) / 100)) s)"
[ "$consec" != 1 ] || count=
reason= done=
[ "$code" != 125 ] || reason="finish exited 125"
case $policy in
  never) [ "$ok" = 1 ] && done=$what || reason=${reason:-"$what (restart never)"} ;;
  on-failure) [ "$ok" != 1 ] || done=$what ;;
esac
[ -z "$reason" ] || done=
if [ -z "$reason$done" ] && [ "$limit" -gt 0 ] && [ "$n" -ge "$limit" ]; then
  reason="given up after $n exits in $(((now - oldest) / 100)) s"
fi
if [ -n "$reason$done" ]; then
  : > .ignity/restart
  # Forgotten: a start by hand (ignity start) begins a new count and a new window.
  put .ignity/deaths "$restarts $consec $since 0 $told"
  if [ -n "$reason" ]; then
    [ "$essential" = 1 ] || put .ignity/failed "$reason"
    echo "[ignity] $name $what$count: $reason" >&2
  else
    [ "$essential" = 1 ] || put .ignity/done "$done"
    [ "$tell" = 0 ] || echo "[ignity] $name $what$count: done (restart $policy)" >&2
  fi
  if [ "$essential" = 1 ]; then  # the container stops with its status; failed and done stay empty
    "$ignity" halt "$status"
    # Not restarted while the container stops. Not `exit 125` ("permanent failure"):
    # its 'O' event would end a start-up wait as if the service were ready.
    "$svc" -d .
    exit "$code"
  fi
  exit 125
fi
d=$first k=1
while [ "$k" -lt "$consec" ] && [ "$d" -lt "$max" ]; do d=$((d * 2)) k=$((k + 1)); done
[ "$d" -le "$max" ] || d=$max
[ "$d" -ge 1000 ] || d=1000
restarts=$((restarts + 1))
if [ "$tell" = 1 ] && { [ "$consec" -le 3 ] || [ $((now - told)) -ge 1000 ]; }; then
  echo "[ignity] $name $what$count: restarting in $d ms" >&2
  told=$now
fi
put .ignity/deaths "$restarts $consec $since $((now + d / 10)) $told$kept"
# NEXT_MS: the boot's time on CLOCK_REALTIME (written in at install) + uptime: no fork of date(1).
put .ignity/restart "$consec $d $((booted + now * 10 + d))"
exit "$code"
"""

WAIT_SCRIPT = r"""#!/bin/sh
# Written by Ignity: run waits here for the start its finish chose (restarts.py).
read -r _ _ _ start _ < .ignity/deaths || exit 0
read -r up _ < /proc/uptime
left=$((start - (${up%.*} * 100 + 1${up#*.} - 100)))
[ "$left" -gt 0 ] || exit 0
exec SLEEP "$((left / 100)).$((left % 100 / 10))$((left % 10))"
"""


def wait_script() -> str:
    return WAIT_SCRIPT.replace("SLEEP", _q(tools.find("sleep")))


def prologue_line() -> str:
    """The run's line that waits out a pending delay, then says the start is no longer pending."""
    return f"[ ! -s {RESTART} ] || {{ {WAIT}; : > {RESTART}; }}"


def interrupted() -> list[str]:
    """Finish's first decision for a service whose run waits: a run that died in its wait never
    started the service (`s6-svc -r` during a delay restarts it now): not a death of the service."""
    return [f'if [ "$waits" = 1 ] && [ -s {RESTART} ]; then : > {RESTART}; exit 0; fi']


def present(path: str) -> bool:
    return any(os.path.lexists(f"{path}/{f}") for f in FILES)
