"""svstatus: every state of docs/service-states.md, derived from s6's summary line and
hand-written `.ignity/` records (the files other parts of Ignity write), and the exit
statuses of the readiness and liveness probes per phase."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ignity import jobs, phase, svstatus
from tests import docs

UP = "up (pid 9) 5 seconds"
UP_READY = "up (pid 9) 5 seconds, ready 4 seconds"
DOWN_WANTED_DOWN = "down (exitcode 2) 3 seconds, normally up, want down, ready 3 seconds"
DOWN_WANTED_UP = "down (exitcode 2) 0 seconds, want up, ready 0 seconds"
FINISHING = "down (exitcode 2) 0 seconds, want up"


def make(tmp_path: Path, svstat: str, name: str = "svc", **files: str) -> svstatus.Service:
    d = tmp_path / name
    (d / ".ignity").mkdir(parents=True)
    for fname, content in files.items():
        (d / fname.replace("_", "-").replace("-ignity-", ".ignity/")).write_text(content)
    s = svstatus.Service(name, str(d))
    if svstat:
        svstatus.parse_svstat(s, svstat)
    svstatus._orchestration([s])
    return s


def facts(s: svstatus.Service) -> tuple[str, bool, bool, str | None]:
    return s.state, s.in_order, s.live, s.note


def test_unsupervised(tmp_path: Path):
    assert facts(make(tmp_path, "")) == ("unsupervised", False, True, None)


def test_failed_with_its_reason_is_neither_ready_nor_live(tmp_path: Path):
    s = make(tmp_path, DOWN_WANTED_DOWN, _ignity_failed="given up after 5 exits in 60 s\n")
    assert facts(s) == ("failed", False, False, "given up: given up after 5 exits in 60 s")
    j = s.as_json()
    assert (j["state"], j["failed"], j["failed_reason"], j["ok"], j["live"]) == (
        "failed", True, "given up after 5 exits in 60 s", False, False)  # fmt: skip


def test_the_older_wrappers_125_reads_as_a_reason(tmp_path: Path):
    assert make(tmp_path, DOWN_WANTED_DOWN, _ignity_failed="125\n").note == "given up: finish exited 125"


def test_a_failed_record_of_a_service_up_again_is_history(tmp_path: Path):
    assert facts(make(tmp_path, UP, _ignity_failed="finish exited 125\n")) == ("up", True, True, None)


def test_done_is_in_order(tmp_path: Path):
    s = make(tmp_path, DOWN_WANTED_DOWN, _ignity_done="exited 0\n")
    assert facts(s) == ("done", True, True, "done: exited 0")
    assert s.as_json()["done"] == "exited 0"


def test_failed_comes_before_done(tmp_path: Path):
    assert make(tmp_path, DOWN_WANTED_DOWN, _ignity_failed="exited 2 (restart never)", _ignity_done="x").failed


def test_restarting_shows_the_delay(tmp_path: Path):
    next_ms = int(time.time() * 1000) + 30_000
    s = make(tmp_path, DOWN_WANTED_DOWN, _ignity_restart=f"3 4000 {next_ms}\n")
    state, ok, live, note = facts(s)
    assert (state, ok, live) == ("restarting", False, True)
    assert note is not None and note.startswith("restarts in ") and note.endswith("(3 deaths, delay 4000 ms)")
    assert s.as_json()["restart"] == {"deaths": 3, "delay_ms": 4000, "next_ms": next_ms}


def test_a_run_waiting_out_its_delay_is_restarting_not_up(tmp_path: Path):
    """s6 shows the waiting run as up; until NEXT_MS the service's program has not started."""
    now = int(time.time() * 1000)
    waiting = make(tmp_path, UP, _ignity_restart=f"2 8000 {now + 8000}\n")
    assert facts(waiting)[:3] == ("restarting", False, True)
    started = make(tmp_path, UP, name="s2", _ignity_restart=f"2 1000 {now - 5000}\n")
    assert facts(started)[:3] == ("up", True, True)


