"""Issue #12: Ignity under another init (tini, dumb-init, a shell) behaves as when it is PID 1,
and only ever signals its own tree."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence

import pytest

from tests.harness import Container
from tests.tree import Tree, wait_up

# How each outer init runs /init with a CMD (the harness execs `INIT ARGS...` as PID 1).
OUTER = {
    "tini": ("/usr/bin/tini", ["--", "/init"]),
    # dumb-init signals its child's whole process group by default: s6-supervise would then
    # stop its logger at once. --single-child gives the signal to /init alone (docs/deploying.md).
    "dumb-init": ("/usr/bin/dumb-init", ["--single-child", "/init"]),
}


def _under(boot, outer: str, cmd: Sequence[str], **kwargs: object) -> Container:
    init, args = OUTER[outer]
    c = Container(boot.image, boot.tree_root, [*args, *cmd], init=init, **kwargs)  # type: ignore[arg-type]
    boot.started.append(c)
    return c


@pytest.fixture
def outer_boot(boot, tree: Tree):
    boot.tree_root = tree.root
    boot.started = []
    yield boot
    for c in boot.started:
        c.cleanup()


def _logged_service(tree: Tree) -> None:
    # A logger that must drain what its service writes while it stops, and a service that takes 1.2 s to stop.
    svc = tree.service(
        "writer",
        "trap 'i=0; while [ $i -lt 2000 ]; do echo stop-line-$i; i=$((i+1)); done; sleep 1.2; exit 0' TERM; "
        "echo first-words; while :; do sleep 0.05; done",
    )
    (svc / "log").mkdir()
    (svc / "log" / "run").write_text("#!/bin/sh\nexec s6-log /out/logs\n")
    (svc / "log" / "run").chmod(0o755)
    tree.finalize("10-fin", "echo finalize-ran")


@pytest.mark.parametrize("outer", sorted(OUTER))
def test_under_another_init_graces_logs_and_statuses_are_kept(outer_boot, tree: Tree, outer: str):
    _logged_service(tree)
    c = _under(
        outer_boot, outer,
        ["sh", "-c", "for i in $(seq 1000); do grep -q first-words /out/logs/current 2>/dev/null && break; "
         "sleep 0.01; done; echo logged; sleep 1000 & wait"],
    )  # fmt: skip
    c.wait_for("logged")
    assert any("not PID 1" in line and "subreaper" in line for line in c.lines), c.output
    sent = c.kill(signal.SIGTERM)
    assert c.wait(timeout=20) == 128 + signal.SIGTERM
    took = time.monotonic() - sent
    # The service's own 1.2 s to stop were granted (IGNITY_SERVICES_GRACETIME is 5 s), not cut short.
    assert 1.2 <= took < 4, c.output
    lines = (c.out / "logs" / "current").read_text().split()
    assert lines[0] == "first-words" and "stop-line-1999" in lines, lines[-3:]
    assert c.lines.count("finalize-ran") == 1


@pytest.mark.parametrize("outer", sorted(OUTER))
@pytest.mark.parametrize("code", [0, 3])
def test_under_another_init_the_cmds_status_is_the_containers(outer_boot, tree: Tree, outer: str, code: int):
    tree.service("svc", "exec sleep 1000")
    c = _under(outer_boot, outer, ["sh", "-c", wait_up("svc") + f"; exit {code}"])
    assert c.wait(timeout=20) == code


@pytest.mark.parametrize("outer", sorted(OUTER))
def test_under_another_init_orphans_are_reaped_as_ours(outer_boot, tree: Tree, outer: str):
    # A daemon that escapes its service (double fork): Ignity adopts it (subreaper) and stops it.
    tree.service("forker", "sh -c 'sleep 1000 & echo $! > /tmp/escaped' ; exec sleep 1000")
    c = _under(
        outer_boot, outer,
        ["sh", "-c", "for i in $(seq 1000); do [ -s /tmp/escaped ] && break; sleep 0.01; done; "
         "p=$(cat /tmp/escaped); echo escaped-ppid-is-ignity=$([ $(awk '{print $4}' /proc/$p/stat) = $PPID_OF_TOP ] "
         "&& echo yes || echo no); grep -h PPid /proc/$p/status"],
    )  # fmt: skip
    assert c.wait(timeout=20) == 0
    # Its parent is s6-svscan (Ignity's top process), not the outer init (pid 1).
    ppid = next(line.split()[1] for line in c.lines if line.startswith("PPid:"))
    assert ppid != "1", c.output


def test_processes_outside_the_tree_survive_every_stop(boot, tree: Tree):
    """A shell as PID 1 starts a process of its own, then /init: stopping Ignity leaves it alone."""
    tree.service("svc", "exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    script = (
        "sleep 1000 & outsider=$!; "
        "/init sh -c 'touch /tmp/up; exec sleep 1000' & ignity=$!; "
        "for i in $(seq 1000); do [ -e /tmp/up ] && break; sleep 0.01; done; kill -TERM $ignity; "
        "wait $ignity; echo ignity-exit=$?; "
        "kill -0 $outsider 2>/dev/null && echo outsider-alive || echo outsider-killed; "
        # The same with the CMD exiting, and with s6-svscanctl -t.
        "/init sh -c 'exit 4'; echo ignity-exit=$?; "
        "kill -0 $outsider 2>/dev/null && echo outsider-alive || echo outsider-killed; kill $outsider"
    )
    c = Container(boot.image, tree.root, ["-c", script], init="/bin/sh")
    try:
        assert c.wait(timeout=30) == 0
    finally:
        c.cleanup()
    assert c.lines.count("outsider-alive") == 2, c.output
    assert "ignity-exit=143" in c.lines and "ignity-exit=4" in c.lines
    assert c.lines.count("finalize-ran") == 2
    assert "Traceback" not in c.output
