"""What the ring `ignity logs` reads costs, and that boot and stop are unchanged without it.

Booted as PID 1 by the test harness (tests/harness.py):

- CPU per line: one prefixed service writes LINES lines of ~100 bytes on
  stdout; user + system time of its loggers (s6-log, awk), with the ring
  (IGNITY_SERVICES_LOG_BYTES default) and without (0), divided by LINES.
- Memory per service: SERVICES prefixed services, each having filled its ring
  (FILL lines of ~100 bytes, stdout and stderr); PSS and RSS of every process
  that is not a service's `sleep`, plus the bytes the rings hold on the
  /run/ignity tmpfs (memory too), with against without, per service.
- Boot and stop with raw services only (nothing of logs or reload used):
  this tree against BASE (default /work/main/src/ignity, the tree before the
  ring and reload), boot until every service printed, SIGTERM to gone.

Every figure is the median of BENCH_RUNS runs (default 5) after a warm-up,
with min and max. Markdown tables on stdout. Run: .venv/bin/python bench/ring.py
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

from bench.output import cpu_seconds
from bench.run import namespace_processes
from tests.harness import Container, Image
from tests.tree import Tree

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LINES = int(os.environ.get("BENCH_LINES", "300000"))
SERVICES = int(os.environ.get("BENCH_SERVICES", "20"))
FILL = int(os.environ.get("BENCH_FILL", "2000"))
BASE = Path(os.environ.get("BENCH_BASE", "/work/main/src/ignity"))
PAD = "x" * 80
RING = {"with ring": "65536", "without (0)": "0"}


class Trees:
    def __init__(self, tmp: Path) -> None:
        self.tmp, self.count = tmp, 0

    def fresh(self) -> Tree:
        self.count += 1
        return Tree(self.tmp / f"etc-{self.count}")


def lines_run(image: Image, trees: Trees, ring: str) -> dict[str, float]:
    tree = trees.fresh()
    tree.service("writer", f"i=0; while [ $i -lt {LINES} ]; do echo \"line $i {PAD}\"; i=$((i+1)); done; "
                 "echo writer-finished; exec sleep 1000")  # fmt: skip
    env = {"IGNITY_SERVICES_OUTPUT": "prefixed", "IGNITY_SERVICES_LOG_BYTES": ring}
    c = Container(image, tree.root, ["sleep", "1000"], env)
    c.wait_for("writer-finished", timeout=300)
    cpu = cpu_seconds(c.pid1())
    c.kill(signal.SIGTERM)
    c.wait(60)
    c.cleanup()
    return {"formatters": cpu["formatters"]}


def s6log_cpu(ring: bool, tmp: Path, lines: Path) -> float:
    """User + system seconds of one s6-log reading `lines` (a file) with the `1` action only,
    or with the ring's logdir too: the same command line the generated log/run uses. The
    logdir is on a tmpfs (/dev/shm), as /run/ignity is: on a disk, each rotation's fsync costs."""
    import subprocess

    work = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp))
    (work / "ring").mkdir()
    argv = ["s6-log", "-l", "1048576", "1"] + (["n1", "s32768", "T", "./ring/stdout"] if ring else [])
    with open(lines, "rb") as stdin:
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, cwd=work, env={"TZ": "UTC0"})
        _, _, usage = os.wait4(p.pid, 0)
    p.returncode = 0
    import shutil

    shutil.rmtree(work)
    return usage.ru_utime + usage.ru_stime


def memory_run(image: Image, trees: Trees, ring: str) -> dict[str, float]:
    tree = trees.fresh()
    for i in range(SERVICES):
        tree.service(f"svc{i:02d}", f"i=0; while [ $i -lt {FILL} ]; do echo \"out $i {PAD}\"; "
                     f"echo \"err $i {PAD}\" >&2; i=$((i+1)); done; echo svc-filled; exec sleep 1000")  # fmt: skip
    env = {"IGNITY_SERVICES_OUTPUT": "prefixed", "IGNITY_SERVICES_LOG_BYTES": ring}
    out = trees.tmp / f"out-{trees.count}"
    out.mkdir()
    os.mkfifo(out / "go")
    c = Container(image, tree.root, ["sh", "-c", "read x < /out/go; du -sk /run/ignity/services > /out/du"], env,
                  out=out)  # fmt: skip
    c.wait_for_count("svc-filled", SERVICES, timeout=300)
    rss = pss = 0
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
    with open(c.out / "go", "w") as f:
        f.write("go\n")
    c.wait(60)
    tmpfs = int((c.out / "du").read_text().split()[0])
    c.cleanup()
    return {"pss": pss, "rss": rss, "tmpfs": tmpfs}


