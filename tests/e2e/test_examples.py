"""examples/kubernetes.yaml and examples/compose.yaml, run as they are on the example image.

Both deploy examples/Containerfile locked down: non-root, read-only root,
only /run/ignity writable. Each run checks that the app starts, serves,
passes its probe or healthcheck, and stops cleanly on SIGTERM with status 0;
the grace periods the files set are checked against Ignity's worst case.
Kubernetes and Compose restart a container that exits (restartPolicy Always,
restart: unless-stopped), and so do the engines: a restart count of 0 tells
that the container never died on the way. The Kubernetes manifest runs on
Podman (`podman kube play`); the compose file on both engines, with
podman-compose and Debian's docker-compose (1.29).
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.images import EXAMPLE_IMAGE, Images
from tests.e2e.podman import REPO, Engine, Podman

MANIFEST = REPO / "examples" / "kubernetes.yaml"
POD = "ignity-example-pod-0"
POD_CONTAINER = f"{POD}-web"
POD_VOLUME = "ignity-run"  # Podman 4.3 makes the emptyDir a named volume of that name

COMPOSE_FILE = REPO / "examples" / "compose.yaml"
PROJECT = "ignity-e2e"
COMPOSE_CONTAINER = f"{PROJECT}_web_1"

GET = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/').read().decode())"


@pytest.fixture(scope="module")
def example(images: Images) -> str:
    return images.example()


def _stopped_cleanly(podman: Engine, container: str, took: float, what: str) -> None:
    state = podman("inspect", "--format", "{{.State.ExitCode}} {{.RestartCount}}", container).stdout.split()
    assert state == ["0", "0"], f"exit code, restarts: {state}"
    logs = podman("logs", container)
    assert "web: stopped" in logs.stdout, logs.stdout + logs.stderr
    assert "[ignity/stage3] exiting with status 0" in logs.stderr, logs.stdout + logs.stderr
    print(f"{what}: {took:.2f} s")
    assert took < 5, f"{what} took {took:.2f} s (the grace period is 15 s)"


@pytest.fixture
def pod(podman: Podman, example: str) -> Iterator[Podman]:
    assert example == EXAMPLE_IMAGE  # the image the manifest names
    podman("kube", "down", str(MANIFEST), check=False)  # left by an interrupted run
    podman("volume", "rm", "-f", POD_VOLUME, check=False)  # a fresh emptyDir, as each pod gets one
    podman("kube", "play", str(MANIFEST))
    yield podman
    podman("kube", "down", str(MANIFEST), check=False)
    podman("volume", "rm", "-f", POD_VOLUME, check=False)


def test_kubernetes_example_starts_serves_and_stops_cleanly(pod: Podman):
    """It declares a containerPort, which Podman 4.3 refuses with `--network none`,
    so the pod gets Podman's default network."""
    podman = pod
    logs = podman.follow_logs(POD_CONTAINER)
    logs.wait_for("web: serving /srv/www on port 8080 as uid 1000")
    logs.wait_for("Serving HTTP on")  # http.server listens (PYTHONUNBUFFERED: printed at once)
    # The readiness probe's command: every wanted service up.
    ready = podman("exec", POD_CONTAINER, "ignity", "status", "--wait-ready=10000", check=False)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert podman("exec", POD_CONTAINER, "ignity", "status", check=False).returncode == 0
    # It serves, on localhost inside the pod.
    assert "Hello from Ignity" in podman("exec", POD_CONTAINER, "python3", "-c", GET).stdout
    # The liveness probe, as Podman turned it into a healthcheck: `ignity status --live`.
    test = podman("inspect", "--format", "{{json .Config.Healthcheck.Test}}", POD_CONTAINER).stdout
    assert "ignity" in test and "--live" in test, test
    health = podman("healthcheck", "run", POD_CONTAINER, check=False)
    assert health.returncode == 0, health.stdout + health.stderr
    # An operator's stop, through exec, as the pod's uid: the probes still pass (stopped on
    # purpose), and a start brings it back.
    stopped = podman("exec", POD_CONTAINER, "ignity", "stop", "web", check=False)
    assert (stopped.returncode, stopped.stdout) == (0, "web: down (stopped by operator)\n"), stopped.stderr
    assert podman("exec", POD_CONTAINER, "ignity", "status", check=False).returncode == 0
    assert podman("healthcheck", "run", POD_CONTAINER, check=False).returncode == 0
    started = podman("exec", POD_CONTAINER, "ignity", "start", "web", check=False)
    assert (started.returncode, started.stdout) == (0, "web: up\n"), started.stderr
    # What the manifest asked for.
    inspect = podman("inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", POD_CONTAINER)
    assert inspect.stdout.split() == ["1000:1000", "true"]
    probe = podman("exec", POD_CONTAINER, "sh", "-c", "touch /probe 2>/dev/null && echo writable || echo read-only")
    assert probe.stdout.strip() == "read-only"
    # Deleting the pod: Kubernetes sends SIGTERM and waits terminationGracePeriodSeconds.
    # `podman kube down` (4.3) kills at once (stop timeout 0), so the graceful stop is
    # `podman pod stop -t 15`, then `kube down` removes what is left.
    start = time.monotonic()
    podman("pod", "stop", "-t", "15", POD, timeout=60)
    took = time.monotonic() - start
    assert logs.wait(timeout=30) == 0
    _stopped_cleanly(podman, POD_CONTAINER, took, "podman pod stop")
    podman("kube", "down", str(MANIFEST))
    assert not podman.exists("pod", POD)
    assert not podman.exists("container", POD_CONTAINER)


