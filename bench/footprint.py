"""What Ignity adds to an image, against s6-overlay v3 and tini, and its start-up on
python3-minimal against the full python3 (issue #16). Prints a markdown section.

Sizes, per Debian release (11, 12, 13), over a `debootstrap --variant=minbase`
rootfs (what Debian's -slim images are; scripts/rootfs, variant slim):

- "packages": the sum of dpkg's Installed-Size (what apt reports as
  additional disk space) of every package the documented install adds to
  the slim rootfs: `python3-minimal s6 execline` (examples/Dockerfile.minimal),
  or `python3 s6 execline` (examples/Dockerfile.seed), dependencies included;
- "Ignity itself": the bytes `ADD` of the seed archive plus `python3 -m ignity
  install` write (the package, its bytecode, /init and the helpers), measured
  as the upper layer of an overlay in which that install ran (tests/harness);
- "on disk": `du` of the whole rootfs minus `du` of the slim one (downloaded .deb files left out).

s6-overlay v3 cannot be downloaded here and is not built: its figure is the
one its own README states ("Performance": the x86_64 binaries about 5.7 MB
and the scripts about 120 kB uncompressed; tarballs about 650 kB), read from
the just-containers/s6-overlay repository at the commit printed. tini is
Debian's package (Installed-Size), and its static binary's size.

Start-up: `/init true` booted as PID 1 by the harness (unshare + chroot, no
engine) on the minimal and the full Debian 12 rootfs, median of BENCH_RUNS
(default 7) after a warm-up; and `python3 -I -c pass` beside it.

Run: .venv/bin/python bench/footprint.py  (as root; builds the rootfs it needs once)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SUITES = {"bullseye": 11, "bookworm": 12, "trixie": 13}
S6_OVERLAY_REPO = Path("/work/.mirror/just-containers+s6-overlay/repo")


def rootfs(suite: str, variant: str) -> Path:
    env = {**os.environ, "IGNITY_TEST_SUITE": suite, "IGNITY_TEST_VARIANT": variant}
    done = subprocess.run([str(REPO / "scripts/rootfs")], env=env, capture_output=True, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


def installed(root: Path) -> dict[str, int]:
    """Package -> Installed-Size (KiB), from the rootfs's dpkg status."""
    found: dict[str, int] = {}
    for stanza in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        if "install ok installed" in fields.get("Status", ""):
            found[fields["Package"]] = int(fields.get("Installed-Size", "0"))
    return found


