"""Faults: crash loops, zombie storms, stubborn processes, signals at bad times, a full /run/ignity."""

from __future__ import annotations

import signal
import time

from tests.harness import Container
from tests.tree import Tree, wait_up

STUBBORN = "trap '' TERM INT; echo {name}-up; while :; do sleep 0.05; done"


CRASH_LOOP_SECONDS = 30


def test_crash_looping_service_is_throttled_and_harmless(boot, tree: Tree):
    tree.service("crasher", "echo crash >> /out/crashes; exit 1")
    tree.service("steady", "echo steady-up; exec sleep 1000")
    # The CMD watches for 30 s: the steady service keeps its pid, the crasher restarts about once a second.
    script = (
        wait_up("steady", timeout_ms=5000) + "; "
        "pid0=$(s6-svstat -o pid /run/ignity/services-state/steady); "
        f"s6-svwait -t 5000 -d /run/ignity/services-state/crasher; sleep {CRASH_LOOP_SECONDS}; "
        "pid1=$(s6-svstat -o pid /run/ignity/services-state/steady); "
        'echo "steady $pid0 $pid1"; echo crashes=$(wc -l < /out/crashes); '
        "ignity status --json > /out/status.json; echo status=$?"
    )
    c = boot("sh", "-c", script)
    assert c.wait(timeout=CRASH_LOOP_SECONDS + 30) == 0
    steady = next(line for line in c.lines if line.startswith("steady "))
    _, pid0, pid1 = steady.split()
    assert pid0 == pid1 != ""
    crashes = int(next(line for line in c.lines if line.startswith("crashes=")).split("=")[1])
    # s6-supervise waits a second between two starts of a service that dies at once.
    assert CRASH_LOOP_SECONDS - 2 <= crashes <= CRASH_LOOP_SECONDS + 3, crashes
    import json

    status = {s["name"]: s for s in json.loads((c.out / "status.json").read_text())["services"]}
    assert status["crasher"]["deaths"] >= CRASH_LOOP_SECONDS - 2
    assert status["crasher"]["exit_code"] == 1
    assert status["steady"]["state"] == "up" and status["steady"]["deaths"] == 0


def test_two_thousand_orphaned_zombies_from_cmd_and_service_are_reaped(boot, tree: Tree):
    spawn = "sh -c 'for i in $(seq 1000); do (exit 0) & done; exit 0'"
    tree.service("spawner", f"{spawn}; echo spawner-done; exec sleep 1000")
    script = (
        f"{spawn}; " + wait_up("spawner", timeout_ms=5000) + "; t0=$(date +%s%N); "
        "for i in $(seq 200); do "
        "n=$(grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l); "
        '[ "$n" = 0 ] && break; sleep 0.005; done; '
        "echo zombies=$n after_ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
    )
    c = boot("sh", "-c", script)
    assert c.wait(timeout=30) == 0
    line = next(line for line in c.lines if line.startswith("zombies="))
    assert line.startswith("zombies=0 "), c.output
    assert int(line.split("after_ms=")[1]) < 1000


def test_everything_stubborn_still_stops_within_the_grace_times(boot, tree: Tree):
    tree.service("stubborn", STUBBORN.format(name="svc"))
    # A daemon that escaped its service's process group and session, and ignores TERM too.
    tree.service("escaper", "setsid sh -c \"trap '' TERM; while :; do sleep 0.05; done\" & echo escaper-up; "
                 "exec sleep 1000")  # fmt: skip
    tree.service("hangfinish", "echo hangfinish-up; exec sleep 1000", finish="#!/bin/sh\nexec sleep 1000\n")
    tree.finalize("10-stubborn", "trap '' TERM; echo finalize-stuck; while :; do sleep 0.05; done")
    grace = {
        "IGNITY_SERVICES_GRACETIME": "1000",
        "IGNITY_KILL_GRACETIME": "1000",
        "IGNITY_KILL_FINALIZE_MAXTIME": "1500",
    }
    c = boot("sh", "-c", STUBBORN.format(name="cmd"), env=grace)
    for name in ("svc-up", "escaper-up", "hangfinish-up", "cmd-up"):
        c.wait_for(name)
    sent = c.kill(signal.SIGTERM)
    code = c.wait(timeout=20)
    took = time.monotonic() - sent
    # max(services 1 s, finalize 1.5 s) + kill grace 1 s, + 1 s of slack at most.
    assert took < 2.5 + 1.0, took
    assert code == 128 + signal.SIGKILL  # the CMD ignored SIGTERM and was killed
    assert "finalize-stuck" in c.lines