@pytest.mark.parametrize("text", ["", "3 4000", "a b c", "1 2 3 4"])
def test_an_empty_or_malformed_restart_record_is_no_restart(tmp_path: Path, text: str):
    assert make(tmp_path, DOWN_WANTED_DOWN, _ignity_restart=text).state == "down"


def test_finishing_is_not_in_order_when_wanted_up(tmp_path: Path):
    assert facts(make(tmp_path, FINISHING)) == ("finishing", False, True, None)


def test_up_notifying_needs_ready(tmp_path: Path):
    assert facts(make(tmp_path, UP, notification_fd="3\n"))[:2] == ("up", False)
    assert facts(make(tmp_path, UP_READY, name="b", notification_fd="3\n"))[:2] == ("up", True)


def test_up_but_unhealthy_is_not_ready(tmp_path: Path):
    s = make(tmp_path, UP, health="#!/bin/sh\n", _ignity_health="unhealthy 3\n")
    assert facts(s)[:3] == ("up", False, True)


def test_stopped_by_operator_is_down_and_in_order(tmp_path: Path):
    s = make(tmp_path, DOWN_WANTED_DOWN, _ignity_operator="stopped\n")
    assert facts(s) == ("down", True, True, "stopped by operator")
    assert s.as_json()["operator"] is True
    assert dict(zip(svstatus.HEADER, s.as_row()))["NOTE"] == "stopped by operator"


def test_down_and_wanted_up_is_not_in_order(tmp_path: Path):
    assert facts(make(tmp_path, DOWN_WANTED_UP)) == ("down", False, True, None)


def test_a_job_is_idle_or_running_and_always_in_order(tmp_path: Path):
    now = int(time.time() * 1000)
    idle = make(
        tmp_path, DOWN_WANTED_DOWN, schedule="@hourly\n", _ignity_job=f"{now - 9000} {now - 8000} 3 {now + 60_500}\n"
    )
    assert facts(idle)[:3] == ("idle", True, True)
    assert idle.note == "last exit 3, next in 60 s"
    job = idle.as_json()["job"]
    assert isinstance(job, dict)
    assert (job["schedule"], job["last_exit"], job["running"], job["last_duration_ms"]) == ("@hourly", 3, False, 1000)
    assert job["last_run"] == jobs.iso(now - 9000) and job["next_run"] == jobs.iso(now + 60_500)
    # The job's loop is what s6 supervises: up between runs too. A run goes while LAST_START > LAST_END.
    between = make(tmp_path, UP, name="j1", schedule="@hourly\n", _ignity_job=f"{now - 9000} {now - 8000} 0 -\n")
    assert facts(between)[:3] == ("idle", True, True)
    running = make(tmp_path, UP, name="j2", schedule="@hourly\n", _ignity_job=f"{now - 1000} {now - 9000} 0 -\n")
    assert facts(running)[:3] == ("running", True, True)
    assert running.as_json()["job"]["running"] is True  # type: ignore[index]
    failed_job = make(tmp_path, DOWN_WANTED_DOWN, name="j3", schedule="x\n", _ignity_failed="exited 2\n")
    assert failed_job.live and failed_job.in_order


@pytest.mark.parametrize(
    ("word", "services", "ready", "live"),
    [
        ("starting", [], 3, 0),
        ("stopping", [], 4, 4),
        ("running", ["up"], 0, 0),
        ("running", ["up", "late"], 1, 0),
        ("running", ["up", "failed"], 1, 1),
    ],
)
def test_exit_statuses_per_phase(tmp_path: Path, word: str, services: list[str], ready: int, live: int):
    lines = {"up": (UP, {}), "late": (DOWN_WANTED_UP, {}), "failed": (DOWN_WANTED_DOWN, {"_ignity_failed": "x"})}
    read = [make(tmp_path, lines[n][0], name=n, **lines[n][1]) for n in services]
    assert svstatus.exit_status(word, read, False) == ready
    assert svstatus.exit_status(word, read, True) == live


