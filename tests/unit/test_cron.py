"""cron.py: the schedule parser and the next-time function.

Checked against croniter (tests only) in zones without a change of offset
nearby, and against a minute-by-minute reference of the DST rules (Vixie
cron's, cron.py's docstring) around real transitions, in several zones; the
next-time function reads the zone through the C library (TZ), as at run time.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from ignity import cron


@contextlib.contextmanager
def zone(name: str) -> Iterator[ZoneInfo]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield ZoneInfo(name)
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def at(tz: ZoneInfo, *fields: int, fold: int = 0) -> int:
    return int(datetime.datetime(*fields, tzinfo=tz, fold=fold).timestamp())  # type: ignore[misc]


def runs(expr: str, start: int, n: int) -> list[int]:
    s, out, t = cron.parse(expr), [], start
    for _ in range(n):
        nxt = cron.next_time(s, t)
        assert nxt is not None
        out.append(nxt)
        t = nxt
    return out


# --- the parser ---


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("61 * * * *\n", 1, "minute 61 is out of range 0–59"),
        ("# nightly\n\n0 24 * * *\n", 3, "hour 24 is out of range 0–23"),
        ("0 0 0 * *", 1, "day-of-month 0 is out of range 1–31"),
        ("0 0 * 13 *", 1, "month 13 is out of range 1–12"),
        ("0 0 * * 8", 1, "day-of-week 8 is out of range 0–7 (0 and 7: Sunday)"),
        ("0 0 * foo *", 1, "month 'foo' is not a number"),
        ("*/0 * * * *", 1, "minute step '0' in '*/0' is not a whole number above 0"),
        ("5-1 * * * *", 1, "minute range '5-1' runs backwards"),
        ("1,,2 * * * *", 1, "minute '1,,2' has an empty list item"),
        ("* * * *", 1, "4 field(s), a cron line has 5"),
        ("@fortnightly", 1, "unknown schedule '@fortnightly'"),
        ("@daily now", 1, "@daily takes nothing after it"),
        ("@every 5", 1, "@every '5' is not a duration"),
        ("@every 0s", 1, "@every 0 would run without pause"),
        ("@every 5x", 1, "@every '5x' is not a duration"),
        ("0 0 30 feb *", 1, "day-of-month 30 never occurs in month feb"),
        ("", 1, "the schedule is empty"),
        ("@daily\n@hourly\n", 2, "a second schedule line"),
        ("@daily\r\n", 1, "the line ends with a carriage return (CRLF)"),
        ("CRON_TZ=Nowhere/Atlantis 0 0 * * *", 1, "CRON_TZ=Nowhere/Atlantis: no such zone"),
        ("CRON_TZ=UTC @every 5m", 1, "CRON_TZ with @every"),
    ],
)
def test_bad_schedules_name_the_line_and_the_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(cron.ScheduleError) as e:
        cron.parse(text)
    assert e.value.line == line
    assert e.value.problem.startswith(problem), e.value.problem
    assert e.value.fix


def test_fields_names_steps_and_sunday_seven() -> None:
    s = cron.parse("1-10/3,*/20 8-18/5 1,15 JAN,jun-aug 7")
    assert s.minutes == {1, 4, 7, 10, 0, 20, 40}
    assert s.hours == {8, 13, 18}
    assert cron.parse("0 0 * * mon-fri/2").dows == {1, 3, 5}
    assert s.months == {1, 6, 7, 8} and s.dows == {0} and s.days == {1, 15}


def test_day_names_are_not_hours() -> None:
    with pytest.raises(cron.ScheduleError):
        cron.parse("0 mon * * *")


def test_nicknames_every_and_reboot() -> None:
    assert cron.parse("@weekly").dows == {0}
    assert cron.parse("@every 1h30m").every == 5400
    assert cron.parse("@every 2d").every == 172800
    assert cron.parse("@reboot").kind == "reboot"
    assert cron.parse("CRON_TZ=Europe/Paris 30 2 * * *").tz == "Europe/Paris"
    assert cron.parse("5/15 * * * *").minutes == {5, 20, 35, 50}


def test_vixie_day_rule() -> None:
    with zone("UTC") as tz:
        # neither day field starts with *: either matches (the 13th, or a Friday)
        assert runs("0 0 13 * fri", at(tz, 2024, 9, 1), 3) == [
            at(tz, 2024, 9, 6), at(tz, 2024, 9, 13), at(tz, 2024, 9, 20)
        ]  # fmt: skip
        # `*/2` starts with *: both must match (odd days that are Fridays)
        assert runs("0 0 */2 * fri", at(tz, 2024, 9, 1), 2) == [at(tz, 2024, 9, 13), at(tz, 2024, 9, 27)]


def test_february_29_is_found_years_ahead() -> None:
    with zone("UTC") as tz:
        assert runs("0 0 29 2 *", at(tz, 2025, 1, 1), 2) == [at(tz, 2028, 2, 29), at(tz, 2032, 2, 29)]


# --- DST, as Vixie cron and cronie (Europe/Paris: 2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00) ---


def test_a_fixed_time_in_a_skipped_hour_runs_once_after_the_gap() -> None:
    with zone("Europe/Paris") as tz:
        got = runs("0,30 2 * * *", at(tz, 2024, 3, 30, 12), 3)
        assert got == [at(tz, 2024, 3, 31, 3, 0), at(tz, 2024, 4, 1, 2, 0), at(tz, 2024, 4, 1, 2, 30)]


def test_a_wildcard_schedule_skips_the_gap() -> None:
    with zone("Europe/Paris") as tz:
        got = runs("30 * * * *", at(tz, 2024, 3, 31, 1, 0), 2)
        assert got == [at(tz, 2024, 3, 31, 1, 30), at(tz, 2024, 3, 31, 3, 30)]


def test_a_fixed_time_in_a_repeated_hour_runs_once() -> None:
    with zone("Europe/Paris") as tz:
        got = runs("30 2 * * *", at(tz, 2024, 10, 27, 0), 2)
        assert got == [at(tz, 2024, 10, 27, 2, 30), at(tz, 2024, 10, 28, 2, 30)]
        # asked from inside the second pass: the next day, not the second 02:30
        assert runs("30 2 * * *", at(tz, 2024, 10, 27, 2, 10, fold=1), 1) == [at(tz, 2024, 10, 28, 2, 30)]


def test_a_wildcard_schedule_runs_in_both_passes_of_a_repeated_hour() -> None:
    with zone("Europe/Paris") as tz:
        got = runs("30 * * * *", at(tz, 2024, 10, 27, 1, 0), 3)
        assert got == [at(tz, 2024, 10, 27, 1, 30), at(tz, 2024, 10, 27, 2, 30), at(tz, 2024, 10, 27, 2, 30, fold=1)]


def test_cron_tz_is_applied_by_the_entry_point(tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / "schedule"
    path.write_text("CRON_TZ=Asia/Tokyo 0 9 * * *\n")
    with zone("UTC") as utc:
        after = at(utc, 2024, 1, 1, 1, 0)  # 10:00 in Tokyo
        monkeypatch.setattr("sys.argv", ["next", str(path), str(after), str(after + 86400 + 60)])
        with pytest.raises(SystemExit) as e:
            cron.main()
        assert e.value.code == 0
    assert capsys.readouterr().out == f"1 {at(utc, 2024, 1, 3, 0, 0)}\n"  # 2024-01-02 09:00 JST missed


def test_skipped_counts_the_slots_between() -> None:
    with zone("UTC") as tz:
        s = cron.parse("*/10 * * * *")
        assert cron.skipped_and_next(s, at(tz, 2024, 1, 1), at(tz, 2024, 1, 1, 1, 5)) == (6, at(tz, 2024, 1, 1, 1, 10))


# --- against croniter (no change of offset nearby) and a brute-force reference (around transitions) ---

MINUTE = st.one_of(st.just("*"), st.integers(0, 59).map(str), st.integers(1, 30).map(lambda s: f"*/{s}"))
HOUR = st.one_of(
    st.just("*"),
    st.lists(st.integers(0, 23), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
    # a < b: croniter 6.0 reads `0-0` as `*` (cron.py, as Vixie cron, as `0`)
    st.tuples(st.integers(0, 22), st.integers(1, 23)).filter(lambda p: p[0] < p[1]).map(lambda p: f"{p[0]}-{p[1]}"),
    st.integers(1, 12).map(lambda s: f"*/{s}"),
)
DOM = st.one_of(st.just("*"), st.lists(st.integers(1, 28), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))))
MONTH = st.one_of(st.just("*"), st.sampled_from(["jan-jun", "3,9", "*/2", "dec", "7-12"]))
DOW = st.one_of(st.just("*"), st.sampled_from(["mon-fri", "0", "7", "sat,sun", "1-3", "5"]))
FIXED_ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/Bogota"]


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(MINUTE, HOUR, DOM, MONTH, DOW).map(" ".join),
    st.integers(946684800, 2082758400),
    st.sampled_from(FIXED_ZONES),
)
def test_agrees_with_croniter_without_dst(expr: str, t: int, name: str) -> None:
    with zone(name) as tz:
        mine = cron.next_time(cron.parse(expr), t)
        theirs = croniter(expr, datetime.datetime.fromtimestamp(t, tz)).get_next(float)
    assert mine == int(theirs), (expr, t, name)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(MINUTE, HOUR).map(lambda p: f"{p[0]} {p[1]} * * *"),
    st.sampled_from(["America/New_York", "Europe/Paris", "Australia/Sydney"]),
    st.integers(2001, 2036),
    st.sampled_from([1, 7]),
    st.integers(0, 86400 * 20),
)
def test_agrees_with_croniter_far_from_transitions(expr: str, name: str, year: int, month: int, shift: int) -> None:
    with zone(name) as tz:
        t = at(tz, year, month, 5) + shift
        mine = cron.next_time(cron.parse(expr), t)
        theirs = croniter(expr, datetime.datetime.fromtimestamp(t, tz)).get_next(float)
    assert mine == int(theirs), (expr, t, name)


def reference(schedule: cron.Schedule, t: int, tz: ZoneInfo, horizon: int) -> int | None:
    """Minute by minute in real time: the rules of cron.py's docstring, written the plain way."""

    def matches(w: datetime.datetime) -> bool:
        dow = (w.weekday() + 1) % 7
        return w.minute in schedule.minutes and w.hour in schedule.hours and schedule.day_matches(w.day, w.month, dow)

    u = t - t % 60 + 60
    previous = datetime.datetime.fromtimestamp(u - 60, tz)
    while u < t + horizon:
        here = datetime.datetime.fromtimestamp(u, tz)
        gap = here.utcoffset() > previous.utcoffset()  # type: ignore[operator]
        if gap and not schedule.wild:
            # the wall minutes the clock skipped, each "runs once after the gap", i.e. now
            w = previous.replace(tzinfo=None) + datetime.timedelta(minutes=1)
            while w < here.replace(tzinfo=None):
                if matches(w):
                    return u
                w += datetime.timedelta(minutes=1)
        if matches(here) and (schedule.wild or here.fold == 0):
            return u
        previous, u = here, u + 60
    return None


