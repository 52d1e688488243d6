"""The perms phase on a big tree: Ignity's fix-perms against `find | xargs chown/chmod`.

A tree of BENCH_PERMS_FILES files (default 100,000) in 100-file directories
on a tmpfs; before each run, half of the files (and half of the directories)
are given the wrong owner and mode. Every contender is timed as a whole
process, doing the same work: leave the tree owned by 1234:1234, files 0640,
directories 0750, links untouched. Then a second run on the fixed tree.
The contenders take turns, round after round, so that a machine whose load
drifts (a shared one) weighs on all of them alike.

Run: scripts/bench (or .venv/bin/python bench/perms.py, as root).
BENCH_PERMS_BASELINE=DIR adds the fix-perms of another source tree (DIR holds
its `ignity` package, e.g. `git archive OLD src | tar -x -C /tmp/old` and
DIR=/tmp/old/src), timed the same way: a before/after on the same machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FILES = int(os.environ.get("BENCH_PERMS_FILES", "100000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
PER_DIR = 100
UID = GID = 1234
FMODE, DMODE = 0o640, 0o750

REPO = Path(__file__).resolve().parent.parent
FIX_PERMS = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
             "from ignity.helpers.fix_perms import main; main()", str(REPO / "src")]  # fmt: skip


def build(root: Path) -> list[Path]:
    dirs = []
    for d in range(FILES // PER_DIR):
        sub = root / f"d{d // 100:03d}" / f"e{d:05d}"
        sub.mkdir(parents=True)
        dirs.append(sub)
        for f in range(PER_DIR):
            (sub / f"f{f:03d}").touch()
    return dirs


def scramble(root: Path) -> None:
    """Every other entry wrong (owner and mode), the others already right."""
    for n, (dirpath, _dirnames, filenames) in enumerate(os.walk(root)):
        os.chown(dirpath, *((UID, GID) if n % 2 else (0, 0)))
        os.chmod(dirpath, DMODE if n % 2 else 0o755)
        for i, name in enumerate(filenames):
            path = os.path.join(dirpath, name)
            right = i % 2 == 0
            os.chown(path, *((UID, GID) if right else (0, 0)))
            os.chmod(path, FMODE if right else 0o644)


def check(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        st = os.stat(dirpath)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (UID, GID, DMODE), dirpath
        for name in filenames:
            st = os.stat(os.path.join(dirpath, name))
            assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (UID, GID, FMODE), name


def ignity(root: Path, src: Path = REPO / "src") -> None:
    subprocess.run([*FIX_PERMS[:-1], str(src)], input=f"{root} {UID}:{GID} {FMODE:04o} {DMODE:04o}\n", text=True,
                   check=True)  # fmt: skip


BASELINE = os.environ.get("BENCH_PERMS_BASELINE", "")


def baseline(root: Path) -> None:
    ignity(root, Path(BASELINE))


def find_xargs(root: Path) -> None:
    """Only what differs, the way a shell script does it: three finds, three xargs."""
    r = str(root)
    script = (
        f"find {r} ! -type l \\( ! -user {UID} -o ! -group {GID} \\) -print0 | xargs -0r chown -h {UID}:{GID}; "
        f"find {r} -type f ! -perm {FMODE:04o} -print0 | xargs -0r chmod {FMODE:04o}; "
        f"find {r} -type d ! -perm {DMODE:04o} -print0 | xargs -0r chmod {DMODE:04o}"
    )
    subprocess.run(["sh", "-c", script], check=True)


def chown_r(root: Path) -> None:
    """Everything, regardless: chown -R, then chmod through find."""
    r = str(root)
    script = (
        f"chown -R -h {UID}:{GID} {r}; find {r} -type f -print0 | xargs -0r chmod {FMODE:04o}; "
        f"find {r} -type d -print0 | xargs -0r chmod {DMODE:04o}"
    )
    subprocess.run(["sh", "-c", script], check=True)


def timed(fn, root: Path, fresh: bool) -> float:  # type: ignore[no-untyped-def]
    if fresh:
        scramble(root)
    start = time.monotonic()
    fn(root)
    took = time.monotonic() - start
    check(root)
    return took


def main() -> int:
    if os.geteuid() != 0:
        print("bench/perms.py needs root (chown)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="ignity-perms-") as tmp:
        mount = Path(tmp)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "bench-perms", str(mount)], check=True)
        try:
            root = mount / "tree"
            build(root)
            print(f"## Perms: {FILES:,} files in {FILES // PER_DIR:,} directories, half of them to change "
                  f"(median of {RUNS}, min–max)\n")  # fmt: skip
            print("| tool | half to change | nothing to change |")
            print("|---|---|---|")
            rows = {}
            contenders: list[tuple[str, Callable[[Path], None]]] = [
                ("Ignity fix-perms", ignity),
                ("find | xargs chown/chmod (only what differs)", find_xargs),
                ("chown -R + find | xargs chmod (everything)", chown_r),
            ]
            if BASELINE:
                contenders.insert(1, (f"Ignity fix-perms of {BASELINE} (baseline)", baseline))
            # Round-robin: every round times each contender once (fresh, then second run),
            # starting with a different one each time, so a load that drifts on a shared
            # machine weighs on all of them alike.
            for _, fn in contenders:
                timed(fn, root, True)  # warm-up
            times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in contenders}
            for run in range(RUNS):
                for name, fn in contenders[run % len(contenders) :] + contenders[: run % len(contenders)]:
                    times[name][0].append(timed(fn, root, True))
                    times[name][1].append(timed(fn, root, False))
            for name, _ in contenders:
                first, second = times[name]
                rows[name] = (statistics.median(first), statistics.median(second))
                cell = name.replace("|", "\\|")
                print(f"| {cell} | {statistics.median(first) * 1000:,.0f} ms ({min(first) * 1000:,.0f}–"
                      f"{max(first) * 1000:,.0f}) | {statistics.median(second) * 1000:,.0f} ms "
                      f"({min(second) * 1000:,.0f}–{max(second) * 1000:,.0f}) |")  # fmt: skip
            ig = rows["Ignity fix-perms"]
            fx = rows["find | xargs chown/chmod (only what differs)"]
            print(f"\nIgnity / find|xargs: {ig[0] / fx[0]:.2f} with half to change, {ig[1] / fx[1]:.2f} with nothing "
                  f"to change; Ignity's second run / first: {ig[1] / ig[0]:.2f}")  # fmt: skip
            if BASELINE:
                bl = rows[f"Ignity fix-perms of {BASELINE} (baseline)"]
                print(f"Baseline / find|xargs: {bl[0] / fx[0]:.2f} with half to change, {bl[1] / fx[1]:.2f} with "
                      f"nothing to change; Ignity / baseline: {ig[0] / bl[0]:.2f} and {ig[1] / bl[1]:.2f}")  # fmt: skip
        finally:
            subprocess.run(["umount", str(mount)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
