"""Restart policies (docs/restarts.md), with /init as a real PID 1.

A service notes each start as "NAME start NANOSECONDS" in /out/events; the
tests wait for the lines Ignity tells on the container's stderr (events),
then read the timestamps: the intervals between starts are measured, never
slept for.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.tree import Tree

S = "/run/ignity/services-state"
R = "/run/ignity/services"


def note(event: str) -> str:
    return f'echo "$(basename "$PWD") {event} $(date +%s%N)" >> /out/events'


def starts(out: Path, name: str = "svc") -> list[float]:
    """Seconds of each start of `name`."""
    lines = (out / "events").read_text().splitlines()
    return [int(w[2]) / 1e9 for w in (line.split() for line in lines) if w[0] == name and w[1] == "start"]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def status_json(c, name: str = "svc") -> dict:
    return {o["name"]: o for o in json.loads((c.out / "status.json").read_text())}[name]


# -- backoff and give-up -----------------------------------------------------------


def test_backoff_follows_the_formula_and_the_limit_gives_up_at_exactly_n(boot, tree: Tree):
    # Delays 1000, 2000, 4000 (capped), 4000 ms; given up at the 5th death in 60 s.
    tree.service("svc", f"{note('start')}; exit 3", restart_delay="1000 4000\n", restart_limit="5 60000\n")
    c = boot()
    c.wait_for("[ignity] svc exited 3 (5th time in", timeout=60)
    line = next(x for x in c.lines if "5th time" in x)
    assert "given up after 5 exits in" in line, c.output
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
    times = starts(c.out)
    assert len(times) == 5, c.output
    for measured, expected in zip(gaps(times), (1.0, 2.0, 4.0, 4.0)):
        assert expected - 0.1 < measured < expected + 1.0, (gaps(times), c.output)
    told = [x for x in c.lines if x.startswith("[ignity] svc exited 3")]
    assert told[0] == "[ignity] svc exited 3: restarting in 1000 ms", told
    assert told[1].startswith("[ignity] svc exited 3 (2nd time in ") and told[1].endswith("restarting in 2000 ms")
    assert told[2].endswith("restarting in 4000 ms"), told
    # Rate-limited: after the 3rd, one line per 10 s; the 4th death came 4 s after the 3rd's line.
    assert len(told) == 4 and "given up" in told[3], told


def inside(c, path: str) -> str:
    """A file of the running container, through its PID 1's root."""
    return Path(f"/proc/{c.pid1()}/root{path}").read_text()


def test_given_up_service_is_failed_in_its_state_files(boot, tree: Tree):
    tree.service("svc", "exit 2", restart_limit="2 60000\n")
    c = boot()
    c.wait_for("[ignity] svc exited 2 (2nd time in")
    assert inside(c, f"{R}/svc/.ignity/failed").startswith("given up after 2 exits in "), c.output
    assert inside(c, f"{R}/svc/.ignity/restart") == ""
    restarts, consecutive = inside(c, f"{R}/svc/.ignity/deaths").split()[:2]
    assert (restarts, consecutive) == ("1", "2")
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output


# -- policies ------------------------------------------------------------------------

COUNTED = "n=$(cat /tmp/n 2>/dev/null || echo 0); echo $((n + 1)) > /tmp/n; " + note("start")


def test_on_failure_restarts_exit_2_and_is_done_after_exit_0(boot, tree: Tree):
    tree.service("svc", f'{COUNTED}; [ "$n" = 0 ] && exit 2; exit 0', restart="on-failure\n")
    c = boot()
    c.wait_for("[ignity] svc exited 0 (2nd time in")
    assert "done (restart on-failure)" in c.lines[-1] or any("done (restart on-failure)" in x for x in c.lines)
    assert any(x == "[ignity] svc exited 2: restarting in 1000 ms" for x in c.lines), c.output
    assert inside(c, f"{R}/svc/.ignity/done") == "exited 0\n"
    assert inside(c, f"{R}/svc/.ignity/failed") == ""
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
    assert len(starts(c.out)) == 2


def test_never_runs_once_and_a_non_zero_exit_is_a_failure(boot, tree: Tree):
    tree.service("svc", f"{COUNTED}; exit 2", restart="never\n")
    c = boot()
    c.wait_for("[ignity] svc exited 2: exited 2 (restart never)")
    assert inside(c, f"{R}/svc/.ignity/failed") == "exited 2 (restart never)\n"
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
    assert len(starts(c.out)) == 1


