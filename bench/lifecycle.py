"""Issue #11's performance check: `/init true` and SIGTERM→gone, before and after, in one run.

A baseline is another checkout's package (BENCH_BASELINE=/path/to/src/ignity,
e.g. a `git worktree` of the commit before the lifecycle rewrite; several as
LABEL=PATH,LABEL=PATH); all images are booted in turn, round after round, so
that a drifting load hits them alike. Printed as a markdown table (median,
min-max); net = minus the harness floor (PID 1 = /bin/true) of the same run.

Run: BENCH_BASELINE=... .venv/bin/python bench/lifecycle.py
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import fmt
from tests.harness import Container, Image
from tests.tree import Tree

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def _tree(tmp: Path, name: str, services: int) -> Path:
    tree = Tree(tmp / name)
    for i in range(services):
        tree.service(f"svc{i:02d}", f"echo svc-up {i}; exec sleep 1000")
    return tree.root


def init_true(image: Image, etc: Path, init: str = "/init") -> float:
    c = Container(image, etc, ["true"] if init == "/init" else [], init=init)
    code = c.wait(60)
    took = time.monotonic() - c.started
    c.cleanup()
    if code != 0:
        raise SystemExit(f"exit {code}:\n{c.output}")
    return took


def sigterm_to_gone(image: Image, etc: Path) -> float:
    c = Container(image, etc, ["sh", "-c", "echo cmd-started; exec sleep 1000"])
    c.wait_for_count("svc-up", 10, timeout=60)
    c.wait_for("cmd-started", timeout=60)
    sent = c.kill(signal.SIGTERM)
    code = c.wait(60)
    took = time.monotonic() - sent
    c.cleanup()
    if code != 128 + signal.SIGTERM:
        raise SystemExit(f"exit {code}:\n{c.output}")
    return took


def main() -> int:
    baseline = os.environ.get("BENCH_BASELINE")
    with tempfile.TemporaryDirectory(prefix="ignity-bench-") as tmp_name:
        tmp = Path(tmp_name)
        images: dict[str, Image] = {}
        for item in (baseline or "").split(","):
            if item:
                label, _, path = item.rpartition("=")
                images[label or "before (BENCH_BASELINE)"] = Image(tmp, source=Path(path))
        images["after (this tree)"] = Image(tmp)
        empty, ten = _tree(tmp, "empty", 0), _tree(tmp, "ten", 10)
        floor: list[float] = []
        boot: dict[str, list[float]] = {k: [] for k in images}
        stop: dict[str, list[float]] = {k: [] for k in images}
        any_image = next(iter(images.values()))
        for round_ in range(RUNS + 1):  # round 0 warms up
            f = init_true(any_image, empty, init="/bin/true")
            for name, image in images.items():
                b, s = init_true(image, empty), sigterm_to_gone(image, ten)
                if round_:
                    boot[name].append(b)
                    stop[name].append(s)
            if round_:
                floor.append(f)
        base = statistics.median(floor)
        print(f"Lifecycle: median of {RUNS} rounds (min–max), {os.cpu_count()} cores; "
              f"harness floor {base * 1000:,.0f} ms\n")  # fmt: skip
        print("| code | `/init true` | net of the floor | 10 services: SIGTERM → gone |")
        print("|---|---|---|---|")
        for name in images:
            net = (statistics.median(boot[name]) - base) * 1000
            print(f"| {name} | {fmt(boot[name])} | {net:,.0f} ms | {fmt(stop[name])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