@pytest.fixture
def composed(engine: Engine, example: str) -> Iterator[Engine]:
    """`COMPOSE up -d` (the image is there, so it is not rebuilt), then `down -v`."""
    assert example == EXAMPLE_IMAGE  # the image the compose file names
    engine.compose(COMPOSE_FILE, PROJECT, "down", "-v", check=False)
    engine.compose(COMPOSE_FILE, PROJECT, "up", "-d")
    yield engine
    engine.compose(COMPOSE_FILE, PROJECT, "down", "-v", check=False)
    if isinstance(engine, Podman):
        engine("network", "rm", "-f", f"{PROJECT}_default", check=False)  # podman-compose 1.0.3 leaves it


@pytest.mark.engines("podman", "docker")
def test_compose_example_starts_serves_and_stops_cleanly(composed: Engine):
    engine = composed
    logs = engine.follow_logs(COMPOSE_CONTAINER)
    logs.wait_for("web: serving /srv/www on port 8080 as uid 1000")
    logs.wait_for("Serving HTTP on")
    # Published on the host, as `ports:` says.
    with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=10) as response:
        assert "Hello from Ignity" in response.read().decode()
    # The healthcheck the file declares, run as the engine runs it.
    if isinstance(engine, Podman):
        health = engine("healthcheck", "run", COMPOSE_CONTAINER, check=False)
        assert health.returncode == 0, health.stdout + health.stderr
    else:  # Docker runs it itself (start_period 5 s, interval 10 s): ask for the same command now
        test = engine("inspect", "--format", "{{json .Config.Healthcheck.Test}}", COMPOSE_CONTAINER).stdout
        assert test.strip() == '["CMD","ignity","status"]', test
        health = engine("exec", COMPOSE_CONTAINER, "ignity", "status", check=False)
        assert health.returncode == 0, health.stdout + health.stderr
    inspect = engine("inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", COMPOSE_CONTAINER)
    assert inspect.stdout.split() == ["1000:1000", "true"]
    start = time.monotonic()
    engine.compose(COMPOSE_FILE, PROJECT, "stop")
    took = time.monotonic() - start
    assert logs.wait(timeout=30) == 0
    _stopped_cleanly(engine, COMPOSE_CONTAINER, took, f"{engine.name} compose stop")


def _setting(text: str, name: str, default_ms: int) -> int:
    """An IGNITY_* value (ms) as the file sets it (`- name: X` + `value: "N"`, or `X: "N"`), else the default."""
    match = re.search(rf'{name}(?::|\n\s*value:)\s*"(\d+)"', text)
    return int(match.group(1)) if match else default_ms


@pytest.mark.parametrize(
    ("path", "grace"),
    [(MANIFEST, r"terminationGracePeriodSeconds:\s*(\d+)"), (COMPOSE_FILE, r"stop_grace_period:\s*(\d+)s")],
    ids=["kubernetes", "compose"],
)
def test_grace_period_covers_ignitys_worst_case(path: Path, grace: str):
    """Past its grace period the engine SIGKILLs the container: finalize scripts and
    services cut short. Ignity's worst case is max(services, finalize) + leftovers."""
    text = path.read_text()
    match = re.search(grace, text)
    assert match, f"{path.name} sets no grace period"
    worst_ms = max(
        _setting(text, "IGNITY_SERVICES_GRACETIME", 5000), _setting(text, "IGNITY_KILL_FINALIZE_MAXTIME", 5000)
    ) + _setting(text, "IGNITY_KILL_GRACETIME", 3000)
    # Room for stage 3's own start (one Python) and a busy node.
    assert int(match.group(1)) * 1000 >= worst_ms + 2000, f"{path.name}: grace {match.group(1)} s, worst {worst_ms} ms"
