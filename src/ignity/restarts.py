"""Restart policies: the `restart`, `restart-delay`, `restart-limit` and `success-exit-codes` files.

The finish wrapper (sh/finish.sh) applies them at each death, in sh, from numbers
written in at install and a tally it keeps in .ignity/deaths. A delay past s6's own
second is waited out by the next run (sh/restart-wait.sh), so a stop ends it at once.
No program stays resident.
"""

from __future__ import annotations

import os

from ignity import paths, templates, tools
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


def filled(name: str, policy: Policy, essential: bool, tell: bool) -> dict[str, str | int]:
    """The finish template's values for its restart section (sh/finish.sh)."""
    return {
        "name": name,
        "essential": int(essential),
        "tell": int(tell),
        "policy": policy.restart,
        "first": policy.first,
        "max": policy.max,
        "limit": policy.limit,
        "window": policy.window,
        "waits": int(policy.waits),
        "success": " ".join(map(str, policy.success)),
        "svstat": tools.find("s6-svstat"),
        "svc": tools.find("s6-svc"),
        "mv": tools.find("mv"),
        "stopping": paths.STOPPING,
        "booted": _booted_ms(),
    }


def _booted_ms() -> int:
    """When the kernel's uptime (/proc/uptime, CLOCK_BOOTTIME) was 0, in ms of CLOCK_REALTIME."""
    import time

    try:
        with open("/proc/uptime") as f:
            uptime_ms = int(float(f.read().split()[0]) * 1000)
    except (OSError, ValueError, IndexError):
        uptime_ms = 0
    return int(time.time() * 1000) - uptime_ms


def wait_script() -> str:
    """.ignity/restart-wait: the run's wait for the start its finish chose (sh/restart-wait.sh)."""
    return templates.render("restart-wait.sh", {"sleep": tools.find("sleep")})


def prologue_line() -> str:
    """The run's line that waits out a pending delay, then says the start is no longer pending."""
    return f"[ ! -s {RESTART} ] || {{ {WAIT}; : > {RESTART}; }}"


def present(path: str) -> bool:
    return any(os.path.lexists(f"{path}/{f}") for f in FILES)
