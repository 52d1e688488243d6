"""Start-up, shutdown, memory and scale of Ignity, side by side with tini,
dumb-init and bare s6, each booted as PID 1 by the test harness.

Every figure is the median of BENCH_RUNS runs (default 7) after a warm-up,
with min and max; ratios are against baselines of the same run, since these
machines are noisy. Times are wall clock seen from outside the container:
from the start of the harness to the event (an output line, or the exit).
The harness's own cost (mounts, chroot) is measured as its own row ("floor":
PID 1 is /bin/true) and subtracted where a row says "net".

Run: scripts/bench (installs what it needs, then this).
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import Container, Image
from tests.tree import Tree

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SCALES = [int(n) for n in os.environ.get("BENCH_SCALES", "10,100,500").split(",")]
EXECLINE = "/usr/lib/execline/bin"
EXECLINEB = f"{EXECLINE}/execlineb"


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.image = Image(tmp)
        self.count = 0

    def fresh(self, name: str) -> Path:
        self.count += 1
        d = self.tmp / f"{name}-{self.count}"
        d.mkdir()
        return d

    # -- fixtures ------------------------------------------------------------
    def ignity_tree(self, services: int, envs: int = 0) -> Path:
        tree = Tree(self.fresh("etc"))
        for i in range(services):
            tree.service(f"svc{i:03d}", f"echo svc-up {i}; exec sleep 1000")
        if envs:
            tree.env("10-bench", "".join(f"BENCH_VAR_{i}=value number {i}\n" for i in range(envs)))
        return tree.root

    def bare_scan(self, services: int, cmd: str | None) -> Path:
        """A scan directory for s6-svscan alone: the same services, the CMD as a one-shot service."""
        scan = self.fresh("scan")
        for i in range(services):
            d = scan / f"svc{i:03d}"
            d.mkdir()
            (d / "run").write_text(f"#!/bin/sh\necho svc-up {i}; exec sleep 1000\n")
            (d / "run").chmod(0o755)
        if cmd is not None:
            d = scan / "cmd"
            d.mkdir()
            run = f"#!{EXECLINEB} -P\n{EXECLINE}/foreground {{ {cmd} }} s6-svscanctl -t /out/scan\n"
            (d / "run").write_text(run)
            (d / "run").chmod(0o755)
        return scan

    def boot(self, init: str, etc: Path | None = None, cmd: Sequence[str] = (), scan: Path | None = None) -> Container:
        etc = etc or self.ignity_tree(0)
        if scan is not None:
            c = Container(self.image, etc, ["-c", "2000", "/out/scan"], init="/usr/bin/s6-svscan", files={"scan": scan})
        else:
            c = Container(self.image, etc, cmd, init=init)
        return c


def series(run: Callable[[], dict[str, float]]) -> dict[str, list[float]]:
    """Warm up once, then RUNS runs; every metric a run returns, collected."""
    run()
    out: dict[str, list[float]] = {}
    for _ in range(RUNS):
        for key, value in run().items():
            out.setdefault(key, []).append(value)
    return out


def fmt(values: list[float], unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    med = statistics.median(values) * scale
    return f"{med:,.0f} {unit} ({min(values) * scale:,.0f}–{max(values) * scale:,.0f})"


def finish(c: Container, timeout: float = 120) -> float:
    code = c.wait(timeout)
    took = time.monotonic() - c.started
    c.cleanup()
    if code != 0:
        raise SystemExit(f"benchmark container exited {code}:\n{c.output}")
    return took


# -- 1, 2: `/init true` ------------------------------------------------------
def exit_time(b: Bench, init: str, cmd: Sequence[str], services: int = 0, bare: bool = False) -> dict[str, float]:
    if bare:
        c = b.boot(init, scan=b.bare_scan(services, " ".join(cmd)))
    else:
        c = b.boot(init, etc=b.ignity_tree(services), cmd=cmd)
    return {"exit": finish(c)}


# -- 3, 4, 7: boot to up, boot to CMD, SIGTERM to gone ------------------------
def up_and_stop(b: Bench, kind: str, services: int, with_cmd: bool = True) -> dict[str, float]:
    cmd = 'sh -c "echo cmd-started; exec sleep 1000"'  # an execline word
    if kind == "ignity":
        c = b.boot("/init", etc=b.ignity_tree(services), cmd=["sh", "-c", "echo cmd-started; exec sleep 1000"]
                   if with_cmd else [])  # fmt: skip
    elif kind == "s6":
        c = b.boot("", scan=b.bare_scan(services, cmd if with_cmd else None))
    else:  # tini, dumb-init: one process, nothing supervised
        args = ["--"] if kind == "tini" else []
        c = b.boot(f"/usr/bin/{kind}", cmd=[*args, "sh", "-c", "echo cmd-started; exec sleep 1000"])
    result: dict[str, float] = {}
    if services and kind in ("ignity", "s6"):
        c.wait_for_count("svc-up", services, timeout=120)
        result["all up"] = time.monotonic() - c.started
    if with_cmd:
        result["cmd started"] = c.wait_for("cmd-started", timeout=60)
    sent = c.kill(signal.SIGTERM)
    code = c.wait(120)
    result["stop"] = time.monotonic() - sent
    c.cleanup()
    if code not in (0, 128 + signal.SIGTERM):
        raise SystemExit(f"{kind}: exit {code}\n{c.output}")
    return result


# -- 5: idle memory -------------------------------------------------------------
def namespace_processes(pid1: int) -> list[int]:
    ns = os.readlink(f"/proc/{pid1}/ns/pid")
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def memory(b: Bench, kind: str, services: int, with_cmd: bool) -> dict[str, float]:
    """RSS and PSS (KiB) of every process that is not a service's or the CMD's (those run `sleep`).

    With a CMD, bare s6 runs it the way an s6-only image must: as a one-shot
    service whose run script waits for it (`foreground { CMD } s6-svscanctl -t`).
    """
    cmd = ["sh", "-c", "echo cmd-started; exec sleep 1000"]
    if kind == "ignity":
        c = b.boot("/init", etc=b.ignity_tree(services), cmd=cmd if with_cmd else [])
    else:
        c = b.boot("", scan=b.bare_scan(services, 'sh -c "echo cmd-started; exec sleep 1000"' if with_cmd else None))
    c.wait_for_count("svc-up", services, timeout=120)
    if with_cmd:
        c.wait_for("cmd-started")
    rss = pss = count = 0.0
    names: dict[str, int] = {}
    for pid in namespace_processes(c.pid1()):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm in ("sleep", "run"):  # a service, or its run script about to exec sleep
                continue
            fields = dict(
                (line.split(":")[0], int(line.split()[1]))
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
            )
        except OSError:
            continue
        rss += fields["Rss"]
        pss += fields["Pss"]
        count += 1
        names[comm] = names.get(comm, 0) + 1
    c.kill(signal.SIGTERM)
    c.wait(60)
    c.cleanup()
    MEMORY_NAMES[(kind, services, with_cmd)] = names
    return {"rss": rss, "pss": pss, "procs": count}


MEMORY_NAMES: dict[tuple[str, int, bool], dict[str, int]] = {}


# -- 6: with-env vs s6-envdir -------------------------------------------------
def envdir_cost(b: Bench, n: int = 300) -> dict[str, float]:
    loop = (
        "t0=$(date +%s%N); i=0; while [ $i -lt {n} ]; do {prog}; i=$((i+1)); done; "
        "t1=$(date +%s%N); echo {label}=$(( (t1 - t0) / {n} ))"
    )
    script = "; ".join(
        loop.format(n=n, prog=prog, label=label)
        for label, prog in (
            ("bare", "/bin/true"),
            ("envdir", "s6-envdir -fnL /run/ignity/envs /bin/true"),
            ("withenv", "with-env /bin/true"),
        )
    )
    c = b.boot("/init", etc=b.ignity_tree(0, envs=50), cmd=["sh", "-c", script])
    finish(c)
    values = dict(line.split("=") for line in c.lines if line.split("=")[0] in ("bare", "envdir", "withenv"))
    return {k: int(v) / 1e9 for k, v in values.items()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ignity-bench-") as tmp:
        b = Bench(Path(tmp))
        print(f"Ignity benchmarks: median of {RUNS} runs after a warm-up (min–max), {os.cpu_count()} cores\n")

        print("## 1–2. `/init true`: start of PID 1 to exit\n")
        print("| init | no services | 10 services | net of the harness floor (no services) |")
        print("|---|---|---|---|")
        floor = series(lambda: exit_time(b, "/bin/true", []))["exit"]
        py = series(lambda: exit_time(b, "/usr/bin/python3", ["-c", "pass"]))["exit"]
        rows = {
            "Ignity": (lambda s: exit_time(b, "/init", ["true"], s)),
            "bare s6": (lambda s: exit_time(b, "", ["true"], s, bare=True)),
            "tini": (lambda s: exit_time(b, "/usr/bin/tini", ["--", "true"])),
            "dumb-init": (lambda s: exit_time(b, "/usr/bin/dumb-init", ["true"])),
        }
        results1: dict[str, float] = {}
        for name, fn in rows.items():
            zero = series(lambda fn=fn: fn(0))["exit"]
            ten = series(lambda fn=fn: fn(10))["exit"] if name in ("Ignity", "bare s6") else None
            net = statistics.median(zero) - statistics.median(floor)
            results1[name] = net
            print(
                f"| {name} | {fmt(zero)} | {fmt(ten) if ten else 'n/a (supervises nothing)'} | {net * 1000:,.0f} ms |"
            )
        print(f"| harness floor (PID 1 = /bin/true) | {fmt(floor)} | | 0 |")
        py_net = statistics.median(py) - statistics.median(floor)
        print(f"| `python3 -c pass` as PID 1 | {fmt(py)} | | {py_net * 1000:,.0f} ms |")
        target1 = 2 * py_net + 0.050
        verdict = "met" if results1["Ignity"] <= target1 else "MISSED"
        print(f"\nTarget (1): Ignity net ≤ 2 × python start + 50 ms = {target1 * 1000:,.0f} ms: "
              f"{verdict} ({results1['Ignity'] * 1000:,.0f} ms)\n")  # fmt: skip

        print("## 3–4. 10 services: boot to all up, boot to CMD started, SIGTERM to every process gone\n")
        print("| init | all 10 up | CMD started | SIGTERM → gone |")
        print("|---|---|---|---|")
        stop_ignity = 0.0
        for name, kind in (("Ignity", "ignity"), ("bare s6", "s6"), ("tini", "tini"), ("dumb-init", "dumb-init")):
            r = series(lambda kind=kind: up_and_stop(b, kind, 10 if kind in ("ignity", "s6") else 0))
            up = fmt(r["all up"]) if "all up" in r else "n/a"
            print(f"| {name} | {up} | {fmt(r['cmd started'])} | {fmt(r['stop'])} |")
            if kind == "ignity":
                stop_ignity = statistics.median(r["stop"])
        target4 = 2 * py_net + 0.050
        print(f"\nTarget (4): Ignity stop ≤ 2 × python start + 50 ms = {target4 * 1000:,.0f} ms: "
              f"{'met' if stop_ignity <= target4 else 'MISSED'} ({stop_ignity * 1000:,.0f} ms)\n")  # fmt: skip

        print("## 5. Idle memory of the init machinery (every process but the services' and the CMD's)\n")
        print("| init | services | CMD | RSS | PSS | processes | PSS / bare s6's |")
        print("|---|---|---|---|---|---|---|")
        for n in (10, 100):
            for with_cmd in (False, True):
                mem = {
                    kind: series(lambda kind=kind, n=n, w=with_cmd: memory(b, kind, n, w)) for kind in ("ignity", "s6")
                }
                base = statistics.median(mem["s6"]["pss"])
                for kind, label in (("ignity", "Ignity"), ("s6", "bare s6")):
                    m = mem[kind]
                    names = ", ".join(f"{k} ×{v}" for k, v in sorted(MEMORY_NAMES[(kind, n, with_cmd)].items()))
                    print(f"| {label} | {n} | {'yes' if with_cmd else 'no'} | "
                          f"{statistics.median(m['rss']) / 1024:,.1f} MiB | "
                          f"{statistics.median(m['pss']) / 1024:,.2f} MiB | {names} | "
                          f"{statistics.median(m['pss']) / base:.3f} |")  # fmt: skip
        print()

        print("## 6. `with-env true` vs `s6-envdir DIR true`, 50 variables (per call, inside the container)\n")
        r = series(lambda: envdir_cost(b))
        print("| program | per call | over s6-envdir |")
        print("|---|---|---|")
        env_med = statistics.median(r["envdir"])
        for key, label in (("bare", "`true`"), ("envdir", "`s6-envdir -fnL DIR true`"), ("withenv", "`with-env true`")):
            over = (statistics.median(r[key]) - env_med) * 1000
            print(f"| {label} | {statistics.median(r[key]) * 1000:.2f} ms | {over:+.2f} ms |")
        print()

        print("## 7. Scale: boot to all up, SIGTERM to gone\n")
        print("| services | Ignity all up | bare s6 all up | Ignity stop | bare s6 stop |")
        print("|---|---|---|---|---|")
        for n in SCALES:
            ig = series(lambda n=n: up_and_stop(b, "ignity", n, with_cmd=False))
            s6 = series(lambda n=n: up_and_stop(b, "s6", n, with_cmd=False))
            print(f"| {n} | {fmt(ig['all up'])} | {fmt(s6['all up'])} | {fmt(ig['stop'])} | {fmt(s6['stop'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
