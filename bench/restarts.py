"""What restart policies cost, booted as PID 1 by the test harness.

1. Boot to every service up, and stop (SIGTERM to exit), 10 and 100 services
   with no policy file and the default settings: this tree against the
   baseline (BENCH_BASELINE, default `main`, taken with `git archive`),
   alternately.
2. A service that dies at once, over BENCH_SECONDS (default 60) after its
   first death: the restarts, and the CPU of the whole container (every
   process of its PID namespace: utime+stime, plus what it reaped,
   cutime+cstime, from /proc/PID/stat), for s6 alone (s6-svscan as PID 1,
   the same service), Ignity with the defaults, and Ignity with
   `restart-delay 1000 30000`.

Run: .venv/bin/python bench/restarts.py (as root, like scripts/bench).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.orchestration import Trees, baseline_image, boot_to_up
from bench.run import fmt, namespace_processes
from tests.harness import Container, Image
from tests.tree import Tree

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
BASELINE = os.environ.get("BENCH_BASELINE", "main")
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
CRASH = "echo crash-start > /proc/1/fd/1; exit 1"


def stop_time(image: Image, etc: Path, n: int) -> float:
    c = Container(image, etc, [])
    try:
        c.wait_for_count("svc-up", n, timeout=120)
        t0 = c.kill(signal.SIGTERM)
        c.wait(60)
        return time.monotonic() - t0
    finally:
        c.cleanup()


def cpu_ticks(pid1: int) -> int:
    total = 0
    for pid in namespace_processes(pid1):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total


def crash_loop(c: Container) -> tuple[int, float]:
    """(restarts, CPU ms) over SECONDS after the first start."""
    try:
        c.wait_for("crash-start", timeout=60)
        first = cpu_ticks(c.pid1())
        time.sleep(SECONDS)  # the measured interval itself, not a synchronisation
        ticks = cpu_ticks(c.pid1()) - first
        restarts = sum("crash-start" in line for line in c.lines) - 1
        return restarts, ticks * 1000 / os.sysconf("SC_CLK_TCK")
    finally:
        c.kill(signal.SIGTERM)
        c.wait(60)
        c.cleanup()


def s6_alone(image: Image, tmp: Path) -> Container:
    scan = tmp / f"scan-{time.monotonic_ns()}"
    (scan / "crash").mkdir(parents=True)
    (scan / "crash" / "run").write_text(f"#!/bin/sh\n{CRASH}\n")
    (scan / "crash" / "run").chmod(0o755)
    etc = Tree(tmp / f"etc-s6-{time.monotonic_ns()}").root
    return Container(image, etc, ["/out/scan"], init="/usr/bin/s6-svscan", files={"scan": scan})


def ignity(image: Image, tmp: Path, **files: str) -> Container:
    tree = Tree(tmp / f"etc-crash-{time.monotonic_ns()}")
    tree.service("crash", CRASH, **files)
    return Container(image, tree.root, [])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-restarts-", dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        image = Image(tmp)
        base = baseline_image(tmp, image.root)
        trees = Trees(tmp)

        print(f"## 1. No policy file, default settings: boot and stop ({RUNS} runs, median (min–max))\n")
        print(f"| services | boot, this tree | boot, {BASELINE} | stop, this tree | stop, {BASELINE} |")
        print("|---|---|---|---|---|")
        for n in (10, 100):
            runs: dict[str, list[float]] = {"boot": [], "boot-base": [], "stop": [], "stop-base": []}
            for _ in range(RUNS + 1):  # alternately; the first is a warm-up
                runs["boot"].append(boot_to_up(image, trees.flat(n), n))
                runs["boot-base"].append(boot_to_up(base, trees.flat(n), n))
                runs["stop"].append(stop_time(image, trees.flat(n), n))
                runs["stop-base"].append(stop_time(base, trees.flat(n), n))
            r = {k: v[1:] for k, v in runs.items()}
            print(f"| {n} | {fmt(r['boot'])} | {fmt(r['boot-base'])} | {fmt(r['stop'])} | {fmt(r['stop-base'])} |")

        print(f"\n## 2. A service dying at once, over {SECONDS:.0f} s\n")
        print("| supervision | restarts | CPU of the container | CPU per restart |")
        print("|---|---|---|---|")
        for label, start in (
            ("s6 alone", lambda: s6_alone(image, tmp)),
            ("Ignity, defaults", lambda: ignity(image, tmp)),
            ("Ignity, restart-delay 1000 30000", lambda: ignity(image, tmp, restart_delay="1000 30000\n")),
        ):
            restarts, cpu = crash_loop(start())
            per = f"{cpu / restarts:.1f} ms" if restarts else "-"
            print(f"| {label} | {restarts} | {cpu:,.0f} ms | {per} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
