"""Fixtures of the e2e suite: the engines, the images, containers cleaned up after each test.

Set-up happens here, once per session, so that `pytest` on a fresh machine
needs nothing else than scripts/setup's venv: scripts/podman and
scripts/docker install the engines, the suite starts (and at the end stops)
its own dockerd, the base images are imported when missing, and the seed
archive is rebuilt from the working tree. When an engine cannot run a
container, every test that needs it errors with the reason: never a skip.

The matrix: a module (or test) marked `pytest.mark.engines("podman",
"docker")` runs once per engine, and `pytest.mark.bases("debian11", ...)`
once per base (ids from tests/e2e/images.BASES; default debian12); both show
in the test ids, e.g. `test_x[docker-debian12]`. Unmarked tests get Podman on
Debian 12 through the fixtures they always had (`podman`, `images`, `run`),
so tests written before the matrix keep working unchanged. With
IGNITY_E2E_FAST=1 (`scripts/test --fast`) each marked test runs once: on
Podman, on Debian 12 when it is among its bases.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.docker import Docker
from tests.e2e.images import BASES, DEFAULT_BASE, Base, Images, base_image, make
from tests.e2e.podman import Attached, Engine, Podman, PodmanError

ENGINES = ("podman", "docker")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engines(*names): run the test once per engine (podman, docker)")
    config.addinivalue_line(
        "markers", "bases(*ids): run the test once per base image (debian11, debian12-minimal, ...)"
    )
    config.addinivalue_line("markers", "docker_only: a test of Docker alone (left out by scripts/test --fast)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """scripts/test --fast: no test of Docker alone (no dockerd to start)."""
    if os.environ.get("IGNITY_E2E_FAST") != "1":
        return
    left_out = [item for item in items if item.get_closest_marker("docker_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("docker_only")]


def _fast(values: list[str], preferred: str) -> list[str]:
    """IGNITY_E2E_FAST=1 (scripts/test --fast): one cell of the matrix, the preferred one when listed."""
    if os.environ.get("IGNITY_E2E_FAST") != "1":
        return values
    return [next((v for v in values if v.startswith(preferred)), values[0])]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    engines = metafunc.definition.get_closest_marker("engines")
    bases = metafunc.definition.get_closest_marker("bases")
    if engines is None and bases is None:
        return
    if "engine" in metafunc.fixturenames:
        names = list(engines.args) if engines else ["podman"]
        assert set(names) <= set(ENGINES), f"unknown engine in {names}"
        metafunc.parametrize("engine", _fast(names, "podman"), indirect=True, scope="session")
    if "base" in metafunc.fixturenames:
        ids = list(bases.args) if bases else [DEFAULT_BASE.id]
        assert set(ids) <= set(BASES), f"unknown base in {ids}"
        metafunc.parametrize("base", _fast(ids, DEFAULT_BASE.id), indirect=True, scope="session")


class _Engines:
    """The session's engines, each configured once, when first asked for; Docker's daemon stopped at the end."""

    def __init__(self) -> None:
        self.ready: dict[str, Engine] = {}
        self.failed: dict[str, str] = {}

    def get(self, name: str) -> Engine:
        if os.geteuid() != 0:
            pytest.fail("the e2e tests run rootful Podman and their own dockerd: run scripts/test (or pytest) as root")
        if name in self.failed:
            pytest.fail(self.failed[name])
        if name not in self.ready:
            try:
                self.ready[name] = Podman.configure() if name == "podman" else Docker.configure()
            except PodmanError as e:
                self.failed[name] = f"{name} cannot run containers here, so its e2e tests cannot run:\n{e}"
                pytest.fail(self.failed[name])
        return self.ready[name]

    def stop(self) -> None:
        for engine in self.ready.values():
            if isinstance(engine, Docker):
                engine.stop()


@pytest.fixture(scope="session")
def _engines() -> Iterator[_Engines]:
    engines = _Engines()
    yield engines
    engines.stop()


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest, _engines: _Engines) -> Engine:
    """The engine of this test: its `engines` parameter, else Podman."""
    return _engines.get(getattr(request, "param", "podman"))


@pytest.fixture(scope="session")
def base(request: pytest.FixtureRequest) -> Base:
    """The base of this test: its `bases` parameter, else Debian 12 with python3."""
    return BASES[getattr(request, "param", DEFAULT_BASE.id)]


@pytest.fixture(scope="session")
def podman(_engines: _Engines) -> Podman:
    engine = _engines.get("podman")
    assert isinstance(engine, Podman)
    return engine


@pytest.fixture(scope="session")
def seed() -> Path:
    """`make seed` from the working tree, once per session."""
    return make("seed")


@pytest.fixture(scope="session")
def images(engine: Engine, base: Base, seed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    built = Images(
        engine, base_image(engine, base), seed, tmp_path_factory.mktemp(f"e2e-{engine.name}-{base.id}"), base
    )
    yield built
    built.remove_all()


@pytest.fixture
def run(engine: Engine) -> Iterator[Callable[..., Attached]]:
    """Start a container (`run --rm` in the foreground); whatever a test
    leaves running is removed after it."""
    started: list[Attached] = []

    def start(image: str, *cmd: str, **kwargs: Any) -> Attached:
        c = engine.start(image, cmd, **kwargs)
        started.append(c)
        return c

    yield start
    for c in started:
        c.cleanup()


@pytest.fixture
def hostdir(tmp_path: Path) -> Path:
    """A host directory for -v mounts (tmp_path itself is private to root: 0700)."""
    d = tmp_path / "host"
    d.mkdir()
    return d
