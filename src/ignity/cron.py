"""A job's schedule (`services/NAME/schedule`): the parser and the next-time function.

One line, one of:
  - five-field cron: minute hour day-of-month month day-of-week, each a list
    of `*`, `N`, `N-M`, with an optional `/STEP` (`N/STEP` = `N-max/STEP`);
    month and day names (jan..dec, sun..sat, case-insensitive); day-of-week 7
    is Sunday. Vixie cron's rule: when neither day field starts with `*`, a
    day matches if EITHER matches; otherwise both must;
  - `@yearly` `@annually` `@monthly` `@weekly` `@daily` `@midnight` `@hourly`;
  - `@every DURATION` (`30s`, `5m`, `1h30m`, `2d`): counted from the
    container's start (the job's program does that arithmetic, in sh);
  - `@reboot`: once, when the container starts (its dependencies up);
  and, before a cron line, an optional `CRON_TZ=Zone` (cronie's).
Blank lines and `#` comments are allowed around it.

Time zone: the C library's, as cronie's: `TZ`, else /etc/localtime, or
`CRON_TZ`. It is read through `time.localtime` (no zoneinfo: python3-minimal
has no zoneinfo, and libc reads the same tzdata files); a zone whose file is
missing is UTC to libc, so `ignity check` refuses a CRON_TZ without its file.

Daylight saving time, as Vixie cron and cronie: a schedule whose minute and
hour fields are both fixed (neither starts with `*`) runs once for a local
time the clock skips, at the end of the gap, and once (the first time) for a
local time the clock repeats. One whose minute or hour field starts with `*`
(a "wildcard" one: every N minutes, every hour) follows real time: nothing
for a skipped hour, both passes of a repeated one.

`python3 -IS .ignity/next SCHEDULE AFTER NOW` (the job's program, once per
run) prints `SKIPPED NEXT`: how many times (up to 1000) lie in (AFTER, NOW],
and the first time after both (epoch seconds).

Only the standard library of python3-minimal: os, sys, time.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, low, high, names (index 0 = low)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 0, 7, DAYS),
)
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # the most each month can have
EXAMPLE = "e.g. `30 2 * * *` (02:30 each day), `*/5 * * * *`, `@daily`, `@every 10m`"
MAX_SKIPPED = 1000
ZONEINFO = "/usr/share/zoneinfo"
MARGIN = 3 * 3600  # more than any zone's DST shift


class ScheduleError(ValueError):
    """A bad schedule: `line` (1-based), `problem`, `fix`."""

    def __init__(self, line: int, problem: str, fix: str) -> None:
        super().__init__(f"{line}: {problem} — {fix}")
        self.line, self.problem, self.fix = line, problem, fix


class Schedule:
    """A parsed schedule. kind: `cron`, `every` (seconds) or `reboot`."""

    __slots__ = (
        "days", "dom_star", "dow_star", "dows", "every", "hours", "kind", "minutes", "months", "text", "tz", "wild"
    )  # fmt: skip

    def __init__(self, text: str, kind: str) -> None:
        self.text, self.kind = text, kind
        self.tz: str | None = None
        self.every = 0
        self.minutes: frozenset[int] = frozenset()
        self.hours: frozenset[int] = frozenset()
        self.days: frozenset[int] = frozenset()  # day of month
        self.months: frozenset[int] = frozenset()
        self.dows: frozenset[int] = frozenset()
        self.dom_star = self.dow_star = self.wild = False

    def day_matches(self, dom: int, month: int, dow: int) -> bool:
        if month not in self.months:
            return False
        if self.dom_star or self.dow_star:
            return dom in self.days and dow in self.dows
        return dom in self.days or dow in self.dows


def _number(word: str, low: int, high: int, names: tuple[str, ...], field: str, line: int) -> int:
    lower = word.lower()
    if lower in names:
        return low + names.index(lower) if field == "month" else names.index(lower)
    if not word.isdigit():
        known = f" or a name ({', '.join(names)})" if names else ""
        raise ScheduleError(line, f"{field} {word!r} is not a number", f"use a number from {low} to {high}{known}")
    value = int(word)
    if not low <= value <= high:
        shown = f"{low}–{high}" if field != "day-of-week" else "0–7 (0 and 7: Sunday)"
        raise ScheduleError(line, f"{field} {value} is out of range {shown}", f"use a {field} from {low} to {high}")
    return value


def _field(text: str, index: int, line: int) -> frozenset[int]:
    field, low, high, names = FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(line, f"{field} {text!r} has an empty list item", "separate values with one comma")
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(
                    line, f"{field} step {step_text!r} in {item!r} is not a whole number above 0", "write e.g. */5"
                )
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first = _number(a, low, high, names, field, line)
            last = _number(b, low, high, names, field, line)
            if first > last:
                raise ScheduleError(
                    line, f"{field} range {body!r} runs backwards", f"write the low end first, e.g. {b}-{a} reversed"
                )
        else:
            first = _number(body, low, high, names, field, line)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    if index == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def _duration(text: str, line: int) -> int:
    """`1h30m` -> 5400; at least 1 s."""
    fix = "write a duration such as 30s, 5m, 1h30m or 2d"
    total, digits, seen = 0, "", ""
    for char in text:
        if char.isdigit():
            digits += char
        elif char in UNITS and digits and char not in seen:
            total += int(digits) * UNITS[char]
            digits, seen = "", seen + char
        else:
            raise ScheduleError(line, f"@every {text!r} is not a duration", fix)
    if digits or not text:
        raise ScheduleError(line, f"@every {text!r} is not a duration (a number needs a unit: s, m, h, d)", fix)
    if total == 0:
        raise ScheduleError(line, "@every 0 would run without pause", fix)
    if total > 366 * 86400:
        raise ScheduleError(line, f"@every {text} is more than a year", "use a cron line for rare runs")
    return total


def zone_problem(zone: str, zoneinfo: str | None = None) -> str | None:
    """Why CRON_TZ=`zone` cannot be used, or None."""
    directory = zoneinfo or os.environ.get("TZDIR") or ZONEINFO
    if not zone or zone.startswith("/") or ".." in zone.split("/") or not zone.isprintable():
        return f"CRON_TZ={zone!r} is not a zone name"
    if not os.path.isfile(f"{directory}/{zone}"):
        return f"CRON_TZ={zone}: no such zone in {directory} (the C library would silently use UTC)"
    return None


def parse(text: str, check_zone: bool = True) -> Schedule:
    """The schedule in `text` (a schedule file's content); ScheduleError names the line."""
    found: tuple[int, str] | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\r" in raw:
            raise ScheduleError(number, "the line ends with a carriage return (CRLF)", "save the file with LF endings")
        if found is not None:
            raise ScheduleError(number, "a second schedule line", "a job has one schedule; make another job")
        found = (number, stripped)
    if found is None:
        raise ScheduleError(1, "the schedule is empty", f"write one schedule line, {EXAMPLE}")
    line, body = found
    words = body.split()
    tz = None
    if words[0].startswith("CRON_TZ="):
        tz = words.pop(0)[len("CRON_TZ=") :]
        if check_zone:
            problem = zone_problem(tz)
            if problem:
                raise ScheduleError(line, problem, f"name a zone under {ZONEINFO}, e.g. Europe/Paris (install tzdata)")
        if not words:
            raise ScheduleError(line, "CRON_TZ= but no schedule after it", f"add the schedule, {EXAMPLE}")
    first = words[0].lower()
    if first.startswith("@"):
        if first == "@every":
            if tz is not None:
                raise ScheduleError(line, "CRON_TZ with @every: a duration has no time zone", "remove CRON_TZ=")
            if len(words) != 2:
                raise ScheduleError(line, "@every takes one duration", "write e.g. @every 5m")
            schedule = Schedule(body, "every")
            schedule.every = _duration(words[1].lower(), line)
            return schedule
        if first == "@reboot":
            if len(words) != 1 or tz is not None:
                raise ScheduleError(line, "@reboot takes nothing else", "write @reboot alone")
            return Schedule(body, "reboot")
        if first not in NICKNAMES:
            raise ScheduleError(
                line,
                f"unknown schedule {words[0]!r}",
                "use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every DURATION or @reboot",
            )
        if len(words) != 1:
            raise ScheduleError(line, f"{words[0]} takes nothing after it", f"write {words[0]} alone")
        words = NICKNAMES[first].split()
    if len(words) != 5:
        raise ScheduleError(
            line,
            f"{len(words)} field(s), a cron line has 5 (minute hour day-of-month month day-of-week)",
            EXAMPLE,
        )
    schedule = Schedule(body, "cron")
    schedule.tz = tz
    sets = [_field(word, i, line) for i, word in enumerate(words)]
    schedule.minutes, schedule.hours, schedule.days, schedule.months, schedule.dows = sets
    # Vixie cron: a field that starts with `*` (even `*/2`) is a "star" field.
    schedule.dom_star, schedule.dow_star = words[2].startswith("*"), words[4].startswith("*")
    schedule.wild = words[0].startswith("*") or words[1].startswith("*")
    if (schedule.dom_star or schedule.dow_star) and not any(
        d <= MONTH_DAYS[m - 1] for m in schedule.months for d in schedule.days
    ):
        raise ScheduleError(
            line,
            f"day-of-month {words[2]} never occurs in month {words[3]}: the job would never run",
            "pick days every one of those months has (February has 28 or 29)",
        )
    return schedule


def read(path: str) -> Schedule:
    """Parse the schedule file at `path`; ScheduleError as in parse()."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return parse(f.read(65536))


# --- calendar arithmetic on "wall seconds": a local date and time counted as if it were UTC ---


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _month_length(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return MONTH_DAYS[m - 1]


def local_offset(instant: int) -> int:
    """The C library's UTC offset (seconds east) at `instant`, in the zone of TZ or /etc/localtime."""
    return time.localtime(instant).tm_gmtoff


def _walls(schedule: Schedule, start_wall: int) -> Iterator[int]:
    """The matching wall times >= start_wall, in order, for about 8 years."""
    times = sorted(h * 3600 + mi * 60 for h in schedule.hours for mi in schedule.minutes)
    day = start_wall // 86400
    limit = day + 8 * 366 + 1
    while day <= limit:
        y, m, d = civil_from_days(day)
        if m not in schedule.months:
            day = days_from_civil(y + (m == 12), m % 12 + 1, 1)
            continue
        if schedule.day_matches(d, m, (day + 4) % 7):
            base = day * 86400
            for t in times:
                if base + t >= start_wall:
                    yield base + t
        day += 1


def _instants(wall: int, wild: bool, offset: Callable[[int], int]) -> list[int]:
    """The instants whose local time is `wall`, under the DST rules in the module's docstring."""
    before, after = offset(wall - 86400), offset(wall + 86400)
    found = sorted({wall - o for o in (before, after) if offset(wall - o) == o})
    if found:
        return found if wild else found[:1]
    if wild or before == after:
        return []
    # In a gap: the first instant after it (the transition), found by bisection.
    low, high = wall - max(before, after), wall - min(before, after)
    late = offset(high)
    while high - low > 1:
        mid = (low + high) // 2
        if offset(mid) == late:
            high = mid
        else:
            low = mid
    return [high]


def _stable(instant: int, offset: Callable[[int], int]) -> bool:
    """No change of UTC offset within MARGIN of `instant`."""
    here = offset(instant)
    return offset(instant - 2 * MARGIN) == here == offset(instant + 2 * MARGIN)


def next_time(schedule: Schedule, after: int, offset: Callable[[int], int] = local_offset) -> int | None:
    """The first instant (epoch seconds) strictly after `after` the cron schedule names; None if none in ~8 years."""
    # A wall time a little before `after`'s may still come after it (a repeated hour).
    start_wall = after + offset(after) - (0 if _stable(after, offset) else MARGIN)
    best: int | None = None
    end = 0
    for wall in _walls(schedule, start_wall - start_wall % 60):
        if best is not None and wall > end:
            return best
        for instant in _instants(wall, schedule.wild, offset):
            if instant > after and (best is None or instant < best):
                best = instant
                end = best + offset(best) + (0 if _stable(best, offset) else 3 * MARGIN)
    return best


def skipped_and_next(
    schedule: Schedule, after: int, now: int, offset: Callable[[int], int] = local_offset
) -> tuple[int, int | None]:
    """How many times lie in (after, now] (at most MAX_SKIPPED), and the first one after max(after, now)."""
    count, t = 0, after
    while count < MAX_SKIPPED:
        following = next_time(schedule, t, offset)
        if following is None or following > now:
            break
        count, t = count + 1, following
    return count, next_time(schedule, max(after, now), offset)


def main() -> None:
    """`next SCHEDULE AFTER NOW` -> `SKIPPED NEXT` (NEXT is `-` when the schedule never runs again)."""
    import sys

    try:
        path, after, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        schedule = read(path)
    except (IndexError, ValueError, OSError) as e:
        sys.stderr.write(f"ignity job: {sys.argv[1:]}: {e}\n")
        sys.exit(111)
    if schedule.tz is not None:
        os.environ["TZ"] = schedule.tz
        time.tzset()
    skipped, following = skipped_and_next(schedule, after, now)
    sys.stdout.write(f"{skipped} {'-' if following is None else following}\n")
    sys.exit(0)
