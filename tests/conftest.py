from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Container, Image
from tests.tree import Tree


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    if os.geteuid() != 0:
        pytest.fail("the PID 1 tests need root (namespaces, mounts, chroot): run scripts/test as root")
    return Image(tmp_path_factory.mktemp("image"))


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "etc-ignity")


@pytest.fixture
def boot(image: Image, tree: Tree) -> Iterator[Callable[..., Container]]:
    started: list[Container] = []

    def start(*cmd: str, **kwargs: Any) -> Container:
        c = Container(image, tree.root, cmd, **kwargs)
        started.append(c)
        return c

    start.image = image  # type: ignore[attr-defined]
    yield start
    for c in started:
        c.cleanup()
