"""Scheduled jobs (a `schedule` file) under a real PID 1: timing, overlap, timeout, stop, run now, status file.

The job's run talks to the CMD through fifos made by an init script: the CMD
blocks on them (events, not sleeps); the container's exit ends each test.
"""

from __future__ import annotations

import datetime
import json

from tests.harness import Container
from tests.tree import Tree

FIFO = "mkfifo -m 666 /tmp/ev"
S = "/run/ignity/services-state"


def run(boot, script: str, timeout: float = 90) -> Container:
    # Read-write: the fifo never reads as EOF between two runs' writes.
    c = boot("sh", "-c", "set -u\n[ ! -p /tmp/ev ] || exec 3<>/tmp/ev\n" + script)
    assert c.wait(timeout=timeout) == 0, c.output
    return c


def times(c: Container) -> list[float]:
    return [int(x) / 1e9 for x in (c.out / "times").read_text().split()]


def test_every_runs_at_its_interval_and_records_the_state(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("tick", 'date +%s%N > /tmp/ev; echo "tick ran"', schedule="@every 1s\n")
    c = run(
        boot,
        "for i in 1 2 3 4; do read -r t <&3; echo $t >> /out/times; done\n"
        f"cat {S}/tick/.ignity/job > /out/state; s6-svstat {S}/tick > /out/svstat\n",
    )
    t = times(c)
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert all(0.7 < g < 3 for g in gaps), gaps
    start, end, code, following = (c.out / "state").read_text().split()
    assert code == "0" and int(following) > int(start) > 0 and int(end) > 0  # the 5th run may be going
    assert "tick: tick ran" in c.output or "tick ran" in c.output


def test_forbid_skips_a_slot_while_a_run_goes_on(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("slow", "date +%s%N > /tmp/ev; sleep 2.2", schedule="@every 1s\n")
    c = run(boot, "for i in 1 2; do read -r t <&3; echo $t >> /out/times; done\n")
    t = times(c)
    assert t[1] - t[0] > 2.1, t
    assert "slow: the run due now is skipped: the previous one is still going (concurrency forbid)" in c.output


def test_replace_stops_the_running_one_and_starts_anew(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    body = "trap 'echo term >> /out/terms; exit 1' TERM; date +%s%N > /tmp/ev; sleep 100 & wait"
    tree.service("rep", body, schedule="@every 1s\n", concurrency="replace\n")
    c = run(boot, "for i in 1 2 3; do read -r t <&3; echo $t >> /out/times; done\n")
    t = times(c)
    assert all(0.7 < b - a < 3 for a, b in zip(t, t[1:])), t
    assert (c.out / "terms").read_text().count("term") >= 2
    assert "replaces the one still going (concurrency replace)" in c.output


def test_timeout_stops_a_run_and_counts_it_failed(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("long", "date +%s%N > /tmp/ev; exec sleep 100", schedule="@every 2s\n", timeout="500\n")
    c = run(boot, f"for i in 1 2; do read -r t <&3; done; cat {S}/long/.ignity/job > /out/state\n")
    start, end, code, _ = (c.out / "state").read_text().split()
    assert code == "143", (start, end, code)
    assert "long: the run exceeded its timeout: stopped, counts as failed (status 143)" in c.output


def test_a_failing_job_records_its_status_and_keeps_its_schedule(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("bad", "date +%s%N > /tmp/ev; exit 3", schedule="@every 1s\n")
    c = run(boot, f"for i in 1 2 3; do read -r t <&3; done; cat {S}/bad/.ignity/job > /out/state\n")
    assert (c.out / "state").read_text().split()[2] == "3"


def test_run_now_waits_and_returns_the_exit_status(boot, tree: Tree) -> None:
    tree.service("yearly", "echo ran >> /out/ran; exit 7", schedule="CRON_TZ=UTC 0 0 1 1 *\n")
    c = run(
        boot,
        f"for i in $(seq 1000); do [ -s {S}/yearly/.ignity/job ] && break; sleep 0.01; done\n"
        "ignity start --wait yearly; echo $? > /out/rc\n"
        f"cat {S}/yearly/.ignity/job > /out/state; ignity status --json > /out/status.json\n",
    )
    assert (c.out / "rc").read_text().strip() == "7"
    (job,) = (s["job"] for s in json.loads((c.out / "status.json").read_text())["services"] if s["name"] == "yearly")
    assert (job["schedule"], job["last_exit"], job["running"]) == ("CRON_TZ=UTC 0 0 1 1 *", 7, False), job
    assert job["next_run"].startswith(f"{datetime.datetime.now(datetime.timezone.utc).year + 1}-01-01T"), job
    assert (c.out / "ran").read_text() == "ran\n"
    start, end, code, following = (c.out / "state").read_text().split()
    now = datetime.datetime.now(datetime.timezone.utc)
    expected = datetime.datetime(now.year + 1, 1, 1, tzinfo=datetime.timezone.utc)
    assert int(following) == int(expected.timestamp()) * 1000
    assert code == "7" and int(end) >= int(start)


def test_a_running_job_is_stopped_with_the_container_and_waited_for(boot, tree: Tree) -> None:
    """Like a service: TERM to the run (its whole process group), and the stop waits for it within the grace."""
    tree.init("10-fifo", FIFO)
    body = (
        "trap 'sleep 0.3; echo cleaned > /out/term; exit 5' TERM; date +%s%N > /tmp/ev; "
        "sh -c 'trap \"echo child >> /out/child; exit 1\" TERM; sleep 100 & wait' & wait"
    )
    tree.service("stopme", body, schedule="@every 1s\n")
    c = run(boot, "read -r t <&3; exit 0\n")
    assert (c.out / "term").read_text() == "cleaned\n"
    assert (c.out / "child").read_text() == "child\n"  # the group, not only the run's pid


def test_a_bad_schedule_stops_the_boot(boot, tree: Tree) -> None:
    tree.service("bad", "true", schedule="61 * * * *\n")
    c = boot("true")
    assert c.wait(timeout=60) != 0
    assert "services/bad/schedule:1: minute 61 is out of range 0–59" in c.output


def test_a_job_gets_the_environment_and_drops_its_user(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.env("10-app", "GREETING=hi\n")
    body = "exec s6-setuidgid nobody sh -c 'echo \"$(id -u) $GREETING\" > /tmp/ev'"
    tree.service("who", body, shebang="#!/usr/bin/with-env sh", schedule="@every 1s\n")
    c = run(boot, "read -r a b <&3; echo $a $b > /out/who\n")
    assert (c.out / "who").read_text() == "65534 hi\n"


def test_a_job_output_is_prefixed(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("backup", "echo hello-from-job; date > /tmp/ev", schedule="@every 1s\n", output_mode="prefixed\n")
    c = run(boot, "read -r t <&3; read -r t <&3\n")
    assert "backup | hello-from-job" in c.output


def test_run_now_is_refused_while_a_run_goes_on_under_forbid(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("busy", "date +%s%N > /tmp/ev; exec sleep 100", schedule="@every 1s\n")
    c = run(boot, "read -r t <&3; ignity start --wait busy; echo $? > /out/rc\n")
    assert (c.out / "rc").read_text() == "75\n"
    assert "busy: run now (asked) refused: a run is still going (concurrency forbid)" in c.output


def test_run_now_replaces_a_run_under_replace(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    body = "date +%s%N > /tmp/ev; [ -e /tmp/second ] && exit 4; touch /tmp/second; exec sleep 100"
    tree.service("rep", body, schedule="@every 1h\n", concurrency="replace\n")
    c = run(
        boot,
        f"for i in $(seq 1000); do [ -s {S}/rep/.ignity/job ] && break; sleep 0.01; done\n"
        "ignity start rep; read -r t <&3\n"  # the first run, asked without waiting
        "ignity start --wait rep; echo $? > /out/rc\n",
    )
    assert (c.out / "rc").read_text() == "4\n"
    assert "rep: run now (asked): replaces the run still going (concurrency replace)" in c.output


def test_a_job_runs_only_once_its_dependencies_are_up(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("db", "sleep 2.5; echo >&3; exec sleep 1000", notification_fd="3")
    tree.service("report", f"s6-svstat -o ready {S}/db > /tmp/ev", schedule="@every 1s\n")
    (tree.root / "services/report/dependencies.d").mkdir()
    (tree.root / "services/report/dependencies.d/db").write_text("")
    c = run(boot, "read -r ready <&3; echo $ready > /out/ready\n")
    assert (c.out / "ready").read_text() == "true\n"


def test_reboot_runs_once_at_the_start(boot, tree: Tree) -> None:
    tree.init("10-fifo", FIFO)
    tree.service("once", "echo once > /tmp/ev", schedule="@reboot\n")
    c = run(boot, f"read -r t <&3; cat {S}/once/.ignity/job > /out/state\n")
    start, _, _, following = (c.out / "state").read_text().split()
    assert following == "-" and start != "-"
