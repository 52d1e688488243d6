"""Where the time of one boot or one stop goes: the kernel's process events, in order.

Traces one `/init true` (mode `true`) or one SIGTERM to a container with 10
services and a CMD (mode `stop`) in the PID 1 harness, with tracefs events
(sched_process_exec/fork/exit, signal_generate: no ptrace, nothing slowed
down), and prints each event in ms from the exec of /init or from the kill.
How bench/RESULTS.md's breakdown of issue #11 was found. Needs root and tracefs.

Run: .venv/bin/python bench/timeline.py true|stop [PACKAGE_DIR]
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import Container, Image
from tests.tree import Tree

TRACING = "/sys/kernel/tracing"
EVENTS = ("sched/sched_process_exec", "sched/sched_process_fork", "sched/sched_process_exit", "signal/signal_generate")
LINE = re.compile(r"\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): (.*)")


def _write(name: str, value: str) -> None:
    with open(f"{TRACING}/{name}", "w") as f:
        f.write(value)


def _trace(on: bool) -> None:
    _write("tracing_on", "0")
    if on:
        _write("trace", "")
    for event in EVENTS:
        _write(f"events/{event}/enable", "1" if on else "0")
    if on:
        _write("tracing_on", "1")


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "true"
    source = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    if not os.path.exists(f"{TRACING}/trace"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACING], check=True)
    with tempfile.TemporaryDirectory(prefix="ignity-timeline-") as tmp_name:
        tmp = Path(tmp_name)
        image = Image(tmp, source=source)
        tree = Tree(tmp / "etc")
        for i in range(10 if mode == "stop" else 0):
            tree.service(f"svc{i:02d}", f"echo svc-up {i}; exec sleep 1000")
        for _ in range(3):  # warm the caches
            c = Container(image, tree.root, ["true"])
            c.wait(30)
            c.cleanup()
        _trace(True)
        try:
            if mode == "true":
                c = Container(image, tree.root, ["true"])
                c.wait(30)
            else:
                c = Container(image, tree.root, ["sh", "-c", "echo cmd-started; exec sleep 1000"])
                c.wait_for_count("svc-up", 10, timeout=60)
                c.wait_for("cmd-started", timeout=60)
                _write("trace_marker", "SIGTERM")
                c.kill(signal.SIGTERM)
                c.wait(30)
        finally:
            _trace(False)
        c.cleanup()
        with open(f"{TRACING}/trace") as f:
            lines = f.read().splitlines()
    start: float | None = None
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, stamp, event, rest = m.groups()
        when = float(stamp)
        if start is None:
            if ("filename=/init " in rest) if mode == "true" else ("SIGTERM" in rest and "tracing_mark" in event):
                start = when
            else:
                continue
        if event == "signal_generate" and "sig=17" in rest:
            continue  # SIGCHLD: one per exit
        print(f"{(when - start) * 1000:8.2f} {comm[-16:]:>16}-{pid:<7} {event.removeprefix('sched_')} {rest[:100]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
