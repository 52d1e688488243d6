"""Restart policies under Podman (issue #22): backoff and give-up, on-failure, a frozen
service and one ignoring SIGTERM restarted by their health check, an essential one given up on."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

SCAN = "/run/ignity/services-state"
R = "/run/ignity/services"


def note(event: str) -> str:
    return f'echo "event $(basename "$PWD") {event} $(date +%s%N)"'


def starts(lines: list[str], name: str = "svc") -> list[float]:
    return [int(w[3]) / 1e9 for w in (x.split() for x in lines) if len(w) == 4 and w[:3] == ["event", name, "start"]]


def test_backoff_then_given_up_at_exactly_n(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("svc", f"{note('start')}; exit 3", restart_delay="1000 2000\n", restart_limit="4 60000\n")
    c = run(images.build(tree.root))
    c.wait_for("given up after 4 exits in", timeout=60)
    assert c.exec("cat", f"{R}/svc/.ignity/failed").stdout.startswith("given up after 4 exits in ")
    c.stop()
    assert c.wait() == 0, c.output
    times = starts(c.lines)
    assert len(times) == 4, c.output
    gaps = [b - a for a, b in zip(times, times[1:])]
    for measured, expected in zip(gaps, (1.0, 2.0, 2.0)):
        assert expected - 0.1 < measured < expected + 1.5, gaps
    assert "[ignity] svc exited 3: restarting in 1000 ms" in c.lines, c.output


def test_on_failure_exit_0_is_done(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("svc", f"{note('start')}; exit 0", restart="on-failure\n")
    c = run(images.build(tree.root))
    c.wait_for("[ignity] svc exited 0: done (restart on-failure)")
    assert c.exec("cat", f"{R}/svc/.ignity/done").stdout == "exited 0\n"
    c.stop()
    assert c.wait() == 0, c.output
    assert len(starts(c.lines)) == 1


def test_frozen_and_sigterm_ignoring_services_are_restarted_by_their_checks(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    frozen = tree.service("frozen", f"{note('start')}; exec sleep 1000", health_interval="200", health_retries="2")
    (frozen / "health").write_text(
        '#!/bin/sh\npid=$(s6-svstat -o pid .)\nread -r _ _ state _ < /proc/$pid/stat\n[ "$state" != T ]\n'
    )
    stubborn = tree.service(
        "stubborn",
        f"trap '' TERM; rm -f /tmp/sick; {note('start')}; while :; do sleep 0.2; done",
        health_interval="200",
        health_retries="2",
        timeout_kill="1000\n",
    )
    (stubborn / "health").write_text("#!/bin/sh\n[ ! -e /tmp/sick ]\n")
    for d in (frozen, stubborn):
        (d / "health").chmod(0o755)
    c = run(images.build(tree.root))
    for round_ in (1, 2):
        c.wait_for_count("event frozen start", round_)
        c.wait_for_count("event stubborn start", round_)
        c.exec("sh", "-c", f"kill -STOP $(s6-svstat -o pid {SCAN}/frozen); touch /tmp/sick", check=True)
    c.wait_for_count("event frozen start", 3, timeout=30)
    c.wait_for_count("event stubborn start", 3, timeout=30)
    assert sum("[ignity] frozen crashed (unhealthy, stopped by signal TERM)" in x for x in c.lines) == 2, c.output
    assert sum("[ignity] stubborn crashed (unhealthy, stopped by signal KILL)" in x for x in c.lines) == 2, c.output
    c.stop()
    assert c.wait() == 0, c.output


def test_essential_given_up_on_stops_the_container_with_its_status(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    tree.service("svc", f"{note('start')}; exit 5", essential="", restart="on-failure\n", restart_limit="2 60000\n")
    c = run(images.build(tree.root), "sleep", "1000")
    assert c.wait(timeout=60) == 5, c.output
    assert len(starts(c.lines)) == 2, c.output
