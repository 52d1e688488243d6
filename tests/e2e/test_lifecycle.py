"""SPEC.md's lifecycle under Podman and Docker: envs, init, services, CMD, finalize, exit status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

WITH_ENV = "#!/usr/bin/with-env sh"
SCAN = "/run/ignity/services-state"

pytestmark = pytest.mark.engines("podman", "docker")


def test_envs_init_services_cmd_finalize_in_order(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.env("10-base", "A=from-10\nB=from-10\nC=from-10\nIGNITY_CMD_WAIT_FOR_SERVICES=1\n")
    tree.env("20-layer", "B=from-20\nC=from-20\n")
    tree.init("20-second", 'echo "init 20 A=$A B=$B C=$C"', shebang=WITH_ENV)
    tree.init("10-first", 'echo "init 10"', shebang=WITH_ENV)
    # Ready only after a while: with IGNITY_CMD_WAIT_FOR_SERVICES=1 the CMD waits for it.
    tree.service(
        "svc", 'sleep 0.3; echo "service ready B=$B"; echo >&3; exec sleep 1000', shebang=WITH_ENV, notification_fd="3"
    )
    tree.finalize("10-bye", 'echo "finalize C=$C"', shebang=WITH_ENV)
    c = run(images.build(tree.root), "sh", "-c", 'echo "cmd A=$A B=$B C=$C"; exit 3', options=["-e", "C=from-engine"])
    assert c.wait() == 3, c.output
    expected = [
        "init 10",
        "init 20 A=from-10 B=from-20 C=from-engine",
        "service ready B=from-20",
        "cmd A=from-10 B=from-20 C=from-engine",
        "finalize C=from-engine",
    ]
    lines = c.lines
    assert all(line in lines for line in expected), c.output
    assert [lines.index(line) for line in expected] == sorted(lines.index(line) for line in expected), c.output


def test_down_service_is_started_later_with_exec(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("always", 'echo "always up"; exec sleep 1000')
    tree.service("lazy", 'echo "lazy up as $(id -u)"; exec sleep 1000', down="")
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root))
    c.wait_for("always up")
    # `ignity status` is in order: lazy is not wanted up.
    status = c.exec("ignity", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "lazy up" not in c.lines
    assert "down" in c.exec("s6-svstat", f"{SCAN}/lazy", check=True).stdout
    c.exec("sh", "-c", f"rm {SCAN}/lazy/down && s6-svc -u {SCAN}/lazy", check=True)
    c.wait_for("lazy up as 0")
    assert c.exec("s6-svwait", "-u", "-t", "5000", f"{SCAN}/lazy").returncode == 0
    c.stop()
    assert c.wait() == 0
    assert "finalize ran" in c.lines


def test_failing_init_script_gives_its_status_and_nothing_starts(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    tree.init("10-ok", "echo init ok")
    tree.init("20-bad", "echo init bad; exit 7")
    tree.init("30-never", "echo init never")
    tree.service("svc", "echo service started; exec sleep 1000")
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root), "echo", "cmd ran")
    assert c.wait() == 7, c.output
    lines = c.lines
    assert "init ok" in lines and "init bad" in lines and "finalize ran" in lines, c.output
    assert not {"init never", "service started", "cmd ran"} & set(lines), c.output


@pytest.fixture(scope="module")
def status_image(images: Images, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One image for the CMD status cases: a service, so that stage 3 has something to stop."""
    tree = Tree(Path(tmp_path_factory.mktemp("status")) / "etc-ignity")
    tree.service("svc", "exec sleep 1000")
    return images.build(tree.root)


@pytest.mark.parametrize(
    ("cmd", "status"),
    [
        (["true"], 0),
        (["sh", "-c", "exit 3"], 3),
        (["sh", "-c", "exit 255"], 255),
        (["sh", "-c", "kill -USR1 $$"], 128 + 10),
        (["sh", "-c", "kill -KILL $$"], 128 + 9),
        (["no-such-command"], 127),
    ],
    ids=["true", "exit-3", "exit-255", "sigusr1", "sigkill", "not-found"],
)
def test_cmd_exit_status_is_the_container_exit_status(
    status_image: str, run: Callable[..., Attached], cmd: list[str], status: int
):
    c = run(status_image, *cmd)
    assert c.wait() == status, c.output


@pytest.mark.parametrize(
    ("cmd", "status"),
    [(["sh", "-c", "exit 3"], 3), (["sh", "-c", "kill -USR1 $$"], 128 + 10), (["no-such-command"], 127)],
    ids=["exit-3", "sigusr1", "not-found"],
)
def test_cmd_exit_status_under_the_engines_init(
    status_image: str, run: Callable[..., Attached], cmd: list[str], status: int
):
    """`--init`: tini (Docker) or catatonit (Podman) is PID 1 and Ignity its child (issue #12)."""
    c = run(status_image, *cmd, options=["--init"])
    assert c.wait() == status, c.output
