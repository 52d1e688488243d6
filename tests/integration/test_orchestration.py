"""Dependencies, essential services, health checks, clean restarts and permanent
failures, with /init as a real PID 1.

Services write "NAME EVENT NANOSECONDS" lines to /out/events; the readiness
delays (`sleep` before a service notifies) are part of the scenario, not a
synchronisation: the order is asserted from the timestamps.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from tests.tree import Tree, wait_up

S = "/run/ignity/services-state"
WAIT = {"IGNITY_CMD_WAIT_FOR_SERVICES": "1"}


def note(event: str) -> str:
    return f'echo "$(basename "$PWD") {event} $(date +%s%N)" >> /out/events'


def depends(service: Path, *others: str) -> Path:
    (service / "dependencies.d").mkdir()
    for other in others:
        (service / "dependencies.d" / other).write_text("")
    return service


def notifying(tree: Tree, name: str, delay: str = "0", *deps: str, **files: str) -> Path:
    run = f"{note('start')}; sleep {delay}; {note('ready')}; echo >&3; exec sleep 100"
    return depends(tree.service(name, run, notification_fd="3\n", **files), *deps)


def events(out: Path) -> dict[tuple[str, str], int]:
    found = {}
    for line in (out / "events").read_text().splitlines():
        name, event, ns = line.split()
        found.setdefault((name, event), int(ns))
    return found


def test_chain_starts_each_service_once_its_dependency_is_ready(boot, tree: Tree):
    notifying(tree, "db", "0.3")
    notifying(tree, "cache", "0.2", "db")
    notifying(tree, "web", "0", "cache")
    c = boot("sh", "-c", f"echo cmd start $(date +%s%N) >> /out/events; s6-svstat -o ready {S}/web", env=WAIT)
    assert c.wait() == 0, c.output
    e = events(c.out)
    assert e["db", "ready"] < e["cache", "start"] < e["cache", "ready"] < e["web", "start"] < e["web", "ready"]
    assert e["web", "ready"] < e["cmd", "start"]
    assert "true" in c.lines


def test_chain_is_ordered_without_the_cmd_wait(boot, tree: Tree):
    notifying(tree, "db", "0.2")
    depends(tree.service("web", f"{note('start')}; exec sleep 100"), "db")
    c = boot("sh", "-c", f"{wait_up('web')} && echo web-up")
    assert c.wait() == 0, c.output
    e = events(c.out)
    assert e["db", "ready"] < e["web", "start"]
    assert "web-up" in c.lines


def test_diamond_starts_both_middles_in_parallel_and_the_top_after_both(boot, tree: Tree):
    notifying(tree, "base", "0.1")
    notifying(tree, "left", "0.4", "base")
    notifying(tree, "right", "0.1", "base")
    notifying(tree, "top", "0", "left", "right")
    c = boot("sh", "-c", f"s6-svstat -o ready {S}/top", env=WAIT)
    assert c.wait() == 0, c.output
    e = events(c.out)
    assert e["base", "ready"] < e["left", "start"] and e["base", "ready"] < e["right", "start"]
    # right does not wait for left: it is ready while left still sleeps.
    assert e["right", "ready"] < e["left", "ready"] < e["top", "start"]
    assert "true" in c.lines


def test_a_dependency_never_ready_fails_start_up_naming_the_chain(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-ran")
    tree.service("db", "exec sleep 100", notification_fd="3\n")  # never notifies
    notifying(tree, "cache", "0", "db")
    notifying(tree, "web", "0", "cache")
    c = boot("echo", "cmd-ran", env={**WAIT, "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "500"})
    assert c.wait() == 1
    assert "cmd-ran" not in c.lines and "finalize-ran" in c.lines
    assert any("db not ready within IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME=500 ms" in line
               and "web -> cache -> db" in line for line in c.lines), c.output  # fmt: skip


def test_a_dependency_failing_permanently_fails_start_up_at_once(boot, tree: Tree):
    # A dependency without notification-fd is up once started: this one can say it is ready, and never does.
    tree.service("db", "exit 1", finish="#!/bin/sh\nexit 125\n", notification_fd="3\n")
    notifying(tree, "web", "0", "db")
    c = boot("echo", "cmd-ran", env={"IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "20000"})
    assert c.wait(timeout=10) == 1, c.output
    assert "cmd-ran" not in c.lines
    assert any("db failed permanently (its finish exited 125)" in line and "web -> db" in line
               for line in c.lines), c.output  # fmt: skip


def test_cycle_and_unknown_name_stop_the_boot_before_anything_starts(boot, tree: Tree):
    depends(tree.service("a", "echo a-ran; exec sleep 100"), "b")
    depends(tree.service("b", "echo b-ran; exec sleep 100"), "a")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 1
    assert any("dependency cycle: a -> b -> a" in line for line in c.lines), c.output
    assert not {"a-ran", "b-ran", "cmd-ran"} & set(c.lines)


def test_unknown_dependency_stops_the_boot(boot, tree: Tree):
    depends(tree.service("web", "echo web-ran; exec sleep 100"), "dbb")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 1
    # The boot-time check finds it first (ignity check's rule), before anything starts.
    assert any("web depends on dbb, which is not a service" in line for line in c.lines), c.output
    assert "web-ran" not in c.lines and "cmd-ran" not in c.lines


def test_status_shows_what_a_held_service_waits_for(boot, tree: Tree):
    # The observer has no dependencies: it runs while web and cache are held,
    # and lets db become ready once it has looked.
    tree.init("10-fifo", "mkfifo /tmp/go")
    tree.service("observer", "ignity status > /out/held.txt; ignity status --json > /out/held.json; "
                 "echo > /tmp/go; exec sleep 100")  # fmt: skip
    tree.service("db", "read x < /tmp/go; echo >&3; exec sleep 100", notification_fd="3\n")
    notifying(tree, "cache", "0", "db")
    notifying(tree, "web", "0", "cache")
    c = boot("sh", "-c", "ignity status --json > /out/after.json")
    assert c.wait() == 0, c.output
    held = {o["name"]: o for o in json.loads((c.out / "held.json").read_text())["services"]}
    assert held["web"]["waits_for"] == ["cache"] and held["web"]["ok"] is False
    assert held["cache"]["waits_for"] == ["db"]
    assert held["web"]["note"] == "waits for cache" and held["web"]["normally_up"] is True
    row = next(line for line in (c.out / "held.txt").read_text().splitlines() if line.startswith("web "))
    assert row.endswith("waits for cache")
    after = {o["name"]: o for o in json.loads((c.out / "after.json").read_text())["services"]}
    assert all(o["ok"] and o["waits_for"] == [] and o["note"] is None for o in after.values()), after


def test_sigterm_while_a_dependency_is_awaited_stops_without_starting_the_rest(boot, tree: Tree):
    tree.service("db", "echo db-up; exec sleep 100", notification_fd="3\n")  # never ready
    depends(tree.service("web", "echo web-ran; exec sleep 100"), "db")
    c = boot(env={"IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "0"})  # no limit: only the stop ends the wait
    c.wait_for("db-up")
    c.kill(signal.SIGTERM)
    assert c.wait(timeout=10) == 0, c.output
    assert "web-ran" not in c.lines and "Traceback" not in c.output
    assert not any("stage2" in line for line in c.lines), c.output  # a stop is not a failed start-up


def test_essential_service_exiting_3_without_a_cmd(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-ran")
    tree.service("main", "echo main-up; exit 3", essential="")
    tree.service("other", "exec sleep 100")
    c = boot()
    assert c.wait() == 3, c.output
    assert c.lines.count("main-up") == 1  # not restarted
    assert "finalize-ran" in c.lines


def test_essential_service_killed_by_sigkill_gives_137_with_a_cmd_running(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-ran")
    tree.service("main", "echo main-up; exec sleep 100", essential="")
    c = boot("sh", "-c", f"{wait_up('main')}; s6-svc -k {S}/main; echo killed; exec sleep 100")
    assert c.wait() == 137, c.output
    assert c.lines.count("main-up") == 1
    assert "killed" in c.lines and "finalize-ran" in c.lines


def test_essential_service_exiting_3_with_a_cmd_running(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-ran")
    tree.init("10-fifo", "mkfifo /tmp/go")
    tree.service("main", "read x < /tmp/go; exit 3", essential="")
    c = boot("sh", "-c", "echo > /tmp/go; exec sleep 100")
    assert c.wait() == 3, c.output
    assert "finalize-ran" in c.lines


def test_essential_service_exiting_during_the_cmd_wait_gives_its_status(boot, tree: Tree):
    tree.service("main", "exit 4", essential="")
    tree.service("slow", "exec sleep 100", notification_fd="3\n")  # never ready
    c = boot("echo", "cmd-ran", env={**WAIT, "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "20000"})
    assert c.wait(timeout=10) == 4, c.output
    assert "cmd-ran" not in c.lines


def test_essential_service_stopped_by_an_operator_does_not_end_the_container(boot, tree: Tree):
    tree.service("main", "exec sleep 100", essential="")
    c = boot("sh", "-c", f"{wait_up('main')}; s6-svc -d {S}/main; s6-svwait -D {S}/main; exit 7")
    assert c.wait() == 7, c.output


# -- clean restarts --------------------------------------------------------------

# The child binds, then notifies readiness; the main process (what s6 watches) is a sleep.
DAEMON_PY = """import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("bound", flush=True)
os.write(3, b"\\n")
time.sleep(100)
"""
RUNS = {
    "sh": ("#!/bin/sh", "python3 ./daemon.py {port} &\nexec sleep 100 3>&-"),
    "with-env": ("#!/usr/bin/with-env sh", "python3 ./daemon.py {port} &\nexec sleep 100 3>&-"),
    "execline": ("#!/bin/execlineb -P", "background {{ python3 ./daemon.py {port} }}\nfdclose 3\nsleep 100"),
}


def daemon(tree: Tree, kind: str = "sh", **files: str) -> Path:
    shebang, run = RUNS[kind]
    d = tree.service("daemon", run.format(port=free_port()), shebang=shebang, notification_fd="3\n", **files)
    (d / "daemon.py").write_text(DAEMON_PY)
    return d


KILL_AND_WAIT = f"s6-svwait -U {S}/daemon; s6-svlisten1 -R -t 5000 {S}/daemon s6-svc -k {S}/daemon; echo restarted=$?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_forking_daemon_restarts_cleanly_after_kill_9(boot, tree: Tree, kind: str):
    daemon(tree, kind)
    c = boot("sh", "-c", f"{wait_up('daemon')}; {KILL_AND_WAIT}")
    assert c.wait() == 0, c.output
    assert "restarted=0" in c.lines and c.lines.count("bound") == 2, c.output
    assert "Address already in use" not in c.output


def test_keep_children_keeps_them(boot, tree: Tree):
    daemon(tree, keep_children="")
    c = boot("sh", "-c", f"{wait_up('daemon')}; {KILL_AND_WAIT}")
    assert c.wait() == 0, c.output
    assert "restarted=99" in c.lines and "Address already in use" in c.output, c.output


# -- health checks ---------------------------------------------------------------


def test_failing_health_check_restarts_the_service_once(boot, tree: Tree):
    # Checks 1-2 fail (a restart, retries=2), 3 passes; check 4 tells the CMD,
    # which then knows check 3's result is recorded.
    tree.init("10-fifo", "mkfifo /tmp/fourth")
    health = (
        "n=$(cat /tmp/checks 2>/dev/null || echo 0); echo $((n + 1)) > /tmp/checks; "
        "[ $n = 3 ] && echo > /tmp/fourth; [ $n -ge 2 ] || { echo starting; echo db down; exit 1; }"
    )
    svc = tree.service("svc", f"{note('start')}; exec sleep 100", health_interval="50", health_retries="2")
    (svc / "health").write_text(f"#!/bin/sh\n{health}\n")
    (svc / "health").chmod(0o755)
    c = boot("sh", "-c", "read x < /tmp/fourth; ignity status --json > /out/status.json; ignity status")
    assert c.wait(timeout=30) == 0, c.output
    status = {o["name"]: o for o in json.loads((c.out / "status.json").read_text())["services"]}
    assert status["svc"]["health"] == "healthy"
    assert status["svc"]["health_restarts"] == 1
    assert status["svc"]["health_last_failure"] == "exit 1: db down"
    assert status["svc"]["deaths"] == 1 and status["svc"]["ok"] is True
    assert (c.out / "events").read_text().count(" start ") == 2
    row = next(line for line in c.lines if line.startswith("svc "))
    assert "healthy (1 restart)" in row and "last failed check: exit 1: db down" in row


def test_health_check_timeout_counts_as_a_failure(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/second")
    health = "n=$(cat /tmp/checks 2>/dev/null || echo 0); echo $((n + 1)) > /tmp/checks; " \
        "[ $n = 1 ] && echo > /tmp/second; exec sleep 100"  # fmt: skip
    svc = tree.service("svc", "exec sleep 100", health_interval="50", health_timeout="2000", health_retries="5")
    (svc / "health").write_text(f"#!/bin/sh\n{health}\n")
    (svc / "health").chmod(0o755)
    c = boot("sh", "-c", "read x < /tmp/second; ignity status --json > /out/status.json")
    assert c.wait(timeout=30) == 0, c.output
    status = {o["name"]: o for o in json.loads((c.out / "status.json").read_text())["services"]}
    assert status["svc"]["health"] == "failing" and status["svc"]["health_failures"] == 1
    assert status["svc"]["health_last_failure"] == "timed out after 2000 ms"


def test_essential_service_failing_health_stops_the_container(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-ran")
    svc = tree.service("svc", "exec sleep 100", essential="", health_interval="50", health_retries="2")
    (svc / "health").write_text("#!/bin/sh\necho sick\nexit 1\n")
    (svc / "health").chmod(0o755)
    c = boot("sleep", "100")
    assert c.wait(timeout=20) == 1, c.output
    assert "finalize-ran" in c.lines


# -- permanent failure -------------------------------------------------------------


def test_cmd_wait_fails_at_once_on_a_permanent_failure(boot, tree: Tree):
    tree.service("broken", "exit 1", finish="#!/bin/sh\nexit 125\n")
    tree.service("slow", "exec sleep 100", notification_fd="3\n")  # never ready
    c = boot("echo", "cmd-ran", env={**WAIT, "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "20000"})
    assert c.wait(timeout=10) == 1, c.output
    assert "cmd-ran" not in c.lines
    assert any("broken failed permanently" in line for line in c.lines), c.output


def test_status_shows_a_permanent_failure_as_not_ready_and_wait_ready_ends_at_once(boot, tree: Tree):
    # The CMD learns from the finish itself that it runs, then waits for it to end (-D).
    tree.init("10-fifo", "mkfifo /tmp/fin")
    tree.service("broken", "exit 1", finish="#!/bin/sh\necho > /tmp/fin\nexit 125\n")
    tree.service("fine", "exec sleep 100")
    script = f"""
