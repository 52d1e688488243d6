"""Stopping under Podman and Docker: `stop` and `kill`, their exit status and how long they take."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.e2e.images import Images, rootfs
from tests.e2e.podman import Attached, host_mounts_with, host_processes_with
from tests.tree import Tree

pytestmark = pytest.mark.engines("podman", "docker")

# Ignity's grace times by default: services 5 s, leftovers 3 s. A stop that
# waited for them, instead of for the services, would take about this long.
DEFAULT_GRACE_S = 8.0
# What a stop may take here: the services' own stop time (0.5 s below), one
# Python start for stage 3, and the engine's own work, with room for a busy machine.
STOP_BOUND_S = 3.0


def _services_that_take_half_a_second_to_stop(tree: Tree) -> None:
    tree.service("quick", 'echo "quick up"; exec sleep 1000')
    # Stops 0.5 s after SIGTERM: the longest of the services' stop times.
    tree.service("slow", "trap 'echo slow stopping; sleep 0.5; echo slow stopped; exit 0' TERM\n"
                 'echo "slow up"; sleep 1000 & wait')  # fmt: skip
    tree.service("other", 'echo "other up"; exec sleep 1000')
    tree.finalize("10-bye", "echo finalize ran")


@pytest.mark.bases("debian11", "debian12", "debian13")
def test_stop_takes_the_services_stop_time_not_the_grace_times(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    _services_that_take_half_a_second_to_stop(tree)
    c = run(images.build(tree.root))
    for name in ("quick", "slow", "other"):
        c.wait_for(f"{name} up")
    took = c.stop(grace=10)
    assert c.wait() == 0, c.output
    lines = c.lines
    assert "slow stopped" in lines and "finalize ran" in lines, c.output
    print(f"{c.engine.name} stop, 3 services (the slowest stops in 0.5 s): {took:.2f} s")
    assert 0.5 <= took < STOP_BOUND_S < DEFAULT_GRACE_S, f"{c.engine.name} stop took {took:.2f} s"


@pytest.mark.bases("debian11", "debian12", "debian13")
def test_stop_with_a_cmd_exits_with_the_cmds_status(images: Images, run: Callable[..., Attached], tree: Tree):
    _services_that_take_half_a_second_to_stop(tree)
    # The CMD gets SIGTERM in stage 3 and dies of it: 128 + 15.
    c = run(images.build(tree.root), "sh", "-c", "echo cmd started; exec sleep 1000")
    c.wait_for("cmd started")
    c.wait_for("slow up")
    took = c.stop(grace=10)
    assert c.wait() == 143, c.output
    assert "finalize ran" in c.lines
    assert took < STOP_BOUND_S, f"{c.engine.name} stop took {took:.2f} s"


@pytest.mark.bases("debian11", "debian12", "debian13")
def test_stop_with_a_cmd_that_is_not_a_shell(images: Images, run: Callable[..., Attached], tree: Tree):
    """The CMD keeps the signal mask it starts with (dash clears its own, so `sh -c` hid this):
    on Debian 13 (execline 2.9.6) it inherited the waiter's blocked SIGTERM, and every stop
    took both grace times (8 s) and ended in SIGKILL (137)."""
    for name in ("one", "two"):
        tree.service(name, f'echo "{name} up"; exec sleep 1000')
    c = run(images.build(tree.root), "tail", "-f", "/etc/debian_version")
    for name in ("one", "two"):
        c.wait_for(f"{name} up")
    c.wait_for((rootfs(images.kind) / "etc/debian_version").read_text().strip())  # the CMD runs
    took = c.stop(grace=10)
    assert c.wait() == 143, c.output  # the CMD died of the SIGTERM
    assert not any("still stopping" in line or "still running" in line for line in c.lines), c.output
    print(f"{c.engine.name} stop, a CMD and 2 services: {took:.2f} s")
    assert took < STOP_BOUND_S < DEFAULT_GRACE_S, f"{c.engine.name} stop took {took:.2f} s"


def test_a_service_ignoring_sigterm_is_killed_after_its_grace_time(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    tree.service("stubborn", "trap 'echo stubborn ignores TERM' TERM\necho stubborn up\n"
                 "while :; do sleep 0.1; done")  # fmt: skip
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root), options=["-e", "IGNITY_SERVICES_GRACETIME=1000"])
    c.wait_for("stubborn up")
    took = c.stop(grace=10)
    assert c.wait() == 0, c.output
    assert "stubborn ignores TERM" in c.lines and "finalize ran" in c.lines, c.output
    # SIGKILLed by s6 after the 1 s grace time, not by the engine after its 10 s.
    assert 1.0 <= took < 1.0 + STOP_BOUND_S, f"{c.engine.name} stop took {took:.2f} s"


def test_kill_sigkill_leaves_nothing_behind(images: Images, run: Callable[..., Attached], tree: Tree):
    marker = f"{random.randrange(10**8, 10**9)}"  # in every service's command line, to find them on the host
    for name in ("one", "two"):
        tree.service(name, f'echo "{name} up"; exec sleep 1000{marker}')
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root))
    c.wait_for("one up")
    c.wait_for("two up")
    cid = c.container_id()
    assert len(host_processes_with(marker)) == 2, "the services should be visible from the host"
    assert host_processes_with(cid), "conmon (podman) or containerd-shim (docker) should be running for the container"
    # The container's root, as the engine mounted it (overlay: its merged directory).
    root = c.engine("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}", c.name).stdout.strip()
    assert root and host_mounts_with(root), f"the container's root {root!r} should be mounted"
    c.kill("KILL")
    assert c.wait() == 128 + 9, c.output
    assert "finalize ran" not in c.lines  # SIGKILL: no stage 3, the kernel ends everything
    assert not c.engine.exists("container", c.name)
    # The kernel killed the namespace with its PID 1; the engine's cleanup runs as it exits.
    deadline = time.monotonic() + 10
    while host_processes_with(marker) or host_processes_with(cid) or host_mounts_with(cid) or host_mounts_with(root):
        assert time.monotonic() < deadline, (
            f"left behind: {host_processes_with(marker)} {host_processes_with(cid)} {host_mounts_with(root)}"
        )
        time.sleep(0.05)


def test_stop_under_the_engines_init_takes_the_services_stop_time(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    """`--init`: the engine's init is PID 1, gets the SIGTERM and passes it to Ignity (issue #12)."""
    _services_that_take_half_a_second_to_stop(tree)
    c = run(images.build(tree.root), options=["--init"])
    for name in ("quick", "slow", "other"):
        c.wait_for(f"{name} up")
    took = c.stop(grace=10)
    assert c.wait() == 0, c.output
    assert "slow stopped" in c.lines and "finalize ran" in c.lines, c.output
    assert 0.5 <= took < STOP_BOUND_S, f"{c.engine.name} stop --init took {took:.2f} s"