def boot_stop_run(image: Image, trees: Trees) -> dict[str, float]:
    tree = trees.fresh()
    for i in range(SERVICES):
        tree.service(f"svc{i:02d}", f"echo svc-up {i}; exec sleep 1000")
    c = Container(image, tree.root, ["sleep", "1000"])
    up = c.wait_for_count("svc-up", SERVICES, timeout=120)
    sent = c.kill(signal.SIGTERM)
    c.wait(60)
    stop = time.monotonic() - sent
    c.cleanup()
    return {"up": up, "stop": stop}


def series(run: object, *args: object) -> dict[str, list[float]]:
    run(*args)  # type: ignore[operator]  # warm-up
    runs = [run(*args) for _ in range(RUNS)]  # type: ignore[operator]
    return {k: [r[k] for r in runs] for k in runs[0]}


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], scale: float, unit: str, digits: int = 0) -> str:
    low, high = min(values) * scale, max(values) * scale
    return f"{med(values) * scale:,.{digits}f} {unit} ({low:,.{digits}f}–{high:,.{digits}f})"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-ring-") as d:
        tmp = Path(d)
        (tmp / "image").mkdir()
        image = Image(tmp / "image")
        trees = Trees(tmp)
        print(f"The ring of `ignity logs`: median of {RUNS} runs after a warm-up (min–max), {os.cpu_count()} cores\n")

        print(f"## CPU per line: one prefixed service writes {LINES:,} lines of ~100 bytes\n")
        print("| IGNITY_SERVICES_LOG_BYTES | loggers' CPU (s6-log, awk) | per line |")
        print("|---|---|---|")
        cpu = {name: series(lines_run, image, trees, value) for name, value in RING.items()}
        for name in RING:
            r = cpu[name]["formatters"]
            print(f"| {name} | {spread(r, 1000, 'ms')} | {med(r) / LINES * 1e6:.2f} µs |")
        over = (med(cpu["with ring"]["formatters"]) - med(cpu["without (0)"]["formatters"])) / LINES * 1e6
        print(f"\nThe ring's CPU per line, in the container: {over:+.2f} µs (10 ms clock ticks: coarse)\n")
        big = tmp / "lines"
        count = LINES * 20
        with open(big, "w") as f:
            f.writelines(f"line {i} {PAD}\n" for i in range(count))
        alone = {flag: [s6log_cpu(flag, tmp, big) for _ in range(RUNS)] for flag in (False, True)}
        print(f"One s6-log, {count:,} lines of ~100 bytes from a file, output to /dev/null (rusage):\n")
        print("| s6-log | CPU | per line |")
        print("|---|---|---|")
        for flag, label in ((False, "`1` only (ring off)"), (True, "`1` and the ring's logdir")):
            print(f"| {label} | {spread(alone[flag], 1000, 'ms')} | {med(alone[flag]) / count * 1e6:.2f} µs |")
        ring_cost = (med(alone[True]) - med(alone[False])) / count * 1e6
        print(f"\nThe ring's CPU per line: {ring_cost:+.2f} µs\n")

        print(f"## Memory: {SERVICES} prefixed services, each ring filled ({FILL:,} lines a stream)\n")
        print("| IGNITY_SERVICES_LOG_BYTES | PSS | RSS | /run/ignity/services on tmpfs |")
        print("|---|---|---|---|")
        mem = {name: series(memory_run, image, trees, value) for name, value in RING.items()}
        for name in RING:
            r = mem[name]
            print(f"| {name} | {spread(r['pss'], 1, 'KiB')} | {spread(r['rss'], 1, 'KiB')} | "
                  f"{spread(r['tmpfs'], 1, 'KiB')} |")  # fmt: skip
        w, wo = mem["with ring"], mem["without (0)"]
        pss = (med(w["pss"]) - med(wo["pss"])) / SERVICES
        disk = (med(w["tmpfs"]) - med(wo["tmpfs"])) / SERVICES
        print(f"\nPer service, the ring: PSS {pss:+,.0f} KiB, tmpfs {disk:+,.0f} KiB\n")

        print(f"## Boot and stop, {SERVICES} raw services (no ring, no reload): this tree against {BASE}\n")
        print("| tree | boot to every service's line | SIGTERM to gone |")
        print("|---|---|---|")
        trees_images = {"this tree": image}
        if BASE.is_dir():
            (tmp / "base").mkdir()
            trees_images["before"] = Image(tmp / "base", source=BASE)
        for name, img in trees_images.items():
            r = series(boot_stop_run, img, trees)
            print(f"| {name} | {spread(r['up'], 1000, 'ms')} | {spread(r['stop'], 1000, 'ms')} |")
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"\n(benchmark took {time.monotonic() - started:.0f} s)")
    sys.exit(code)
