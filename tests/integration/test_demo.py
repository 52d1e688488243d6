"""The demo (scripts/demo): examples/demo booted as PID 1 prints what docs/getting-started.md shows."""

from __future__ import annotations

import re
from pathlib import Path

from tests import docs
from tests.harness import Container, Image

DEMO = docs.REPO / "examples" / "demo"


def _shape(line: str) -> str:
    """A line without what changes between two runs: pids, times, column widths."""
    return " ".join(re.sub(r"\d+", "N", line).split())


def test_the_demo_prints_what_getting_started_shows(image: Image, tmp_path: Path):
    [shown] = [b for b in docs.blocks(docs.page("getting-started"), "") if b.startswith("init/10-prepare:")]
    c = Container(image, DEMO / "etc-ignity", ["/out/cmd.sh"], files={"cmd.sh": DEMO / "cmd.sh"})
    try:
        assert c.wait(timeout=60) == 3, c.output
        printed = {_shape(line) for line in c.lines}
    finally:
        c.cleanup()
    missing = [line for line in shown.splitlines() if _shape(line) not in printed]
    assert not missing, f"the page shows lines the demo did not print: {missing}\n{c.output}"
