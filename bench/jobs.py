"""Scheduled jobs (issue 23): what a job costs. Prints a markdown table.

- memory of an idle job: the PSS (/proc/PID/smaps_rollup) of every process of
  the job's tree between runs (the loop, a dash, and its `sleep`), read from
  inside a container booted by the PID 1 harness with a `@every 1h` job;
- CPU per run: (a) the loop's own work per run (date, mv, the watcher, the
  run `true` itself), from the loop's utime+stime+cutime+cstime over a
  container's life with an `@every 1s` job, divided by its runs; (b) the one
  `python3 -IS .ignity/next` a cron line costs per run (the next-time
  computation), as the children CPU of BENCH_RUNS calls, for `*/5 * * * *`
  and `0 0 29 2 *` (the farthest next time, years ahead);
- boot unchanged when no job exists: `/init true` with one service, this tree
  against another (BENCH_BASE, e.g. the main worktree's src/ignity), median
  of BENCH_RUNS boots each, interleaved.

Run: .venv/bin/python bench/jobs.py  (as root; BENCH_RUNS default 15)
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
S = "/run/ignity/services-state"

PSS = r"""
pid=$(s6-svstat -o pid $S/idle)
tree() { echo "$1"; for c in $(cat /proc/$1/task/$1/children); do tree "$c"; done; }
for p in $(tree "$pid"); do
  name=$(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-40 | tr ' ' _)
  printf '%s %s ' "$name" "$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup)"
  awk '/^VmRSS:/ {print $2}' /proc/$p/status
done > /out/pss
"""


def _tree(tmp: Path):  # type: ignore[no-untyped-def]
    from tests.tree import Tree

    return Tree(Path(tempfile.mkdtemp(dir=tmp)) / "etc")


def idle_pss(image, tmp: Path) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    from tests.harness import Container

    tree = _tree(tmp)
    tree.service("idle", "true", schedule="@every 1h\n")
    script = f"S={S}\nfor i in $(seq 500); do [ -s $S/idle/.ignity/job ] && break; sleep 0.01; done\nsleep 0.5\n" + PSS
    c = Container(image, tree.root, ["sh", "-c", script])
    try:
        assert c.wait(60) == 0, c.output
        rows = [line.split() for line in (c.out / "pss").read_text().splitlines()]
        return [(r[0], int(r[1]), int(r[2])) for r in rows]
    finally:
        c.cleanup()


def loop_cpu(image, tmp: Path, seconds: int = 10) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """(runs, CPU ms per run) of an `@every 1s` job's loop over `seconds`."""
    from tests.harness import Container

    tree = _tree(tmp)
    tree.service("tick", "true", schedule="@every 1s\n")
    script = (
        f"sleep {seconds}\npid=$(s6-svstat -o pid {S}/tick)\n"
        "awk '{print $14+$15+$16+$17}' /proc/$pid/stat > /out/ticks\n"
        f"cut -d' ' -f1 {S}/tick/.ignity/job > /out/last\ngetconf CLK_TCK > /out/hz\n"
    )
    c = Container(image, tree.root, ["sh", "-c", script])
    try:
        assert c.wait(seconds + 60) == 0, c.output
        ticks = int((c.out / "ticks").read_text())
        hz = int((c.out / "hz").read_text())
        runs = seconds - 1  # the first run comes 1 s after the boot
        return runs, ticks * 1000 / hz / runs
    finally:
        c.cleanup()


def helper_cpu(schedule: str) -> float:
    """CPU ms (user+sys) of one `python3 -IS .ignity/next` for `schedule`, averaged over RUNS calls."""
    from ignity import runtime

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "schedule").write_text(schedule + "\n")
        helper = Path(d) / "next"
        helper.write_text(runtime.python_script("ignity.cron", "/usr/bin/python3", str(REPO / "src")))
        helper.chmod(0o755)
        now = str(int(time.time()))
        subprocess.run([str(helper), "schedule", now, now], cwd=d, check=True, capture_output=True)  # warm
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(RUNS):
            subprocess.run([str(helper), "schedule", now, now], cwd=d, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used * 1000 / RUNS


def boots(image, tmp: Path) -> float:  # type: ignore[no-untyped-def]
    from tests.harness import Container

    tree = _tree(tmp)
    tree.service("svc", "exec sleep 1000")
    start = time.monotonic()
    c = Container(image, tree.root, ["true"])
    try:
        assert c.wait(60) == 0, c.output
    finally:
        c.cleanup()
    return (time.monotonic() - start) * 1000


def main() -> int:
    from tests.harness import Image

    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    image = Image(tmp)
    print("## Scheduled jobs\n")
    rows = idle_pss(image, tmp)
    print("| idle job process | PSS KiB | RSS KiB |\n|---|---|---|")
    for name, pss, rss in rows:
        print(f"| `{name.replace('_', ' ').strip()}` | {pss} | {rss} |")
    print(f"| **total** | **{sum(r[1] for r in rows)}** | |\n")
    runs, per_run = loop_cpu(image, tmp)
    print("| CPU per run | ms |\n|---|---|")
    print(f"| the loop's own work (@every 1s, run `true`; {runs} runs) | {per_run:.1f} |")
    for schedule in ("*/5 * * * *", "0 0 29 2 *"):
        print(f"| + one `python3 -IS .ignity/next` for `{schedule}` (cron lines only) | {helper_cpu(schedule):.1f} |")
    base = os.environ.get("BENCH_BASE")
    if base:
        other = Image(tmp, source=Path(base))
        mine, theirs = [], []
        boots(image, tmp), boots(other, tmp)  # warm
        for _ in range(RUNS):
            mine.append(boots(image, tmp))
            theirs.append(boots(other, tmp))
        print("\n| boot, `/init true`, one service, no job | median ms |\n|---|---|")
        print(f"| this tree | {statistics.median(mine):.0f} |\n| {base} | {statistics.median(theirs):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
