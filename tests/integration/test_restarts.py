"""Restart policies (README "Restart policies"), with /init as a real PID 1.

A service notes each start as "NAME start NANOSECONDS" in /out/events; the
tests wait for the lines Ignity tells on the container's stderr (events),
then read the timestamps: the intervals between starts are measured, never
slept for.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.tree import Tree, wait_up

S = "/run/ignity/services-state"
R = "/run/ignity/services"


def note(event: str) -> str:
    return f'echo "$(basename "$PWD") {event} $(date +%s%N)" >> /out/events'


def starts(out: Path, name: str = "svc") -> list[float]:
    """Seconds of each start of `name`."""
    lines = (out / "events").read_text().splitlines()
    return [int(w[2]) / 1e9 for w in (line.split() for line in lines) if w[0] == name and w[1] == "start"]


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def status_json(c, name: str = "svc") -> dict:
    return {o["name"]: o for o in json.loads((c.out / "status.json").read_text())}[name]


# -- backoff and give-up -----------------------------------------------------------


def test_backoff_follows_the_formula_and_the_limit_gives_up_at_exactly_n(boot, tree: Tree):
    # Delays 1000, 2000, 4000 (capped), 4000 ms; given up at the 5th death in 60 s.
    tree.service("svc", f"{note('start')}; exit 3", restart_delay="1000 4000\n", restart_limit="5 60000\n")
    c = boot()
    c.wait_for("[ignity] svc exited 3 (5th time in", timeout=60)
    line = next(x for x in c.lines if "5th time" in x)
    assert "given up after 5 exits in" in line, c.output
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
    times = starts(c.out)
    assert len(times) == 5, c.output
    for measured, expected in zip(gaps(times), (1.0, 2.0, 4.0, 4.0)):
        assert expected - 0.1 < measured < expected + 1.0, (gaps(times), c.output)
    told = [x for x in c.lines if x.startswith("[ignity] svc exited 3")]
    assert told[0] == "[ignity] svc exited 3: restarting in 1000 ms", told
    assert told[1].startswith("[ignity] svc exited 3 (2nd time in ") and told[1].endswith("restarting in 2000 ms")
    assert told[2].endswith("restarting in 4000 ms"), told
    # Rate-limited: after the 3rd, one line per 10 s; the 4th death came 4 s after the 3rd's line.
    assert len(told) == 4 and "given up" in told[3], told


def inside(c, path: str) -> str:
    """A file of the running container, through its PID 1's root."""
    return Path(f"/proc/{c.pid1()}/root{path}").read_text()


def test_given_up_service_is_failed_in_its_state_files(boot, tree: Tree):
    tree.service("svc", "exit 2", restart_limit="2 60000\n")
    c = boot()
    c.wait_for("[ignity] svc exited 2 (2nd time in")
    assert inside(c, f"{R}/svc/.ignity/failed").startswith("given up after 2 exits in "), c.output
    assert inside(c, f"{R}/svc/.ignity/restart") == ""
    restarts, consecutive = inside(c, f"{R}/svc/.ignity/deaths").split()[:2]
    assert (restarts, consecutive) == ("1", "2")
    c.kill(signal.SIGTERM)
    assert c.wait() == 0, c.output
