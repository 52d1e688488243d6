"""Scheduled jobs under a real engine: @every timing, overlap, timeout, a failing job, the
state file, the environment and a user drop, prefixed output, `podman stop` mid-run, and a
bad schedule refused at build (`RUN ignity check`) and at boot."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

pytestmark = pytest.mark.engines("podman")

S = "/run/ignity/services-state"
COUNT = "n=$(cat /tmp/$1 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /tmp/$1; "


def test_jobs_run_at_their_times_and_stop_with_the_container(
    images: Images, run: Callable[..., Attached], tree: Tree
) -> None:
    tree.env("10-app", "GREETING=hi\n")
    tree.service("tick", 'n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /tmp/n; echo "tick $n"',
                 schedule="@every 1s\n", output_mode="prefixed\n")  # fmt: skip
    tree.service("slow", "echo slow ran; sleep 2.5", schedule="@every 1s\n")
    tree.service("long", "echo long ran; exec sleep 100", schedule="@every 2s\n", timeout="300\n")
    tree.service("fails", "exit 3", schedule="@every 1s\n")
    tree.service("who", "exec s6-setuidgid nobody sh -c 'echo \"who $(id -u) $GREETING\"'",
                 shebang="#!/usr/bin/with-env sh", schedule="@every 1s\n")  # fmt: skip
    tree.service("stopme", "trap 'sleep 0.3; echo stopme cleaned; exit 5' TERM; echo stopme running; "
                 "sleep 100 & wait", schedule="@every 1s\n")  # fmt: skip
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root))
    started = time.monotonic()
    c.wait_for("tick | tick 1")
    first = time.monotonic()
    c.wait_for("tick | tick 4")
    took = time.monotonic() - first
    assert 2.0 < took < 8.0, took  # three more runs, one a second, on a busy machine
    c.wait_for("slow: the run due now is skipped: the previous one is still going (concurrency forbid)")
    c.wait_for("long: the run exceeded its timeout: stopped, counts as failed (status 143)")
    c.wait_for("who 65534 hi")
    c.wait_for("stopme running")
    state = c.exec("cat", f"{S}/fails/.ignity/job", check=True).stdout.split()
    assert state[2] == "3", state
    nxt = c.exec("cat", f"{S}/tick/.ignity/job", check=True).stdout.split()[3]
    assert abs(int(nxt) / 1000 - time.time()) < 5, nxt
    c.stop(grace=10)
    assert c.wait() == 0, c.output  # no CMD: a stop is status 0 (docs/reference.md, Exit status)
    assert "stopme cleaned" in c.lines and "finalize ran" in c.lines, c.output
    assert time.monotonic() - started < 60


def test_a_bad_schedule_is_refused_at_build_and_at_boot(
    images: Images, run: Callable[..., Attached], tree: Tree
) -> None:
    tree.service("bad", "true", schedule="61 * * * *\n")
    image = images.build(tree.root, ["RUN ignity check > /check.txt; echo $? >> /check.txt"])
    built = run(image, "/check.txt", options=["--entrypoint", "cat"])
    assert built.wait() == 0, built.output
    message = "/etc/ignity/services/bad/schedule:1: minute 61 is out of range 0–59 — use a minute from 0 to 59"
    assert built.lines == [f"error: {message}", "1"], built.output
    c = run(image)
    assert c.wait() == 1, c.output
    assert f"[ignity/check] error: {message}" in c.lines, c.output
