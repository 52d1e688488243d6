"""Fixtures of the e2e suite: Podman, the images, containers cleaned up after each test.

Set-up happens here, once per session, so that `pytest` on a fresh machine
needs nothing else than scripts/setup's venv: scripts/podman installs and
configures Podman, the base image is imported when missing, and the seed
archive is rebuilt from the working tree. When Podman cannot run a
container, every test of the suite errors with the reason: never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.images import Images, base_image, make
from tests.e2e.podman import Attached, Podman, PodmanError


@pytest.fixture(scope="session")
def podman() -> Podman:
    if os.geteuid() != 0:
        pytest.fail("the e2e tests run rootful Podman: run scripts/test (or pytest) as root")
    try:
        return Podman.configure()
    except PodmanError as e:
        pytest.fail(f"Podman cannot run containers here, so the e2e suite cannot run:\n{e}")


@pytest.fixture(scope="session")
def images(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    built = Images(podman, base_image(podman), make("seed"), tmp_path_factory.mktemp("e2e"))
    yield built
    built.remove_all()


@pytest.fixture
def run(podman: Podman) -> Iterator[Callable[..., Attached]]:
    """Start a container (`podman run --rm` in the foreground); whatever a test
    leaves running is removed after it."""
    started: list[Attached] = []

    def start(image: str, *cmd: str, **kwargs: Any) -> Attached:
        c = podman.start(image, cmd, **kwargs)
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