def test_phase_file(tmp_path: Path):
    path = str(tmp_path / "phase")
    assert phase.read(path) == ("starting", "")
    phase.write("starting init script 2 of 3: 20-db", path)
    assert phase.read(path) == ("starting", "init script 2 of 3: 20-db")
    phase.write("running", path)
    assert phase.read(path) == ("running", "")
    assert [p.name for p in tmp_path.iterdir()] == ["phase"]  # no temp file left
    assert oct((tmp_path / "phase").stat().st_mode & 0o777) == "0o644"
    (tmp_path / "phase").write_text("garbage here\n")
    assert phase.read(path) == ("starting", "garbage here")  # never "ready" on a line not understood


def test_phase_write_replaces_a_link_and_never_follows_it(tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    (tmp_path / "phase").symlink_to(target)
    phase.write("running", str(tmp_path / "phase"))
    assert target.read_text() == "keep\n"
    assert not (tmp_path / "phase").is_symlink() and phase.read(str(tmp_path / "phase")) == ("running", "")


def test_the_docs_status_table_is_what_the_command_prints(tmp_path: Path):
    api = make(tmp_path, "up (pid 23) 0 seconds, ready 0 seconds", name="api", notification_fd="3\n")
    clock = make(tmp_path, "down (signal SIGTERM) 4 seconds, normally up, want down, ready 4 seconds",
                 name="clock", _ignity_operator="stopped\n")  # fmt: skip
    api.deaths, clock.deaths = 0, 1
    assert "```\n" + svstatus.table([api, clock]) + "```\n" in docs.page("operating")


def test_the_docs_probe_lines_are_the_examples():
    """docs/operating.md's probes are those of examples/ (which the e2e suite runs)."""
    section = docs.page("operating")
    yaml = section[section.index("```yaml\n") + 8 :]
    yaml = yaml[: yaml.index("```")]
    manifest = (docs.REPO / "examples" / "kubernetes.yaml").read_text()
    for block in ("startupProbe:", "readinessProbe:", "livenessProbe:"):
        lines = yaml[yaml.index(block) :].split("\n")
        lines = [lines[0].split("#")[0].rstrip(), *[x for x in lines[1:] if x.startswith("  ")][:4]]
        wanted = [x for x in lines if x.strip()]
        at = manifest.index(wanted[0])
        indent = manifest[manifest.rindex("\n", 0, at) + 1 : at]
        got = manifest[at:].split("\n")[: len(wanted)]
        assert [g.removeprefix(indent) if i else g for i, g in enumerate(got)] == wanted, block
    dockerfile = section[section.index("```dockerfile\n") + 14 :].split("\n")[0]
    assert dockerfile in (docs.REPO / "examples" / "Containerfile").read_text()
    assert 'test: ["CMD", "ignity", "status"]' in (docs.REPO / "examples" / "compose.yaml").read_text()


def test_a_supervisor_that_has_not_written_its_first_status_is_read_again(tmp_path: Path, monkeypatch):
    """The issue's `s6-svstat: fatal: unable to read status for ...`: s6-supervise holds its
    lock, its status file comes an instant later. This s6-svstat fails like the real one did,
    and the file exists by the time status looks for it."""
    fake = tmp_path / "s6-svstat"
    fake.write_text('#!/bin/sh\nif [ ! -e "$1/supervise/status" ]; then mkdir -p "$1/supervise"; '
                    ': > "$1/supervise/status"\n'
                    '  echo "s6-svstat: fatal: unable to read status for $1: No such file or directory" >&2; exit 111\n'
                    'fi\necho "up (pid 5) 1 seconds"\n')  # fmt: skip
    fake.chmod(0o755)
    monkeypatch.setattr(svstatus, "_find", lambda name: str(fake))
    s = make(tmp_path, "", name="s010")
    svstatus.read_all([s])
    assert (s.state, s.pid) == ("up", 5)