def test_never_with_exit_0_is_done(boot, tree: Tree):
    tree.service("svc", f"{COUNTED}; exit 0", restart="never\n")
    c = boot()
    c.wait_for("[ignity] svc exited 0: done (restart never)")
    assert inside(c, f"{R}/svc/.ignity/done") == "exited 0\n"
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output


def test_defaults_come_from_the_variables(boot, tree: Tree):
    tree.service("svc", f"{COUNTED}; exit 4")
    env = {"IGNITY_SERVICES_RESTART_DELAY": "1500", "IGNITY_SERVICES_RESTART_LIMIT": "3 60000"}
    c = boot(env=env)
    c.wait_for("given up after 3 exits in", timeout=30)
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
    times = starts(c.out)
    assert len(times) == 3
    assert all(1.4 < g < 2.5 for g in gaps(times)), gaps(times)
    assert "[ignity] svc exited 4: restarting in 1500 ms" in c.lines


def test_a_service_file_overrides_the_variables(boot, tree: Tree):
    tree.service("svc", f"{COUNTED}; exit 4", restart_limit="2 60000\n")
    c = boot(env={"IGNITY_SERVICES_RESTART_LIMIT": "9 60000"})
    c.wait_for("given up after 2 exits in", timeout=30)
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output


def test_an_essential_service_given_up_on_stops_the_container_with_its_status(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-ran")
    tree.service("svc", f"{COUNTED}; exit 3", essential="", restart="always\n", restart_limit="2 60000\n")
    c = boot("sleep", "100")
    assert c.wait(timeout=30) == 3, c.output
    assert len(starts(c.out)) == 2
    assert "finalize-ran" in c.lines
    assert any("[ignity] svc exited 3 (2nd time in" in x and "given up after 2 exits" in x for x in c.lines)


# -- a pending delay and a stop -----------------------------------------------------------


def test_an_operator_stop_during_a_pending_delay_never_restarts_it(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/dying")
    tree.service("svc", f"{COUNTED}; echo > /tmp/dying; exit 1", restart_delay="6000\n")
    script = f"""
read x < /tmp/dying; s6-svwait -D {S}/svc; s6-svwait -u -t 10000 {S}/svc
cat {R}/svc/.ignity/restart
t0=$(date +%s%N); s6-svc -d {S}/svc; s6-svwait -D -t 10000 {S}/svc
echo stopped-in-ms=$(( ($(date +%s%N) - t0) / 1000000 ))
s6-svwait -u -t 8000 {S}/svc; echo up-again=$?
echo "restart=[$(cat {R}/svc/.ignity/restart)]"
"""
    c = boot("sh", "-c", script)
    assert c.wait(timeout=40) == 0, c.output
    assert len(starts(c.out)) == 1, c.output
    ms = int(next(x for x in c.lines if x.startswith("stopped-in-ms=")).split("=")[1])
    assert ms < 2000, c.output
    assert "up-again=99" in c.lines and "restart=[]" in c.lines, c.output


def test_a_container_stop_during_a_pending_delay_is_not_delayed(boot, tree: Tree):
    tree.service("svc", f"{COUNTED}; exit 1", restart_delay="30000\n")
    c = boot()
    c.wait_for("[ignity] svc exited 1: restarting in 30000 ms")
    t0 = c.kill(signal.SIGTERM)
    assert c.wait(timeout=20) == 0, c.output
    assert time.monotonic() - t0 < 5, c.output
    assert len(starts(c.out)) == 1


# -- health checks escalate ----------------------------------------------------------------

FROZEN_CHECK = '#!/bin/sh\npid=$(s6-svstat -o pid .)\nread -r _ _ state _ < /proc/$pid/stat\n[ "$state" != T ]\n'


def health(service: Path, body: str) -> None:
    (service / "health").write_text(body)
    (service / "health").chmod(0o755)


def twice(act: str, up: str = "-u") -> str:
    """The CMD: twice, wait for the service up (`up`), `act` on it, note the time, wait for its next start."""
    return f"""
for i in 1 2; do
  s6-svwait {up} -t 20000 {S}/svc || exit 9
  pid=$(s6-svstat -o pid {S}/svc)
  echo "svc act $(date +%s%N)" >> /out/events
  {act}
  s6-svwait -d -t 30000 {S}/svc || exit 8
done
s6-svwait {up} -t 20000 {S}/svc; echo "health-restarts=$(cat {R}/svc/.ignity/health-restarts | wc -l)"
"""


def acts_then_starts(out: Path) -> list[float]:
    """For each act, seconds until the next start."""
    events = [line.split() for line in (out / "events").read_text().splitlines()]
    times = [(w[1], int(w[2]) / 1e9) for w in events]
    result = []
    for i, (kind, t) in enumerate(times):
        if kind == "act":
            result.append(next(u for k, u in times[i + 1 :] if k == "start") - t)
    return result


def test_a_frozen_service_is_restarted_within_the_bound_twice(boot, tree: Tree):
    run = f"{note('start')}; echo >&3; exec sleep 1000 3>&-"
    svc = tree.service(
        "svc", run, health_interval="200", health_retries="2", health_timeout="1000", notification_fd="3\n"
    )
    health(svc, FROZEN_CHECK)
    c = boot("sh", "-c", twice('kill -STOP "$pid"', "-U"))
    assert c.wait(timeout=60) == 0, c.output
    assert "health-restarts=2" in c.lines, c.output
    assert not any("s6-svwait" in x for x in c.lines), c.output
    # interval x retries (0.4 s) + the 1-s pause between two starts, plus slack for a loaded machine
    assert all(t < 0.4 + 1 + 2.5 for t in acts_then_starts(c.out)), acts_then_starts(c.out)
    assert sum("crashed (unhealthy, stopped by signal TERM)" in x for x in c.lines) == 2, c.output


def test_a_service_ignoring_sigterm_is_killed_past_its_grace_and_restarted_twice(boot, tree: Tree):
    run = f"trap '' TERM; rm -f /tmp/sick; {note('start')}; echo >&3; while :; do sleep 0.2; done"
    svc = tree.service(
        "svc", run, health_interval="200", health_retries="2", timeout_kill="1000\n", notification_fd="3\n"
    )
    health(svc, "#!/bin/sh\n[ ! -e /tmp/sick ]\n")
    c = boot("sh", "-c", twice("touch /tmp/sick", "-U"))  # each start removes it, then is ready
    assert c.wait(timeout=60) == 0, c.output
    assert "health-restarts=2" in c.lines, c.output
    assert not any("s6-svwait" in x for x in c.lines), c.output
    # interval x retries (0.4) + grace (1) + the 1-s pause, plus slack
    assert all(1.0 < t < 0.4 + 1 + 1 + 2.5 for t in acts_then_starts(c.out)), acts_then_starts(c.out)
    assert sum("crashed (unhealthy, stopped by signal KILL)" in x for x in c.lines) == 2, c.output


def test_a_hanging_check_is_killed_at_its_timeout_every_time(boot, tree: Tree):
    # The check leaves a child in a session of its own holding its output: it must not hold the loop.
    svc = tree.service(
        "svc", f"{note('start')}; exec sleep 1000", health_interval="100", health_retries="3", health_timeout="300"
    )
    health(svc, "#!/bin/sh\nsetsid sleep 100 &\nexec sleep 100\n")
    c = boot()
    c.wait_for_count("[ignity] svc crashed (unhealthy, stopped by signal TERM)", 2, timeout=30)
    assert inside(c, f"{R}/svc/.ignity/health-last") == "timed out after 300 ms\n"
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
    times = starts(c.out)
    # 3 x (interval + timeout) = 1.2 s, + the 1-s pause
    assert all(g < 1.2 + 1 + 2.5 for g in gaps(times[:3])), gaps(times)


def test_the_restart_count_resets_once_the_service_passed_its_check(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/go /tmp/checked")
    run = f'{COUNTED}; [ "$n" -lt 2 ] && exit 1; [ "$n" = 2 ] && read x < /tmp/go; exit 1'
    svc = tree.service("svc", run, restart_delay="1000 60000\n", health_interval="100")
    # The second passing check tells the CMD: the loop has recorded the first.
    health(svc, "#!/bin/sh\nn=$(cat /tmp/c 2>/dev/null || echo 0); echo $((n + 1)) > /tmp/c\n"
           "[ \"$n\" = 1 ] && echo > /tmp/checked\nexit 0\n")  # fmt: skip
    c = boot("sh", "-c", "read x < /tmp/checked; echo > /tmp/go; exec sleep 100")
    c.wait_for("[ignity] svc exited 1 (2nd time in")
    c.wait_for_count("[ignity] svc exited 1: restarting in 1000 ms", 2, timeout=30)
    told = [x for x in c.lines if x.startswith("[ignity] svc exited 1")]
    assert told[:3] == [
        "[ignity] svc exited 1: restarting in 1000 ms",
        told[1],
        "[ignity] svc exited 1: restarting in 1000 ms",
    ] and told[1].endswith("restarting in 2000 ms"), told
    c.kill(signal.SIGTERM)
    assert c.wait() == 143, c.output  # the CMD's sleep, stopped


# -- start order, down-signal, the reset by time -------------------------------------------


def dependency(service: Path, other: str) -> Path:
    (service / "dependencies.d").mkdir()
    (service / "dependencies.d" / other).write_text("")
    return service


def test_a_dependency_done_once_lets_what_depends_on_it_start(boot, tree: Tree):
    # It notifies no readiness and ends: s6's "permanent failure" event, which a done one is not.
    tree.service("migrate", f"{note('start')}; exit 0", restart="never\n", notification_fd="3\n")
    dependency(tree.service("web", f"{note('start')}; exec sleep 100"), "migrate")
    c = boot("sh", "-c", f"s6-svwait -u -t 10000 {S}/web && echo web-up")
    assert c.wait() == 0, c.output
    assert "web-up" in c.lines
    assert starts(c.out, "migrate")[0] < starts(c.out, "web")[0]


def test_a_dependency_failing_under_restart_never_stops_the_start_up_saying_why(boot, tree: Tree):
    tree.service("migrate", "exit 2", restart="never\n", notification_fd="3\n")
    dependency(tree.service("web", "echo web-ran; exec sleep 100"), "migrate")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 1, c.output
    assert any("migrate failed permanently (exited 2 (restart never))" in x for x in c.lines), c.output
    assert "web-ran" not in c.lines and "cmd-ran" not in c.lines


USR1 = "trap 'echo got-USR1; exit 0' USR1; " + note("start") + "; echo >&3; while :; do sleep 0.1; done"


def test_down_signal_stops_it_for_a_health_restart_and_for_s6_svc_d(boot, tree: Tree):
    svc = tree.service(
        "svc", USR1, down_signal="SIGUSR1\n", health_interval="100", health_retries="2", notification_fd="3\n"
    )
    health(svc, "#!/bin/sh\n[ ! -e /tmp/sick ]\n")
    script = f"""
s6-svwait -U -t 10000 {S}/svc; touch /tmp/sick; s6-svwait -d -t 20000 {S}/svc; rm /tmp/sick
s6-svwait -U -t 10000 {S}/svc; s6-svc -d {S}/svc; s6-svwait -D -t 10000 {S}/svc; echo down=$?
"""
    c = boot("sh", "-c", script)
    assert c.wait(timeout=40) == 0, c.output
    assert c.lines.count("got-USR1") == 2 and "down=0" in c.lines, c.output
    # exit 0 on its down-signal, under `restart always`: restarted after the health kill
    assert "[ignity] svc exited 0: restarting in 1000 ms" in c.lines, c.output
    assert len(starts(c.out)) == 2


def test_the_count_resets_once_a_run_lasted_max_ms(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/go /tmp/third")
    # runs 1-2 die at once (1000, 2000 ms), run 3 lives > MAX (2000 ms) then dies: 1000 ms again.
    run = f'{COUNTED}; [ "$n" -lt 2 ] && exit 1; [ "$n" = 2 ] && {{ echo > /tmp/third; read x < /tmp/go; }}; exit 1'
    tree.service("svc", run, restart_delay="1000 2000\n")
    # 2.5 s is how long run 3 lives: the scenario, not a synchronisation
    c = boot("sh", "-c", "read x < /tmp/third; sleep 2.5; echo > /tmp/go; exec sleep 100")
    c.wait_for_count("[ignity] svc exited 1: restarting in 1000 ms", 2, timeout=30)
    told = [x for x in c.lines if x.startswith("[ignity] svc exited 1")]
    assert told[1].endswith("restarting in 2000 ms") and told[2] == "[ignity] svc exited 1: restarting in 1000 ms"
    c.kill(signal.SIGTERM)
    c.wait()
