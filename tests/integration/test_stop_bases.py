"""A stop with a CMD on each Debian's own s6 and execline (11, 12, 13), under the PID 1 harness.

The rest of the integration suite boots Debian 12 (scripts/rootfs's default):
what differs between the bases' s6 (2.10, 2.11, 2.13) and execline (2.7,
2.9.3, 2.9.6) is tested here, where a difference once hid. execline 2.9.4.0+
(Debian 13) starts `foreground`'s child with its parent's signal mask, so the
CMD inherited the waiter's blocked SIGTERM: every stop with a CMD took both
grace times and ended in SIGKILL (137). Each base's rootfs is built once
(about a minute) and cached, as for the e2e suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import REPO, Container, Image, build_layer
from tests.tree import Tree

SUITES = ("bullseye", "bookworm", "trixie")
# Default grace times: services 5 s, leftovers 3 s. A stop that waited for them, instead of
# for the CMD and the services (which stop at once), would take at least 5 s.
STOP_BOUND_S = 3.0


@pytest.fixture(scope="module", params=SUITES)
def suite_image(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Image:
    if os.geteuid() != 0:
        pytest.fail("the PID 1 tests need root (namespaces, mounts, chroot): run scripts/test as root")
    env = {**os.environ, "IGNITY_TEST_SUITE": request.param, "IGNITY_TEST_VARIANT": "full"}
    out = subprocess.run([str(REPO / "scripts" / "rootfs")], env=env, check=True, capture_output=True, text=True)
    root = Path(out.stdout.strip().splitlines()[-1])
    tmp = tmp_path_factory.mktemp(f"image-{request.param}")
    layer = tmp / "layer-0"
    layer.mkdir()
    build_layer(root, layer)
    return Image(tmp, root=root, layers=[layer])


def _two_services(tree: Tree) -> None:
    tree.service("one", 'echo "one up"; exec sleep 1000')
    tree.service("two", 'echo "two up"; exec sleep 1000')


def test_the_cmd_starts_with_no_signal_blocked_or_ignored(suite_image: Image, tree: Tree):
    """Not a shell (dash clears its mask as it starts, which hid the bug): grep reports its own."""
    c = Container(suite_image, tree.root, ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])
    try:
        assert c.wait(60) == 0, c.output
        masks = dict(line.split(":\t") for line in c.lines if line.startswith("Sig"))
        assert int(masks["SigBlk"], 16) == 0, c.output
        assert int(masks["SigIgn"], 16) & 0x7FFFFFFF == 0, c.output  # none of 1..31 (the real-time ones are libc's)
    finally:
        c.cleanup()


@pytest.mark.parametrize("layout", ["plain", "ordered", "prefixed"])
def test_a_stop_ends_the_cmd_and_the_services_at_once(suite_image: Image, tree: Tree, layout: str):
    """plain: s6-svscan tells every supervisor (`-tb`); ordered (a dependency): stage 3 finds the
    supervisors (argv, uids, /proc/PID/exe) and stops them itself; prefixed: each has a logger."""
    _two_services(tree)
    if layout == "ordered":
        tree.service("two", 'echo "two up"; exec sleep 1000', **{"dependencies.d/one": ""})
    env = {"IGNITY_SERVICES_OUTPUT": "prefixed"} if layout == "prefixed" else {}
    # A CMD that is not a shell, prints a line, then runs until a signal ends it.
    version = (suite_image.root / "etc/debian_version").read_text().strip()
    c = Container(suite_image, tree.root, ["tail", "-f", "/etc/debian_version"], env=env)
    try:
        for line in ("one up", "two up", version):
            c.wait_for(line, timeout=60)
        sent = c.kill(signal.SIGTERM)
        code = c.wait(60)
        took = time.monotonic() - sent
        assert code == 128 + signal.SIGTERM, c.output  # the CMD died of the SIGTERM: not SIGKILL (137)
        assert not any("still stopping" in line or "still running" in line for line in c.lines), c.output
        assert took < STOP_BOUND_S, f"stop took {took:.2f} s\n{c.output}"
    finally:
        c.cleanup()


def test_a_stop_with_no_cmd_ends_at_once(suite_image: Image, tree: Tree):
    _two_services(tree)
    c = Container(suite_image, tree.root)
    try:
        c.wait_for("one up", timeout=60)
        c.wait_for("two up", timeout=60)
        sent = c.kill(signal.SIGTERM)
        assert c.wait(60) == 0, c.output
        took = time.monotonic() - sent
        assert not any("still stopping" in line or "still running" in line for line in c.lines), c.output
        assert took < STOP_BOUND_S, f"stop took {took:.2f} s\n{c.output}"
    finally:
        c.cleanup()


def test_a_signal_the_cmd_receives_reaches_it(suite_image: Image, tree: Tree):
    """IGNITY_CMD_RECEIVE_SIGNALS=1: the SIGTERM is the CMD's, which traps it and exits 7."""
    cmd = "trap 'echo cmd got TERM; exit 7' TERM; u=up; echo cmd is $u; while :; do sleep 0.1; done"
    c = Container(suite_image, tree.root, ["sh", "-c", cmd], env={"IGNITY_CMD_RECEIVE_SIGNALS": "1"})
    try:
        c.wait_for("cmd is up", timeout=60)
        c.kill(signal.SIGTERM)
        c.wait_for("cmd got TERM", timeout=STOP_BOUND_S)
        assert c.wait(60) == 7, c.output
    finally:
        c.cleanup()


def test_a_signal_the_cmd_receives_ends_a_cmd_that_is_not_a_shell(suite_image: Image, tree: Tree):
    """IGNITY_CMD_RECEIVE_SIGNALS=1 and a CMD that keeps the mask it starts with: the SIGTERM ends it."""
    version = (suite_image.root / "etc/debian_version").read_text().strip()
    c = Container(suite_image, tree.root, ["tail", "-f", "/etc/debian_version"],
                  env={"IGNITY_CMD_RECEIVE_SIGNALS": "1"})  # fmt: skip
    try:
        c.wait_for(version, timeout=60)
        sent = c.kill(signal.SIGTERM)
        assert c.wait(60) == 128 + signal.SIGTERM, c.output
        assert time.monotonic() - sent < STOP_BOUND_S, c.output
    finally:
        c.cleanup()