def _stage1_slow_image(boot) -> object:
    # 20,000 files for the perms phase: stage 1 takes a noticeable while.
    return boot.image.derive("mkdir -p /big && cd /big && for d in $(seq 20); do mkdir $d; "
                             "(cd $d && seq 1000 | xargs touch); done")  # fmt: skip


def test_sigterm_during_stage1_stops_at_once(boot, tree: Tree):
    # s6-svscan is PID 1 from the start: a stop during the perms phase ends the boot there.
    (tree.root / "perms" / "10-big").write_text("/big 1234:1234 0600 0700\n")
    tree.init("10-init", "echo init-ran")
    tree.service("svc", "exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    c = Container(_stage1_slow_image(boot), tree.root, ["sleep", "1000"], env={"IGNITY_VERBOSITY": "2"})
    try:
        c.wait_for("environment and settings read")  # stage 1 is now in the perms phase
        c.kill(signal.SIGTERM)
        code = c.wait(timeout=20)
    finally:
        c.cleanup()
    assert c.lines.count("finalize-ran") == 1
    assert "init-ran" not in c.lines
    assert code == 0, c.output
    assert "Traceback" not in c.output


def test_sigint_during_a_never_ending_init_script(boot, tree: Tree):
    tree.init("10-forever", "echo forever-started; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran")
    c.wait_for("forever-started")
    sent = c.kill(signal.SIGINT)
    assert c.wait(timeout=20) == 0
    assert time.monotonic() - sent < 2
    assert "finalize-ran" in c.lines and "cmd-ran" not in c.lines


def test_sigterm_twice_in_a_row(boot, tree: Tree):
    tree.service("svc", "echo svc-up; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("sh", "-c", "echo cmd-up; exec sleep 1000")
    c.wait_for("cmd-up")
    c.kill(signal.SIGTERM)
    c.kill(signal.SIGTERM)
    assert c.wait(timeout=20) == 128 + signal.SIGTERM
    assert c.lines.count("finalize-ran") == 1


def test_full_run_ignity_is_a_clear_error_not_a_hang(boot, tree: Tree):
    tree.env("10-big", "BIG=" + "x" * 100_000 + "\n")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran", run_tmpfs="size=64k,mode=0755")
    code = c.wait(timeout=20)
    assert code != 0
    assert "cmd-ran" not in c.lines
    assert any("/run/ignity/envs/BIG: No space left on device" in line for line in c.lines), c.output
    assert "finalize-ran" in c.lines
    assert "Traceback" not in c.output


def test_five_hundred_services_up_and_down(boot, tree: Tree):
    for i in range(500):
        tree.service(f"s{i:03d}", "exec sleep 1000")
    c = boot("sh", "-c", "s6-svwait -u -t 20000 /run/ignity/services-state/*; echo waited=$?; "
             "for s in /run/ignity/services-state/*; do s6-svstat -o up $s; done | sort | uniq -c",
             env={"IGNITY_CMD_WAIT_FOR_SERVICES": "1", "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "20000"})  # fmt: skip
    started = time.monotonic()
    assert c.wait(timeout=60) == 0
    assert "waited=0" in c.lines
    assert any(line.split() == ["500", "true"] for line in c.lines), c.output
    assert time.monotonic() - started < 15
