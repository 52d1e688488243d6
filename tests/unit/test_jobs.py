"""jobs.py and check/jobs.py: the job's program (rendered, shellcheck-clean), its install,
the state file's reader, and what `ignity check` says of a job's files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import cron, jobs, wrappers  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402
from tests import docs  # noqa: E402
from tests.unit.test_check import ETC, Image, clean, only  # noqa: E402

SERVICES = f"{ETC}/services"


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "@every 90s", "@reboot", "CRON_TZ=UTC @daily"])
@pytest.mark.parametrize("timeout", [None, 1500])
def test_the_loop_is_shellcheck_clean(tmp_path: Path, schedule: str, timeout: int | None) -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is needed: apt-get install shellcheck")
    script = jobs.loop_script("back'up", cron.parse(schedule), "replace", timeout, 12345)
    import re

    assert not re.search(r"@[A-Z_]+@", script), "a placeholder left"
    assert "name='back'\\''up'" in script
    path = tmp_path / "run"
    path.write_text(script)
    done = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_the_loop_names_programs_by_absolute_path() -> None:
    script = jobs.loop_script("j", cron.parse("@hourly"), "forbid", None, 0)
    for program in ("date", "mv", "sleep", "s6-setsid", "s6-ftrig-notify"):
        assert f"=/usr/bin/{program}\n" in script or f"=/bin/{program}\n" in script, program


def test_install_moves_run_and_writes_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "backup"
    path.mkdir()
    (path / "run").write_text("#!/bin/sh\necho hi\n")
    (path / "run").chmod(0o755)
    (path / "schedule").write_text("@every 5m\n")
    (path / "timeout").write_text("2000\n")
    (path / "concurrency").write_text("replace\n")
    wrappers.install(str(path), "backup", False, True, None)
    jobs.install(str(path), "backup")
    run = (path / "run").read_text()
    assert "kind=every" in run and "every=30000" in run and "limit=200" in run and "policy=replace" in run
    assert "echo hi" in (path / ".ignity/job-run").read_text()
    assert (path / ".ignity/next").read_text().startswith(f"#!{sys.executable} -IS\n")
    assert oct((path / ".ignity/job-event").stat().st_mode & 0o7777) == "0o700", "root's (Ignity's uid's) alone"
    assert "\njob=1\n" in (path / "finish").read_text(), "its finish kills the job's own process group"
    assert os.access(path / "finish", os.X_OK)


def test_install_refuses_a_bad_schedule_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.mkdir()
    (path / "run").write_text("#!/bin/sh\n")
    (path / "schedule").write_text("# comment\n0 0 * * 9\n")
    with pytest.raises(IgnityError) as e:
        jobs.install(str(path), "bad")
    assert str(e.value).startswith("/etc/ignity/services/bad/schedule:2: day-of-week 9 is out of range")


@pytest.mark.parametrize(
    ("text", "running", "duration"),
    [
        ("1000 3000 0 9000\n", False, 2000),
        ("5000 3000 1 9000\n", True, None),  # started after the last end: going
        ("5000 - - 9000\n", True, None),
        ("- - - 9000\n", False, None),
    ],
)
def test_parse_state(text: str, running: bool, duration: int | None) -> None:
    state = jobs.parse_state(text)
    assert state is not None and state.running is running and state.duration_ms == duration
    assert state.next_run == 9000


@pytest.mark.parametrize("text", ["", "1 2 3", "1 2 3 4 5", "a 2 3 4", "1 2 -3 4"])
def test_parse_state_refuses_anything_else(text: str) -> None:
    assert jobs.parse_state(text) is None


def test_describe_gives_iso_times_with_the_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        (tmp_path / ".ignity").mkdir()
        (tmp_path / "schedule").write_text("# nightly\n30 2 * * *\n")
        (tmp_path / ".ignity/job").write_text("1704067200000 1704067260500 2 1704153600000\n")
        assert jobs.describe(str(tmp_path)) == {
            "schedule": "30 2 * * *",
            "running": False,
            "last_run": "2024-01-01T05:30:00+05:30",
            "last_exit": 2,
            "last_duration_ms": 60500,
            "next_run": "2024-01-02T05:30:00+05:30",
        }
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_run_now_refuses_a_service_that_is_not_a_job(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    assert jobs.run_now("web", True, str(tmp_path)) == 100
    assert jobs.run_now("nothing", False, str(tmp_path)) == 100


# --- ignity check ---


@pytest.fixture
def image(tmp_path: Path) -> Image:
    image = clean(tmp_path / "root")
    image.script("services/backup/run")
    image.file("services/backup/schedule", "# nightly\n30 2 * * *\n")
    image.file("services/backup/concurrency", "replace\n")
    image.file("services/backup/timeout", "60000\n")
    assert image.problems() == []
    return image


def test_a_bad_schedule_is_one_error_with_its_line(image: Image) -> None:
    image.file("services/backup/schedule", "# nightly\n61 2 * * *\n")
    p = only(image.problems(), "error", f"{SERVICES}/backup/schedule", 2, "minute 61 is out of range 0–59")
    assert str(p) == f"{SERVICES}/backup/schedule:2: minute 61 is out of range 0–59 — use a minute from 0 to 59"


def test_a_job_has_no_health_check(image: Image) -> None:
    image.script("services/backup/health")
    only(image.problems(), "error", f"{SERVICES}/backup/health", None, "a job has no health check")


def test_a_job_has_no_notification_fd(image: Image) -> None:
    image.file("services/backup/notification-fd", "3\n")
    only(image.problems(), "error", f"{SERVICES}/backup/notification-fd", None, "a job does not notify readiness")


@pytest.mark.parametrize(("name", "content"), [("concurrency", "allow\n"), ("timeout", "5s\n"), ("timeout", "0\n")])
def test_bad_job_settings(image: Image, name: str, content: str) -> None:
    image.file(f"services/backup/{name}", content)
    only(image.problems(), "error", f"{SERVICES}/backup/{name}", 1, f"{name} is")


def test_job_settings_without_a_schedule_are_a_warning(image: Image) -> None:
    (image.etc / "services/backup/schedule").unlink()
    problems = image.problems()
    assert [(p.severity, p.path) for p in problems] == [
        ("warning", f"{SERVICES}/backup/concurrency"),
        ("warning", f"{SERVICES}/backup/timeout"),
    ]


def test_cron_tz_is_looked_up_in_the_image(image: Image) -> None:
    image.file("services/backup/schedule", "CRON_TZ=Europe/Paris 30 2 * * *\n")
    only(image.problems(), "error", f"{SERVICES}/backup/schedule", 1, "CRON_TZ=Europe/Paris: no such zone")
    image.write(image.root / "usr/share/zoneinfo/Europe/Paris", "TZif")
    assert image.problems() == []


# --- the loop itself, outside s6, on a fake wall clock (a clock step cannot be made for real here) ---


class Loop:
    """The job loop run in a temp service dir; `date` reads the file `clock`, `sleep` naps 20 ms."""

    def __init__(self, tmp: Path, schedule: str) -> None:
        from ignity import runtime

        self.dir = tmp / "svc"
        (self.dir / ".ignity").mkdir(parents=True)
        self.clock = tmp / "clock"
        self.fifo = tmp / "ran"
        os.mkfifo(self.fifo)
        fake_date = tmp / "date"
        fake_date.write_text(
            f"#!/bin/sh\nread -r s < {self.clock}\n"
            'case $1 in -d) echo "$2" ;; *N) echo "${s}000" ;; *) echo "$s" ;; esac\n'
        )
        fake_sleep = tmp / "sleep"
        fake_sleep.write_text("#!/bin/sh\nexec /bin/sleep 0.02\n")
        for p in (fake_date, fake_sleep):
            p.chmod(0o755)
        script = jobs.loop_script("j", cron.parse(schedule), "forbid", None, 0)
        script = script.replace(f"date={shutil.which('date')}\n", f"date={fake_date}\n")
        script = script.replace(f"sleep={shutil.which('sleep')}\n", f"sleep={fake_sleep}\n")
        assert str(fake_date) in script and str(fake_sleep) in script
        (self.dir / "schedule").write_text(schedule + "\n")
        (self.dir / "timeout-kill").write_text("1000\n")
        (self.dir / "run").write_text(script)
        (self.dir / ".ignity/job-run").write_text(f"#!/bin/sh\ncat {self.clock} > {self.fifo}\n")
        (self.dir / ".ignity/next").write_text(runtime.python_script("ignity.cron", sys.executable, SRC))
        for p in ("run", ".ignity/job-run", ".ignity/next"):
            (self.dir / p).chmod(0o755)
        self.proc: subprocess.Popen[str] | None = None
        self.reader = -1

    def start(self, at: int) -> None:
        self.set(at)
        env = {"PATH": "/usr/bin:/bin", "TZ": "UTC"}
        self.proc = subprocess.Popen(
            ["/bin/sh", "./run"], cwd=self.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.reader = os.open(self.fifo, os.O_RDWR)
        # The loop has read the clock once it wrote its first state (a bounded poll: 10 s).
        import time

        for _ in range(1000):
            if (self.dir / ".ignity/job").exists():
                break
            time.sleep(0.01)

    def set(self, at: int) -> None:
        tmp = self.clock.with_suffix(".new")
        tmp.write_text(f"{at}\n")
        tmp.rename(self.clock)

    def next_run(self) -> int:
        """The fake time at the next run (hang guard: 20 s)."""
        import select

        ready, _, _ = select.select([self.reader], [], [], 20)
        if not ready:
            raise AssertionError(f"no run; the loop said: {self.stop()}")
        at = int(os.read(self.reader, 64).split()[0])
        # Then until the run has ended (a bounded poll: 10 s), so that the next step finds it idle.
        import time

        for _ in range(1000):
            state = jobs.parse_state((self.dir / ".ignity/job").read_text())
            if state is not None and state.last_start == at * 1000 and not state.running:
                break
            time.sleep(0.01)
        return at

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=20)
        os.close(self.reader)
        return out


T0 = 1_800_000_000 - 1_800_000_000 % 3600  # a whole hour, UTC


def test_a_clock_step_forward_fires_once_and_tells_the_missed_runs(tmp_path: Path) -> None:
    loop = Loop(tmp_path, "* * * * *")
    loop.start(T0 + 30)
    try:
        loop.set(T0 + 60)
        assert loop.next_run() == T0 + 60
        loop.set(T0 + 330)  # forward 4.5 min: due 61..300 (4 slots): one run now, 3 told
        assert loop.next_run() == T0 + 330
        loop.set(T0 + 100)  # back: nothing runs again for a time already run
        loop.set(T0 + 360)
        assert loop.next_run() == T0 + 360
    finally:
        out = loop.stop()
    assert "j: 3 scheduled run(s) missed: the clock jumped or the container was suspended" in out
    assert f"j: the run due at @{T0 + 120} starts 210 s late" in out
    state = jobs.parse_state((loop.dir / ".ignity/job").read_text())
    assert state is not None and state.next_run == (T0 + 420) * 1000


def test_a_clock_step_back_never_fires_a_slot_twice(tmp_path: Path) -> None:
    loop = Loop(tmp_path, "*/2 * * * *")
    loop.start(T0 + 10)
    try:
        loop.set(T0 + 120)
        assert loop.next_run() == T0 + 120
        loop.set(T0 + 5)  # an hour-long NTP step back would re-run 00:02; it must not
        loop.set(T0 + 119)
        loop.set(T0 + 240)
        assert loop.next_run() == T0 + 240
    finally:
        loop.stop()


def test_the_docs_examples_are_valid(tmp_path: Path) -> None:
    """Every schedule of docs/jobs.md parses, and its example directory checks clean."""
    section = docs.page("jobs")
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    schedules = [cell.strip("`") for row in rows for cell in row.split(" | ")[0][2:].split("` `")]
    assert "30 2 * * *" in schedules and "@every 1h30m" in schedules and len(schedules) >= 12, schedules
    for text in schedules:
        cron.parse(text, check_zone=False)
    directory, files = docs.tree(docs.blocks(section, "")[0])  # the page's example job
    assert directory == "/etc/ignity/services/backup/" and files["schedule"] == "30 2 * * *\n", files
    image = clean(tmp_path / "root")
    for name, content in files.items():
        image.file(f"services/backup/{name}", content, mode=0o755 if name == "run" else 0o644)
    assert image.problems() == []
