"""Stage 3: bounded, event-driven shutdown, and reaping."""

from __future__ import annotations

import signal
import time

from tests.tree import Tree

FAST = {"IGNITY_SERVICES_GRACETIME": "5000", "IGNITY_KILL_GRACETIME": "3000", "IGNITY_KILL_FINALIZE_MAXTIME": "5000"}


def test_stop_takes_the_services_time_not_the_grace_times(boot, tree: Tree):
    for i in range(5):
        tree.service(f"svc{i}", f"echo svc{i}-up; exec sleep 100")
    tree.service("slowstop", "trap 'sleep 0.3; exit 0' TERM; echo slow-up; while :; do sleep 0.05; done")
    c = boot()
    for i in range(5):
        c.wait_for(f"svc{i}-up")
    c.wait_for("slow-up")
    sent = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    took = time.monotonic() - sent
    # Default grace times sum to 8 s; the slowest service needs 0.3 s.
    assert 0.3 <= took < 1.5, took


def test_term_ignoring_service_is_killed_within_its_grace(boot, tree: Tree):
    tree.service("stubborn", "trap '' TERM; echo stubborn-up; while :; do sleep 0.05; done")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot(env={"IGNITY_SERVICES_GRACETIME": "1000", "IGNITY_KILL_GRACETIME": "3000"})
    c.wait_for("stubborn-up")
    sent = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    took = time.monotonic() - sent
    assert 0.9 <= took < 2.5, took
    assert "finalize-ran" in c.lines


def test_zero_grace_kills_at_once(boot, tree: Tree):
    tree.service("stubborn", "trap '' TERM; echo stubborn-up; while :; do sleep 0.05; done")
    c = boot(env={"IGNITY_SERVICES_GRACETIME": "0", "IGNITY_KILL_GRACETIME": "0"})
    c.wait_for("stubborn-up")
    sent = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert time.monotonic() - sent < 1.0


def test_hung_finalize_script_is_killed_after_its_max_time(boot, tree: Tree):
    tree.finalize("10-hang", "echo hang-started; exec sleep 100")
    tree.finalize("20-next", "echo next-ran")
    c = boot("true", env={"IGNITY_KILL_FINALIZE_MAXTIME": "700"})
    started = time.monotonic()
    assert c.wait() == 0
    took = time.monotonic() - started
    assert 0.7 <= took < 2.5, took
    lines = c.lines
    assert lines.index("hang-started") < lines.index("next-ran")
    assert any("10-hang: still running after IGNITY_KILL_FINALIZE_MAXTIME=700 ms, killed" in x for x in lines)


def test_finalize_runs_while_services_go_down(boot, tree: Tree):
    tree.service("slowstop", "trap 'sleep 1; exit 0' TERM; echo slow-up; while :; do sleep 0.05; done")
    tree.finalize("10-a", "sleep 1; echo finalize-done")
    c = boot()
    c.wait_for("slow-up")
    sent = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    took = time.monotonic() - sent
    # One second each, in parallel: well under the two seconds of one after the other.
    assert 1.0 <= took < 1.8, took
    assert "finalize-done" in c.lines


def test_term_ignoring_cmd_is_killed_after_the_grace_times(boot, tree: Tree):
    c = boot("sh", "-c", "trap '' TERM; echo cmd-up; while :; do sleep 0.05; done",
             env={"IGNITY_SERVICES_GRACETIME": "500", "IGNITY_KILL_GRACETIME": "500"})  # fmt: skip
    c.wait_for("cmd-up")
    sent = c.kill(signal.SIGTERM)
    assert c.wait() == 128 + signal.SIGKILL
    took = time.monotonic() - sent
    assert 1.0 <= took < 2.5, took


def test_leftover_processes_are_terminated(boot, tree: Tree):
    # A daemon that escaped its service's process group, and one left by the CMD.
    tree.service("forker", "setsid sh -c 'trap \"echo daemon-got-term >> /out/log; exit 0\" TERM; "
                 "while :; do sleep 0.05; done' & echo forker-up; exec sleep 100")  # fmt: skip
    c = boot()
    c.wait_for("forker-up")
    c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert (c.out / "log").read_text() == "daemon-got-term\n"


def test_second_sigterm_during_shutdown_changes_nothing(boot, tree: Tree):
    tree.finalize("10-slow", "echo finalize-start; sleep 0.5; echo finalize-end")
    tree.service("svc", "echo svc-up; exec sleep 100")
    c = boot()
    c.wait_for("svc-up")
    c.kill(signal.SIGTERM)
    c.wait_for("finalize-start")
    c.kill(signal.SIGTERM)
    c.kill(signal.SIGINT)
    assert c.wait() == 0
    assert "finalize-end" in c.lines
