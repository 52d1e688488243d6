"""What the service output modes cost against raw, booted as PID 1 by the test harness.

- Per line: one service writes LINES lines of 100 bytes as fast as `sh` can,
  on stdout; the time from boot until the harness has read the last one,
  minus raw's, divided by LINES. (Under the same load, stderr goes through a
  second, identical chain.)
- Per service: SERVICES services each print one line; boot to the last line
  read, minus raw's, divided by SERVICES; and the memory (PSS, RSS) and
  process count of everything in the container that is not a service's
  `sleep`, minus raw's, divided by SERVICES.

Every figure is the median of BENCH_RUNS runs (default 5) after a warm-up,
with min and max. Markdown tables on stdout. Run: .venv/bin/python bench/output.py
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

from bench.run import namespace_processes
from tests.harness import Container, Image
from tests.tree import Tree

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LINES = int(os.environ.get("BENCH_LINES", "50000"))
SERVICES = int(os.environ.get("BENCH_SERVICES", "20"))
MODES = ("raw", "prefixed", "json")
PAD = "x" * 80


def fresh(tmp: Path, name: str, counter: list[int]) -> Tree:
    counter[0] += 1
    return Tree(tmp / f"{name}-{counter[0]}")


def cpu_seconds(pid1: int) -> dict[str, float]:
    """CPU time (user + system) of the formatters (s6-log, awk) and of the writer, live processes only."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"formatters": 0.0, "writer": 0.0}
    for pid in namespace_processes(pid1):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        if comm in ("s6-log", "awk", "mawk"):
            out["formatters"] += used
        elif comm == "sleep":  # the writer, which exec'd sleep once done (the CMD's is idle)
            out["writer"] += used
    return out


def lines_run(image: Image, tmp: Path, counter: list[int], mode: str) -> dict[str, float]:
    tree = fresh(tmp, "lines", counter)
    tree.service("writer", f"i=0; while [ $i -lt {LINES} ]; do echo \"line $i {PAD}\"; i=$((i+1)); done; "
                 "echo writer-finished; exec sleep 1000")  # fmt: skip
    c = Container(image, tree.root, ["sleep", "1000"], {"IGNITY_SERVICES_OUTPUT": mode})
    took = c.wait_for("writer-finished", timeout=300)
    assert sum("line " in line for line in c.lines) == LINES, "lines lost"
    cpu = cpu_seconds(c.pid1())
    c.kill(signal.SIGTERM)
    c.wait(60)
    c.cleanup()
    return {"wall": took, **cpu}


def services_run(image: Image, tmp: Path, counter: list[int], mode: str) -> dict[str, float]:
    tree = fresh(tmp, "services", counter)
    for i in range(SERVICES):
        tree.service(f"svc{i:02d}", f"echo svc-up {i}; exec sleep 1000")
    c = Container(image, tree.root, ["sleep", "1000"], {"IGNITY_SERVICES_OUTPUT": mode})
    took = c.wait_for_count("svc-up", SERVICES, timeout=120)
    rss = pss = procs = 0
    for pid in namespace_processes(c.pid1()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                continue
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        except OSError:
            continue
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup}
        rss += fields["Rss"]
        pss += fields["Pss"]
        procs += 1
    c.kill(signal.SIGTERM)
    c.wait(60)
    c.cleanup()
    return {"up": took, "rss": rss, "pss": pss, "procs": procs}


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], scale: float, unit: str, digits: int = 0) -> str:
    low, high = min(values) * scale, max(values) * scale
    return f"{med(values) * scale:,.{digits}f} {unit} ({low:,.{digits}f}–{high:,.{digits}f})"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-output-") as d:
        tmp = Path(d)
        (tmp / "image").mkdir()
        image = Image(tmp / "image")
        counter = [0]
        print(f"Service output modes: median of {RUNS} runs after a warm-up (min–max), {os.cpu_count()} cores\n")

        per_line: dict[str, dict[str, list[float]]] = {}
        for mode in MODES:
            lines_run(image, tmp, counter, mode)
            runs = [lines_run(image, tmp, counter, mode) for _ in range(RUNS)]
            per_line[mode] = {k: [r[k] for r in runs] for k in runs[0]}
        print(f"## Per line: one service writes {LINES:,} lines of ~100 bytes to stdout\n")
        print(
            "Wall: boot until the harness has read the last line (the reader, Python, is part of it). "
            "CPU: user + system time of the formatter processes (s6-log, awk), and of the writer (`sh`).\n"
        )
        print("| mode | wall | wall per line | formatters' CPU per line | writer's CPU per line |")
        print("|---|---|---|---|---|")
        for mode in MODES:
            r = per_line[mode]
            wall, fmt_cpu, writer = (med(r[k]) / LINES * 1e6 for k in ("wall", "formatters", "writer"))
            print(f"| {mode} | {spread(r['wall'], 1000, 'ms')} | {wall:.1f} µs | {fmt_cpu:.1f} µs | {writer:.1f} µs |")

        per_service: dict[str, dict[str, list[float]]] = {}
        for mode in MODES:
            services_run(image, tmp, counter, mode)
            runs = [services_run(image, tmp, counter, mode) for _ in range(RUNS)]
            per_service[mode] = {k: [r[k] for r in runs] for k in runs[0]}
        print(f"\n## Per service: {SERVICES} services, boot to every first line read; memory once they are up\n")
        print("| mode | boot to all lines | over raw, per service | PSS | over raw, per service | RSS over raw, "
              "per service | processes per service |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        raw = per_service["raw"]
        for mode in MODES:
            r = per_service[mode]
            up_over = (med(r["up"]) - med(raw["up"])) / SERVICES * 1000
            pss_over = (med(r["pss"]) - med(raw["pss"])) / SERVICES
            rss_over = (med(r["rss"]) - med(raw["rss"])) / SERVICES
            procs_over = (med(r["procs"]) - med(raw["procs"])) / SERVICES
            print(f"| {mode} | {spread(r['up'], 1000, 'ms')} | {up_over:+.1f} ms | {med(r['pss']):,.0f} KiB | "
                  f"{pss_over:+,.0f} KiB | {rss_over:+,.0f} KiB | {procs_over:+.1f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"\n(benchmark took {time.monotonic() - started:.0f} s)")
    sys.exit(code)
