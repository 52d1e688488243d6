"""What dependencies, wrappers and health checks cost, booted as PID 1 by the test harness.

1. Boot to every service up, 10 and 100 services without dependencies: this
   tree against the baseline (BENCH_BASELINE, default `main`, taken with
   `git archive`), both booted the same way, alternately.
2. A 10-deep chain of services that notify readiness at once, against 10
   independent ones: the overhead per level of waiting for the previous one.
3. Memory per health-checked service (the sh loop and the `sleep` it waits
   in, RSS and PSS from /proc/PID/smaps_rollup), and CPU per check (the
   loop's own and its reaped children's time, over many checks of a check
   that does nothing).

Every time is the median of BENCH_RUNS runs (default 5) after a warm-up,
with min and max. Printed as markdown tables.

Run: .venv/bin/python bench/orchestration.py (as root, like scripts/bench).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import fmt, namespace_processes
from tests import harness
from tests.harness import Container, Image
from tests.tree import Tree

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
BASELINE = os.environ.get("BENCH_BASELINE", "main")
HEALTHY = 10  # health-checked services for the memory figure
CHECKS = 200  # checks timed for the CPU figure


def baseline_image(tmp: Path, root: Path) -> Image:
    """An image with Ignity as of BASELINE, installed the way the harness installs this tree."""
    src = tmp / "baseline-src"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(harness.REPO), "archive", BASELINE, "src/ignity"],
                             check=True, capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    layer = tmp / "baseline" / "layer"
    layer.mkdir(parents=True)
    saved = harness.REPO
    harness.REPO = src  # build_layer copies REPO/src/ignity
    try:
        harness.build_layer(root, layer)
    finally:
        harness.REPO = saved
    return Image(tmp / "baseline", root, [layer])


class Trees:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.count = 0

    def new(self) -> Tree:
        self.count += 1
        return Tree(self.tmp / f"etc-{self.count}")

    def flat(self, n: int, notify: bool = False) -> Path:
        tree = self.new()
        for i in range(n):
            if notify:
                tree.service(f"s{i:03d}", f"echo svc-up {i}; echo >&3; exec sleep 1000", notification_fd="3\n")
            else:
                tree.service(f"s{i:03d}", f"echo svc-up {i}; exec sleep 1000")
        return tree.root

    def chain(self, n: int) -> Path:
        tree = self.new()
        for i in range(n):
            d = tree.service(f"s{i:03d}", f"echo svc-up {i}; echo >&3; exec sleep 1000", notification_fd="3\n")
            if i:
                (d / "dependencies.d").mkdir()
                (d / "dependencies.d" / f"s{i - 1:03d}").write_text("")
        return tree.root

    def healthy(self, n: int, interval_ms: int, report: bool = False) -> Path:
        tree = self.new()
        check = "#!/bin/sh\n" + ("echo check > /proc/1/fd/1\n" if report else "") + "exit 0\n"
        for i in range(n):
            d = tree.service(f"s{i:03d}", f"echo svc-up {i}; exec sleep 1000", health_interval=f"{interval_ms}\n")
            (d / "health").write_text(check)
            (d / "health").chmod(0o755)
        return tree.root


def boot_to_up(image: Image, etc: Path, n: int) -> float:
    c = Container(image, etc, [])
    try:
        c.wait_for_count("svc-up", n, timeout=120)
        return time.monotonic() - c.started
    finally:
        c.kill(signal.SIGTERM)
        c.wait(60)
        c.cleanup()


def median_of(run: Callable[[], float]) -> list[float]:
    run()
    return [run() for _ in range(RUNS)]


def smaps(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        fields[line.split(":")[0]] = int(line.split()[1])
    return fields["Rss"], fields["Pss"]


def comm(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    try:
        return [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def health_loops(pid1: int) -> list[int]:
    """The loops themselves, not their short-lived forks (a fork keeps the name until it execs)."""
    loops = []
    for p in namespace_processes(pid1):
        try:
            parent = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if comm(p) == "health-loop" and comm(parent) != "health-loop":
            loops.append(p)
    return loops


def health_memory(image: Image, trees: Trees) -> tuple[float, float]:
    """KiB per checked service: its loop, plus the `sleep` the loop waits in between checks."""
    c = Container(image, trees.healthy(HEALTHY, 60000), [])
    try:
        c.wait_for_count("svc-up", HEALTHY, timeout=120)
        # A bounded look (a benchmark, not a test): until each loop waits in `sleep`, its idle state.
        loops: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            loops = health_loops(c.pid1())
            if len(loops) == HEALTHY and all(comm(k) == "sleep" for p in loops for k in children(p)):
                break
            time.sleep(0.05)
        rss = pss = 0
        for pid in loops:
            for p in [pid, *children(pid)]:
                r, s = smaps(p)  # the loop waits in `sleep`: both stay while the service is idle
                rss, pss = rss + r, pss + s
        return rss / len(loops), pss / len(loops)
    finally:
        c.kill(signal.SIGTERM)
        c.wait(60)
        c.cleanup()


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15])  # utime stime cutime cstime


def health_cpu(image: Image, trees: Trees) -> float:
    """CPU ms per check: one service checked every 20 ms with `exit 0`."""
    c = Container(image, trees.healthy(1, 20, report=True), [])
    try:
        c.wait_for_count("check", 10, timeout=60)
        (loop,) = health_loops(c.pid1())
        first = cpu_ticks(loop)
        c.wait_for_count("check", 10 + CHECKS, timeout=120)
        ticks = cpu_ticks(loop) - first
        return ticks * 1000 / os.sysconf("SC_CLK_TCK") / CHECKS
    finally:
        c.kill(signal.SIGTERM)
        c.wait(60)
        c.cleanup()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-orch-", dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        image = Image(tmp)
        base = baseline_image(tmp, image.root)
        trees = Trees(tmp)

        print(f"## 1. Boot to every service up, no dependencies ({RUNS} runs, median (min–max))\n")
        print(f"| services | this tree | {BASELINE} | difference |")
        print("|---|---|---|---|")
        for n in (10, 100):
            ours, theirs = [], []
            for _ in range(RUNS + 1):  # alternately, so that load hits both alike; the first is a warm-up
                ours.append(boot_to_up(image, trees.flat(n), n))
                theirs.append(boot_to_up(base, trees.flat(n), n))
            ours, theirs = ours[1:], theirs[1:]
            diff = (statistics.median(ours) - statistics.median(theirs)) * 1000
            print(f"| {n} | {fmt(ours)} | {fmt(theirs)} | {diff:+.0f} ms |")

        print("\n## 2. A 10-deep chain of notifying services against 10 independent ones\n")
        flat = median_of(lambda: boot_to_up(image, trees.flat(10, notify=True), 10))
        chain = median_of(lambda: boot_to_up(image, trees.chain(10), 10))
        per_level = (statistics.median(chain) - statistics.median(flat)) * 1000 / 9
        print("| 10 independent | 10-deep chain | per level |")
        print("|---|---|---|")
        print(f"| {fmt(flat)} | {fmt(chain)} | {per_level:.1f} ms |")

        print("\n## 3. Health checks\n")
        rss, pss = health_memory(image, trees)
        cpu = statistics.median([health_cpu(image, trees) for _ in range(3)])
        print("| memory per checked service (RSS) | (PSS) | CPU per check |")
        print("|---|---|---|")
        print(f"| {rss:,.0f} KiB | {pss:,.0f} KiB | {cpu:.2f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
