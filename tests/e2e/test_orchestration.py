"""Dependencies and essential services under Podman (issue #13)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

SCAN = "/run/ignity/services-state"


def note(event: str) -> str:
    return f'echo "event $(basename "$PWD") {event} $(date +%s%N)"'


def events(lines: list[str]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for line in lines:
        words = line.split()
        if len(words) == 4 and words[0] == "event":
            found.setdefault((words[1], words[2]), int(words[3]))
    return found


def test_chain_db_cache_web_starts_in_order(images: Images, run: Callable[..., Attached], tree: Tree):
    for name, delay, dep in (("db", "0.3", None), ("cache", "0.2", "db"), ("web", "0", "cache")):
        d = tree.service(name, f"{note('start')}; sleep {delay}; {note('ready')}; echo >&3; exec sleep 1000",
                         notification_fd="3\n")  # fmt: skip
        if dep:
            (d / "dependencies.d").mkdir()
            (d / "dependencies.d" / dep).write_text("")
    tree.env("10-wait", "IGNITY_CMD_WAIT_FOR_SERVICES=1\n")
    c = run(images.build(tree.root), "sh", "-c", f"echo event cmd start $(date +%s%N); s6-svstat -o ready {SCAN}/web")
    assert c.wait() == 0, c.output
    e = events(c.lines)
    assert e["db", "ready"] < e["cache", "start"] < e["cache", "ready"] < e["web", "start"], c.output
    assert e["web", "ready"] < e["cmd", "start"] and "true" in c.lines, c.output


def test_essential_service_exit_status_is_the_containers(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("main", "echo main up; exit 3", essential="")
    tree.service("other", "exec sleep 1000")
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root))
    assert c.wait() == 3, c.output
    assert c.lines.count("main up") == 1 and "finalize ran" in c.lines, c.output


def test_failing_health_check_restarts_once_visible_in_status(images: Images, run: Callable[..., Attached], tree: Tree):
    # Checks 1-2 fail (retries 2: one restart), then every check passes.
    check = (
        "n=$(cat /tmp/checks 2>/dev/null || echo 0); echo $((n + 1)) > /tmp/checks; "
        "[ $n -ge 2 ] || { echo no db; exit 1; }"
    )
    d = tree.service("svc", "echo svc start; exec sleep 1000", health_interval="50", health_retries="2")
    (d / "health").write_text(f"#!/bin/sh\n{check}\n")
    (d / "health").chmod(0o755)
    c = run(images.build(tree.root))
    c.wait_for_count("svc start", 2)  # the restart the health loop asked for
    status = {o["name"]: o for o in json.loads(c.exec("ignity", "status", "--json").stdout)["services"]}
    assert status["svc"]["health_restarts"] == 1 and status["svc"]["deaths"] == 1, status
    assert status["svc"]["health_last_failure"] == "exit 1: no db", status
    c.stop()
    assert c.wait() == 0, c.output
