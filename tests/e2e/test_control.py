"""Operating a running container through `exec`, as an operator does: the probes during a
slow boot and after a give-up, and `ignity start|stop|restart|signal` on plain, `down`,
dependent and notifying services, refused to another uid (a root container and a
non-root one)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests import docs
from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

pytestmark = pytest.mark.engines("podman", "docker")


def services(tree: Tree) -> None:
    # The boot waits in its init script until the test lets it go.
    tree.init("10-slow", "mkfifo /tmp/go; echo init waiting; read x < /tmp/go")
    tree.service("web", "trap 'echo web got HUP' HUP\necho web up\nwhile :; do sleep 0.2; done")
    tree.service("db", "echo >&3; exec sleep 1000", notification_fd="3\n")
    api = tree.service("api", "exec sleep 1000")
    (api / "dependencies.d").mkdir()
    (api / "dependencies.d" / "db").write_text("")
    tree.service("lazy", "echo >&3; exec sleep 1000", notification_fd="3\n", down="")
    tree.service("broken", "exit 3", finish="#!/bin/sh\nexit 125\n", down="")


def result(c: Attached, *cmd: str, user: str | None = None) -> tuple[int, str, str]:
    done = c.exec(*cmd, options=["-u", user] if user else [])
    return done.returncode, done.stdout, done.stderr


@pytest.mark.bases("debian11", "debian12", "debian13")  # s6 2.10, 2.11, 2.13: the -w waits of each
def test_probes_and_control_through_exec(images: Images, run: Callable[..., Attached], tree: Tree):
    services(tree)
    c = run(images.build(tree.root))
    c.wait_for("init waiting")
    # During the boot: readiness says starting (3), liveness is fine (0).
    assert result(c, "ignity", "status") == (3, "starting: init script 1 of 1: 10-slow\n", "")
    assert result(c, "ignity", "status", "--live")[0] == 0
    assert result(c, "sh", "-c", "echo > /tmp/go")[0] == 0
    code, out, _ = result(c, "ignity", "status", "--wait-ready=30000")
    assert code == 0, out

    # Dependencies guard a stop, and are started first.
    code, out, err = result(c, "ignity", "stop", "db")
    assert (code, out) == (1, "") and "db is needed by api" in err
    assert result(c, "ignity", "stop", "--with-dependents", "db") == (
        0, "api: down (stopped by operator)\ndb: down (stopped by operator)\n", "")  # fmt: skip
    code, out, _ = result(c, "ignity", "status")
    assert code == 0 and "stopped by operator" in out  # stopped on purpose: still ready
    assert result(c, "ignity", "start", "api") == (0, "db: ready (a dependency)\napi: up\n", "")
    # A build-time down service, notifying.
    assert result(c, "ignity", "start", "lazy") == (0, "lazy: ready\n", "")
    # Signals and restarts.
    code, out, _ = result(c, "ignity", "signal", "HUP", "web")
    assert code == 0 and out.startswith("web: sent SIGHUP to pid ")
    c.wait_for("web got HUP")
    assert result(c, "ignity", "restart", "web") == (0, "web: restarted, up\n", "")
    # Bad input: one line each.
    code, _, err = result(c, "ignity", "restart", "nope")
    assert code == 100 and err.count("\n") == 1 and "'nope' is not a service" in err
    code, _, err = result(c, "ignity", "signal", "NOPE", "web")
    assert code == 100 and err.count("\n") == 1
    # Another uid (the image's root container, exec'ed as 1000): refused, nothing changed.
    code, out, err = result(c, "ignity", "stop", "web", user="1000")
    assert (code, out) == (111, "") and "uid 1000 may not control services" in err
    assert result(c, "ignity", "status")[0] == 0

    # A give-up (finish exits 125): not ready, and not live.
    result(c, "ignity", "start", "broken")
    assert result(c, "ignity", "status", "--wait-ready=10000")[0] == 1
    code, out, _ = result(c, "ignity", "status", "--live")
    assert code == 1 and "given up: finish exited 125" in out

    assert c.stop(grace=15) < 10
    assert c.wait() == 0, c.output


def test_a_non_root_container_controls_its_own_and_refuses_another_uid(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    tree.service("web", "echo web up; exec sleep 1000")
    image = images.build(tree.root)
    c = run(image, options=["--user", "1000:1000", *c_tmpfs(images)])
    c.wait_for("web up")
    assert result(c, "ignity", "status", "--wait-ready=30000")[0] == 0
    assert result(c, "ignity", "restart", "web") == (0, "web: restarted, up\n", "")
    code, out, err = result(c, "ignity", "stop", "web", user="2000")
    assert (code, out) == (111, "") and "uid 2000 may not control services (only root, or uid 1000" in err
    # Root exec'ed into it acts as uid 1000.
    assert result(c, "ignity", "stop", "web", user="0") == (0, "web: down (stopped by operator)\n", "")
    assert result(c, "ignity", "start", "web", user="0") == (0, "web: up\n", "")
    assert c.stop(grace=15) < 10
    assert c.wait() == 0, c.output


def c_tmpfs(images: Images) -> list[str]:
    return images.engine.tmpfs_run_ignity("1000:1000")


def docs_healthcheck() -> str:
    section = docs.page("operating")
    return section.split("```dockerfile\n", 1)[1].split("\n", 1)[0]


@pytest.mark.engines("docker")  # Podman keeps HEALTHCHECK only in --format docker images
def test_the_docs_healthcheck_under_docker(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.init("10-slow", "mkfifo /tmp/go; echo init waiting; read x < /tmp/go")
    tree.service("web", "echo web up; exec sleep 1000")
    line = docs_healthcheck()
    assert line.startswith("HEALTHCHECK ") and line.endswith('CMD ["ignity", "status"]')
    c = run(images.build(tree.root, steps=[line]), options=["--health-interval", "1s"])
    c.wait_for("init waiting")

    def health() -> tuple[str, list[int]]:
        out = c.engine("inspect", "--format", "{{json .State.Health}}", c.name).stdout
        state = json.loads(out)
        return state["Status"], [entry["ExitCode"] for entry in state.get("Log") or []]

    def until(done: Callable[[tuple[str, list[int]]], bool]) -> tuple[str, list[int]]:
        deadline = time.monotonic() + 60  # hang guard: Docker runs the check every second
        while not done(now := health()):
            assert time.monotonic() < deadline, now
            time.sleep(0.2)
        return now

    # During the boot: the check runs and says starting (3); Docker: still "starting".
    status, codes = until(lambda h: bool(h[1]))
    assert status == "starting" and set(codes) == {3}, (status, codes)
    assert c.exec("sh", "-c", "echo > /tmp/go").returncode == 0
    status, codes = until(lambda h: h[0] == "healthy")
    assert codes[-1] == 0
    assert c.stop(grace=15) < 10
    assert c.wait() == 0, c.output
