"""The docs' `docker run` and `podman run` lines, run as they are written, on the engine
each names: the tmpfs on /run/ignity (Docker's needs `exec`), `--read-only`, `--user`,
`--init` (tini as docker-init on Docker, catatonit on Podman: Ignity is then PID 2).

Each line is read from the ```sh blocks of README.md and docs/*.md (every `docker run`/`podman run`
line that runs `my-image`), split as a shell would, and run with `my-image`
replaced by an image prepared as the docs say (`RUN preboot` for user
1000); the suite's own defaults (`--network none`, `--pull never`, a label)
come first. A line added to those blocks is tested without more ado; a line
that does not work fails here.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import docs
from tests.e2e.images import Images, base_image
from tests.e2e.podman import Engine
from tests.tree import Tree

WITH_ENV = "#!/usr/bin/with-env sh"
IMAGE = "my-image"
INITS = {"docker": "docker-init", "podman": "podman-init"}  # PID 1 under --init: tini, catatonit (bind-mounted)


@dataclass(frozen=True)
class Line:
    text: str
    engine: str
    options: tuple[str, ...]

    @property
    def id(self) -> str:
        return re.sub(r"[^A-Za-z0-9=,.:/-]+", "_", " ".join((self.engine, *self.options))).strip("_")

    @property
    def user(self) -> str | None:
        return self.options[self.options.index("--user") + 1] if "--user" in self.options else None


def docs_lines() -> list[Line]:
    """Every `ENGINE run ... my-image` line of the sh blocks of README.md and docs/*.md."""
    found = []
    sh = [raw for name in docs.names() for block in docs.blocks(docs.page(name), "sh") for raw in block.splitlines()]
    for raw in sh:
        words = shlex.split(raw, comments=True)
        if words[:2] in (["docker", "run"], ["podman", "run"]) and words[-1:] == [IMAGE]:
            found.append(Line(raw, words[0], tuple(words[2:-1])))
    return found


LINES = docs_lines()
# docs/users.md's non-root image: its ENV and RUN preboot lines (the rest is what every test image has).
PREBOOT_STEPS = [
    line.split(" #", 1)[0].rstrip()
    for line in docs.blocks(docs.page("users"), "Dockerfile")[0].splitlines()
    if line.startswith(("ENV USER=", "RUN preboot"))
]
# scripts/test --fast (IGNITY_E2E_FAST=1): Podman's lines only, no dockerd to start.
RUN_LINES = [x for x in LINES if x.engine == "podman"] if os.environ.get("IGNITY_E2E_FAST") == "1" else LINES


def test_the_docs_have_the_lines_each_engine_needs():
    """So that the parametrised test below cannot pass by finding nothing."""
    by_engine = {(x.engine, "--init" in x.options, "--read-only" in x.options) for x in LINES}
    for engine in ("docker", "podman"):
        assert {(engine, False, True), (engine, True, False)} <= by_engine, LINES
    docker_tmpfs = [x for x in LINES if x.engine == "docker" and "--tmpfs" in x.options]
    assert docker_tmpfs and all("exec" in x.options[x.options.index("--tmpfs") + 1].split(",") for x in docker_tmpfs)


@pytest.fixture(scope="module")
def prepared(
    request: pytest.FixtureRequest, seed: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], tuple[Engine, str]]]:
    """Per engine: an image prepared for user 1000 (RUN preboot), whole lifecycle, built once."""
    engines = request.getfixturevalue("_engines")
    built: dict[str, tuple[Engine, str]] = {}
    all_images: list[Images] = []

    def get(name: str) -> tuple[Engine, str]:
        if name not in built:
            engine = engines.get(name)
            images = Images(engine, base_image(engine), seed, tmp_path_factory.mktemp(f"lines-{name}"))
            all_images.append(images)
            tree = Tree(tmp_path_factory.mktemp(f"tree-{name}") / "etc-ignity")
            tree.env("10-app", "FROM_FILE=yes\nIGNITY_CMD_WAIT_FOR_SERVICES=1\n")
            tree.init("10-init", 'echo "init as $(id -u) FROM_FILE=$FROM_FILE"', shebang=WITH_ENV)
            tree.service("svc", "trap 'echo svc stopping; exit 0' TERM\necho \"svc up as $(id -u)\"; sleep 1000 & wait")
            tree.finalize("10-fin", 'echo "finalize as $(id -u)"')
            steps = PREBOOT_STEPS
            built[name] = (engine, images.build(tree.root, steps))
        return built[name]

    yield get
    for images in all_images:
        images.remove_all()


CMD = (
    "sh",
    "-c",
    'echo "pid1 $(cat /proc/1/comm)"; '
    "if touch /etc/probe 2>/dev/null; then echo root writable; else echo root read-only; fi; "
    'echo "cmd as $(id -u)"; exit 4',
)


def _pid1(line: Line) -> str:
    return INITS[line.engine] if "--init" in line.options else "s6-svscan"


@pytest.mark.parametrize("line", RUN_LINES, ids=[x.id for x in RUN_LINES])
def test_docs_line_runs_the_whole_lifecycle(line: Line, prepared: Callable[[str], tuple[Engine, str]]):
    engine, image = prepared(line.engine)
    c = engine.start(image, CMD, line.options)
    try:
        assert c.wait() == 4, f"{line.text}\n{c.output}"
        uid = (line.user or "0").split(":")[0]
        root = "read-only" if "--read-only" in line.options or uid != "0" else "writable"
        for expected in (f"init as {uid} FROM_FILE=yes", f"svc up as {uid}", f"pid1 {_pid1(line)}",
                         f"root {root}", f"cmd as {uid}", f"finalize as {uid}"):  # fmt: skip
            assert expected in c.lines, f"{expected!r} missing after: {line.text}\n{c.output}"
    finally:
        c.cleanup()


@pytest.mark.parametrize("line", RUN_LINES, ids=[x.id for x in RUN_LINES])
def test_docs_line_stops_cleanly(line: Line, prepared: Callable[[str], tuple[Engine, str]]):
    """`ENGINE stop` on the line's container: the services stop, finalize runs, status 0."""
    engine, image = prepared(line.engine)
    c = engine.start(image, (), line.options)
    try:
        c.wait_for("svc up as")
        c.stop(grace=10)
        assert c.wait() == 0, f"{line.text}\n{c.output}"
        assert "svc stopping" in c.lines and any(x.startswith("finalize as") for x in c.lines), c.output
    finally:
        c.cleanup()


@pytest.mark.docker_only
def test_docker_tmpfs_without_exec_is_why_the_docs_say_exec(prepared: Callable[[str], tuple[Engine, str]]):
    """What the docs' Docker line guards against (issue #15): Docker mounts --tmpfs noexec, and
    what Ignity runs from /run/ignity (the copies of init scripts and services) could not start:
    the boot says so in one line with the options to use, and nothing starts (issue #11)."""
    engine, image = prepared("docker")
    c = engine.start(image, CMD, ["--read-only", "--tmpfs", "/run/ignity:rw,uid=1000,gid=1000", "--user", "1000:1000"])
    try:
        status = c.wait()
        assert status == 1 and "cmd as 1000" not in c.lines, f"{status}\n{c.output}"
        assert any("noexec" in x and "docker: --tmpfs /run/ignity:rw,exec" in x for x in c.lines), c.output
        assert "Traceback" not in c.output
    finally:
        c.cleanup()
