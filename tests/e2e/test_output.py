"""Service output modes under Podman, read back with `podman logs` (stdout and stderr apart)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests import docs
from tests.e2e.images import Images
from tests.e2e.podman import RUN_DEFAULTS, Attached, Podman
from tests.tree import Tree

LINES = 20000
PAD = "p" * 120
WIDTH = len("database")
PREFIXED = re.compile(r"^(?P<name>[a-z]+ *) (?P<sep>[|!]) (?P<message>.*)$")


def _end(follow: Attached) -> None:
    """Stop following the logs (Attached.cleanup would remove the container itself)."""
    follow.proc.terminate()
    follow.proc.wait(10)


@pytest.fixture(scope="module")
def image(images: Images, tmp_path_factory: pytest.TempPathFactory) -> str:
    tree = Tree(tmp_path_factory.mktemp("output") / "etc-ignity")
    for name in ("web", "database"):
        tree.service(name, f"i=0; while [ $i -lt {LINES} ]; do echo \"{name} out $i {PAD}\"; "
                     f"echo \"{name} err $i\" >&2; i=$((i+1)); done; echo \"{name} done\"; "
                     "trap 'echo \"" + name + " stopping\"; echo \"" + name + " stopping-err\" >&2; exit 0' TERM; "
                     "while :; do sleep 0.05; done")  # fmt: skip
    return images.build(tree.root)


@pytest.fixture
def detached(podman: Podman) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        podman("rm", "-f", "-t", "0", name, check=False)


def _parse(line: str, mode: str) -> tuple[str, str, str] | None:
    if mode == "json":
        if not line.startswith("{"):
            return None
        obj = json.loads(line)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", obj["time"]), obj
        return obj["service"], obj["stream"], obj["message"]
    m = PREFIXED.match(line)
    if m is None:
        return None
    assert len(m["name"]) == WIDTH, line
    return m["name"].rstrip(), {"|": "stdout", "!": "stderr"}[m["sep"]], m["message"]


@pytest.mark.parametrize("mode", ["prefixed", "json"])
def test_podman_logs_every_line_attributed_whole_and_nothing_lost_at_stop(
    podman: Podman, image: str, detached: list[str], mode: str
):
    name = podman.unique("ignity-e2e-output")
    detached.append(name)
    cmd = ["sh", "-c", "echo cmd says hello; echo cmd err >&2; exec sleep 1000"]
    podman("run", "-d", "--name", name, *RUN_DEFAULTS, "-e", f"IGNITY_SERVICES_OUTPUT={mode}", image, *cmd)
    follow = podman.follow_logs(name)
    try:
        for service in ("web", "database"):
            follow.wait_for(f"{service} done", timeout=120)
    finally:
        _end(follow)
    podman("stop", "-t", "10", name, timeout=60)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "143"  # the CMD's SIGTERM
    logs = podman("logs", name, timeout=120)
    seen: dict[tuple[str, str], list[str]] = {}
    for stream, text in (("stdout", logs.stdout), ("stderr", logs.stderr)):
        for line in text.splitlines():
            got = _parse(line, mode)
            if got is None:
                assert line.startswith(("[ignity/", "cmd ")), line[:200]
                continue
            assert got[1] == stream, line  # each stream stays on its own side
            seen.setdefault(got[:2], []).append(got[2])
    assert "cmd says hello" in logs.stdout.splitlines() and "cmd err" in logs.stderr.splitlines()
    for service in ("web", "database"):
        assert seen[(service, "stdout")] == [f"{service} out {i} {PAD}" for i in range(LINES)] + [
            f"{service} done", f"{service} stopping"]  # fmt: skip
        assert seen[(service, "stderr")] == [f"{service} err {i}" for i in range(LINES)] + [f"{service} stopping-err"]


def test_raw_is_the_default_and_leaves_lines_as_written(podman: Podman, image: str, detached: list[str]):
    name = podman.unique("ignity-e2e-output")
    detached.append(name)
    podman("run", "-d", "--name", name, *RUN_DEFAULTS, image, "sleep", "1000")
    follow = podman.follow_logs(name)
    try:
        follow.wait_for("web done", timeout=120)
        follow.wait_for("database done", timeout=120)
    finally:
        _end(follow)
    podman("stop", "-t", "10", name, timeout=60)
    out = podman("logs", name, timeout=120).stdout.splitlines()
    assert [line for line in out if line.startswith("web out ")] == [f"web out {i} {PAD}" for i in range(LINES)]


def test_docs_service_output_page_matches():
    # docs/output.md's json example line is what the formatter writes (key order, time format).
    text = docs.page("output")
    example = re.search(r'`(\{"time": [^`]+\})`', text)
    assert example is not None
    obj = json.loads(example.group(1))
    assert list(obj) == ["time", "service", "stream", "message"]