def du_kib(path: Path) -> int:
    out = subprocess.run(["du", "-sk", "--exclude=*.deb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def mb(kib: float) -> str:
    return f"{kib * 1024 / 1e6:.1f} MB"


def added(suite: str, variant: str, leave_out: tuple[str, ...] = ()) -> tuple[int, list[str], int]:
    """(Installed-Size KiB of the packages added to slim, their names, du difference KiB)."""
    slim = rootfs(suite, "slim")
    root = rootfs(suite, variant)
    base = installed(slim)
    extra = {p: size for p, size in installed(root).items() if p not in base and p not in leave_out}
    left_out = sum(installed(root).get(p, 0) for p in leave_out)
    return sum(extra.values()), sorted(extra), du_kib(root) - du_kib(slim) - left_out


def ignity_layer(suite: str, variant: str, seed: Path) -> int:
    """KiB that the documented install writes over the rootfs: the seed archive extracted at /
    (what ADD does), then `python3 -m ignity install`, in an overlay whose upper layer is measured."""
    root = rootfs(suite, variant)
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        upper, work, merged = (Path(tmp) / d for d in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            d.mkdir()
        script = (
            f"mount -t overlay overlay -o lowerdir={root},upperdir={upper},workdir={work} {merged}"
            f" && tar -C {merged} -xzf {seed} && chroot {merged} python3 -m ignity install >/dev/null"
        )
        subprocess.run(["unshare", "--mount", "sh", "-c", script], check=True)
        return du_kib(upper)


def startup(variant: str) -> tuple[list[float], list[float]]:
    """(`/init true` as PID 1, `python3 -I -c pass` as PID 1), seconds, on Debian 12 `variant`."""
    os.environ["IGNITY_TEST_SUITE"], os.environ["IGNITY_TEST_VARIANT"] = "bookworm", variant
    from tests.harness import Container, Image
    from tests.tree import Tree

    def once(image: Image, tree: Tree, init: str, cmd: list[str]) -> float:
        c = Container(image, tree.root, cmd, init=init)
        code = c.wait(60)
        took = time.monotonic() - c.started
        c.cleanup()
        if code != 0:
            raise SystemExit(f"{init} {cmd} exited {code}:\n{c.output}")
        return took

    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        image = Image(Path(tmp))
        tree = Tree(Path(tmp) / "etc-ignity")
        runs: tuple[list[float], list[float]] = ([], [])
        for i in range(RUNS + 1):
            boot = once(image, tree, "/init", ["true"])
            bare = once(image, tree, "/usr/bin/python3", ["-I", "-c", "pass"])
            if i:  # the first is the warm-up
                runs[0].append(boot)
                runs[1].append(bare)
        return runs


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms ({min(values) * 1000:.0f}–{max(values) * 1000:.0f})"


def make_seed() -> Path:
    """`make seed` from the working tree: the archive the README's Dockerfiles ADD."""
    subprocess.run(["make", "-s", "seed"], cwd=REPO, check=True, capture_output=True)
    found = sorted((REPO / "dist").glob("ignity-*-seed.tar.gz"), key=lambda p: p.stat().st_mtime)
    assert found, "make seed wrote no dist/ignity-*-seed.tar.gz"
    return found[-1]


def s6_overlay_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(S6_OVERLAY_REPO), "log", "-1", "--format=%h"], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else "(repository not fetched)"


def main() -> int:
    if os.geteuid() != 0:
        print("bench/footprint.py: run as root (debootstrap, unshare, chroot)", file=sys.stderr)
        return 1
    seed = make_seed()
    out = ["## Footprint: what Ignity adds to a Debian slim image (bench/footprint.py)", ""]
    out += [
        "| Debian | with | packages added (Installed-Size) | Ignity itself | total | on disk (du) |",
        "|---|---|---|---|---|---|",
    ]
    lists = []
    for suite, n in SUITES.items():
        for variant, label in (("minimal", "python3-minimal s6 execline"), ("full", "python3 s6 execline")):
            size, names, disk = added(suite, variant, leave_out=("tini", "dumb-init") if variant == "full" else ())
            own = ignity_layer(suite, variant, seed)
            out.append(f"| {n} ({suite}) | `{label}` | {mb(size)} | {mb(own)} | {mb(size + own)} | {mb(disk + own)} |")
            if variant == "minimal":
                lists.append(f"- Debian {n}: {' '.join(names)}")
    full = installed(rootfs("bookworm", "full"))
    tini_bin = (rootfs("bookworm", "full") / "usr/bin/tini-static").stat().st_size
    out += [
        "| any | s6-overlay v3 (documented, not measured) | 5.7 MB binaries + 0.1 MB scripts | | ~5.8 MB | |",
        f"| 12 | tini (Debian package) | {mb(full['tini'])} | | {mb(full['tini'])} "
        f"| static binary {tini_bin / 1e6:.1f} MB |",
        "",
        "The packages python3-minimal s6 execline add, dependencies included:",
        "",
        *lists,
        "",
        f's6-overlay v3: from its README ("Performance", just-containers/s6-overlay at {s6_overlay_commit()}):',
        '"Uncompressed on a tmpfs, the overlay scripts use about 120 kB, and the binaries for x86_64 use about',
        '5.7 MB"; the tarballs are about 650 kB. Its tarballs cannot be downloaded here and we do not build it,',
        "so that figure is theirs, not ours. It brings its own static s6, s6-rc, s6-linux-init and execline, and",
        "needs nothing from the base.",
        "",
    ]
    minimal, minimal_py = startup("minimal")
    full_boot, full_py = startup("full")
    out += [
        f"### Start-up on Debian 12: python3-minimal against the full python3 (median of {RUNS}, min–max)",
        "",
        "| rootfs | `/init true` as PID 1 | `python3 -I -c pass` as PID 1 |",
        "|---|---|---|",
        f"| python3-minimal s6 execline | {fmt(minimal)} | {fmt(minimal_py)} |",
        f"| python3 s6 execline | {fmt(full_boot)} | {fmt(full_py)} |",
        "",
        "Both run the same interpreter binary and Ignity imports the same modules on both (the full Python's",
        "extra modules are never imported: tests/e2e/test_minimal.py), so a difference is the noise of the machine,",
        "not fewer imports.",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