read x < /tmp/fin; s6-svwait -D {S}/broken
ignity status --json > /out/status.json; echo $? > /out/rc
ignity status > /out/status.txt
t0=$(date +%s%N); ignity status --wait-ready=20000 > /dev/null; echo $? > /out/rc-wait
echo $(( ($(date +%s%N) - t0) / 1000000 )) > /out/ms
"""
    c = boot("sh", "-c", script)
    assert c.wait() == 0, c.output
    status = {o["name"]: o for o in json.loads((c.out / "status.json").read_text())["services"]}
    assert status["broken"]["failed"] is True and status["broken"]["ok"] is False
    assert status["broken"]["note"] == "given up: finish exited 125"
    assert status["fine"]["ok"] is True
    assert (c.out / "rc").read_text().strip() == "1"
    assert (c.out / "rc-wait").read_text().strip() == "1"
    assert int((c.out / "ms").read_text()) < 5000  # not the 20 s limit
    assert "given up: finish exited 125" in (c.out / "status.txt").read_text()


def test_a_service_stopped_by_an_operator_is_not_a_failure(boot, tree: Tree):
    tree.service("svc", "exec sleep 100", finish="#!/bin/sh\nexit 125\n")
    script = f"{wait_up('svc')}; s6-svc -d {S}/svc; s6-svwait -D {S}/svc; ignity status --json > /out/status.json"
    c = boot("sh", "-c", script)
    assert c.wait() == 0, c.output
    status = {o["name"]: o for o in json.loads((c.out / "status.json").read_text())["services"]}
    assert (status["svc"]["failed"], status["svc"]["wanted_up"], status["svc"]["ok"]) == (False, False, True)


def test_stop_runs_in_reverse_dependency_order(boot, tree: Tree):
    """Stage 3 stops a service once every service that depends on it is down: web, then cache, then db;
    the independent one at once, in parallel."""
    for name in ("db", "cache", "web", "alone"):
        # Each takes 0.2 s to stop, and says when it got the stop and when it is done.
        tree.service(name, f"trap 'echo {name}-stopping; sleep 0.2; echo {name}-stopped; exit 0' TERM; "
                     f"echo {name}-up; while :; do sleep 0.05; done")  # fmt: skip
    depends(tree.root / "services" / "cache", "db")
    depends(tree.root / "services" / "web", "cache")
    c = boot("sh", "-c", wait_up("db", "cache", "web", "alone") + "; echo all-up; exec sleep 1000")
    c.wait_for("all-up")
    c.kill(signal.SIGTERM)
    assert c.wait(timeout=20) == 128 + signal.SIGTERM
    lines = c.lines
    order = [line for line in lines if line.endswith(("-stopping", "-stopped"))]
    assert order.index("web-stopped") < order.index("cache-stopping"), order
    assert order.index("cache-stopped") < order.index("db-stopping"), order
    # The independent service does not wait for the chain.
    assert order.index("alone-stopping") < order.index("web-stopped"), order