TRANSITIONS = {
    "America/New_York": [(2024, 3, 10), (2024, 11, 3), (2031, 3, 9), (2031, 11, 2)],
    "Europe/Paris": [(2024, 3, 31), (2024, 10, 27), (2030, 3, 31), (2030, 10, 27)],
    "Australia/Lord_Howe": [(2024, 4, 7), (2024, 10, 6)],  # a 30-minute shift
    "Australia/Sydney": [(2025, 4, 6), (2025, 10, 5)],
}


@settings(max_examples=400, deadline=None)
@given(
    # hours of the gaps and repeated hours are drawn often
    st.tuples(MINUTE, st.one_of(HOUR, st.sampled_from(["2", "1-3", "2,3", "1"]))).map(lambda p: f"{p[0]} {p[1]} * * *"),
    st.sampled_from(sorted(TRANSITIONS)),
    st.data(),
    st.one_of(st.integers(-86400, 86400), st.integers(-3 * 3600, 3600)),  # often inside the change
)
def test_dst_matches_the_reference(expr: str, name: str, data: st.DataObject, shift: int) -> None:
    day = data.draw(st.sampled_from(TRANSITIONS[name]))
    with zone(name) as tz:
        t = at(tz, *day, 3) + shift
        schedule = cron.parse(expr)
        mine = cron.next_time(schedule, t)
        assert mine == reference(schedule, t, tz, 3 * 86400), (expr, t, name)


@settings(max_examples=100, deadline=None)
@given(st.tuples(MINUTE, HOUR, DOM, MONTH, DOW).map(" ".join), st.integers(946684800, 2082758400))
def test_next_is_after_and_never_repeats(expr: str, t: int) -> None:
    with zone("Europe/Paris"):
        s = cron.parse(expr)
        first = cron.next_time(s, t)
        assert first is not None and first > t
        second = cron.next_time(s, first)
        assert second is not None and second > first
        assert cron.next_time(s, first - 1) == first


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_dst_sweep_around_each_transition_matches_the_reference(name: str) -> None:
    """Deterministic: fixed and wildcard schedules, asked every 15 minutes from 00:00 to 05:00 of each change."""
    exprs = ["30 2 * * *", "0,30 1-3 * * *", "15 1 * * *", "45 2 * * *", "*/20 2 * * *", "10 * * * *", "0 3 * * *"]
    with zone(name) as tz:
        for day in TRANSITIONS[name]:
            start = at(tz, *day, 0)
            for t in range(start, start + 5 * 3600 + 1, 900):
                for expr in exprs:
                    schedule = cron.parse(expr)
                    assert cron.next_time(schedule, t) == reference(schedule, t, tz, 2 * 86400), (expr, t, name)
