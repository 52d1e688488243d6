"""The suite's images, built the way docs/getting-started.md tells image authors to.

- The bases: Debian rootfs built by scripts/rootfs (Debian 11, 12 and 13;
  `full` = s6, execline, python3, no pip, as the PID 1 harness's; `minimal` =
  python3-minimal, s6 and execline only), put into each engine with
  `IMPORT` once and cached under a tag that names the rootfs it came from.
  There is no registry to pull a base image from on our machines.
- Ignity: the seed archive `make seed` builds from the working tree, so every
  session tests the code as it is now, through the artifact users get.
- Per test: examples/Dockerfile.seed (examples/Dockerfile.minimal on a
  minimal base), the documented Dockerfile, with the test's /etc/ignity tree
  as its rootfs/, plus the test's own build steps. The engines' layer caches
  make everything up to the COPY of the tree free after the first build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.podman import REPO, Engine

BASE_REPOSITORY = "localhost/ignity-e2e-base"
EXAMPLE_IMAGE = "localhost/ignity-example:latest"  # the name examples/kubernetes.yaml runs


@dataclass(frozen=True)
class Base:
    """A Debian base the suite builds images on: a suite and a package set (scripts/rootfs)."""

    suite: str  # bullseye, bookworm, trixie
    variant: str = "full"  # full: python3; minimal: python3-minimal only; pip: python3 and python3-pip

    @property
    def debian(self) -> int:
        return {"bullseye": 11, "bookworm": 12, "trixie": 13}[self.suite]

    @property
    def id(self) -> str:
        """What test ids show: debian12, debian11-minimal, ..."""
        return f"debian{self.debian}" + ("" if self.variant == "full" else f"-{self.variant}")

    @property
    def dockerfile(self) -> Path:
        """The documented Dockerfile for this kind of base."""
        name = "Dockerfile.minimal" if self.variant == "minimal" else "Dockerfile.seed"
        return REPO / "examples" / name


DEFAULT_BASE = Base("bookworm")
BASES = {b.id: b for b in (Base(s, v) for v in ("full", "minimal", "pip") for s in ("bullseye", "bookworm", "trixie"))}


def rootfs(base: Base = DEFAULT_BASE) -> Path:
    """scripts/rootfs for `base` (built once, about a minute); its path."""
    env = {**os.environ, "IGNITY_TEST_SUITE": base.suite, "IGNITY_TEST_VARIANT": base.variant}
    done = subprocess.run([str(REPO / "scripts" / "rootfs")], capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise AssertionError(f"scripts/rootfs ({base.id}) failed:\n{done.stdout}{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def version() -> str:
    match = re.search(r'^__version__ = "(.+)"', (REPO / "src/ignity/__init__.py").read_text(), re.M)
    assert match, "no __version__ in src/ignity/__init__.py"
    return match.group(1)


def make(target: str) -> Path:
    """`make TARGET` in the repository; returns the file it builds in dist/."""
    done = subprocess.run(["make", "-s", target], cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"make {target} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    names = {"seed": f"ignity-{version()}-seed.tar.gz", "wheel": f"ignity-{version()}-py3-none-any.whl"}
    path = REPO / "dist" / names[target]
    assert path.is_file(), f"make {target} did not write {path}"
    return path


def packages(base: Base) -> dict[str, str]:
    """Package -> version, as the base's rootfs has them installed (its dpkg status file)."""
    found: dict[str, str] = {}
    for stanza in (rootfs(base) / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        if "install ok installed" in fields.get("Status", ""):
            found[fields["Package"]] = fields.get("Version", "")
    return found


def upstream(version: str) -> str:
    """A Debian version's upstream part: 2.11.3.2-1 -> 2.11.3.2, 3.11.2-6+deb12u8 -> 3.11.2."""
    return version.split(":")[-1].rsplit("-", 1)[0]


def s6_version(base: Base) -> tuple[int, ...]:
    return tuple(int(x) for x in upstream(packages(base)["s6"]).split("."))


def python_version(base: Base) -> str:
    """The base's Python (from its python3.X-minimal package): 3.9.2, 3.11.2, 3.13.5."""
    found = [upstream(v) for name, v in packages(base).items() if re.fullmatch(r"python3\.\d+-minimal", name)]
    assert len(found) == 1, f"{base.id}: python3.X-minimal packages: {found}"
    return found[0]


def base_image(engine: Engine, base: Base = DEFAULT_BASE) -> str:
    """The rootfs as an image of `engine`, imported once per rootfs (a few seconds); older
    imports of the same rootfs removed."""
    root = rootfs(base)
    stamp = int((root / ".ignity-complete").stat().st_mtime)
    tag = f"{BASE_REPOSITORY}:{root.name}-{stamp}"
    if engine.exists("image", tag):
        return tag
    for old in engine.image_tags(BASE_REPOSITORY):
        if old.startswith(f"{BASE_REPOSITORY}:{root.name}-"):
            engine("rmi", "-f", old, check=False)
    engine.import_rootfs(root, tag)
    return tag


class Images:
    """Builds and, at the end of the session, removes the suite's images."""

    def __init__(self, engine: Engine, base: str, seed: Path, workdir: Path, kind: Base = DEFAULT_BASE) -> None:
        self.engine = engine
        self.podman = engine  # the name of before Docker, kept for the tests that use it
        self.base = base
        self.kind = kind
        self.seed = seed
        self.workdir = workdir
        self.built: list[str] = []
        self._pip_base: str | None = None

    def context(self, rootfs: Path | None = None, files: Mapping[str, Path] | None = None) -> Path:
        """A build context as the documented Dockerfiles expect: dist/ with the
        seed archive, rootfs/ with what the image author COPYs, and any `files`."""
        ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=self.workdir))
        (ctx / "dist").mkdir()
        shutil.copy2(self.seed, ctx / "dist" / self.seed.name)
        if rootfs is not None:
            shutil.copytree(rootfs, ctx / "rootfs", symlinks=True)
        else:
            (ctx / "rootfs").mkdir()
        for name, source in (files or {}).items():
            shutil.copy2(source, ctx / name)
        return ctx

    def build(self, etc_ignity: Path | None = None, steps: Sequence[str] = ()) -> str:
        """examples/Dockerfile.seed with `etc_ignity` as the image's /etc/ignity, then `steps`
        (Dockerfile lines: ENV, RUN preboot, USER, ...). Returns the image's tag."""
        rootfs = None
        if etc_ignity is not None:
            rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.workdir))
            shutil.copytree(etc_ignity, rootfs / "etc" / "ignity", symlinks=True)
        ctx = self.context(rootfs)
        text = self.kind.dockerfile.read_text()
        (ctx / "Containerfile").write_text(text + "".join(f"{line}\n" for line in steps))
        tag = self.engine.unique("localhost/ignity-e2e-test")
        self.built.append(tag)
        return self.engine.build(tag, ctx / "Containerfile", ctx, {"BASE": self.base})

    def pip_base(self) -> str:
        """The base with pip: the bases have none and builds have no network, so the host
        venv's pip (pure Python) is COPYed into /usr/lib/python3/dist-packages, where
        python3-pip would put it (once per session). examples/Dockerfile.wheel's own
        `python3 -m pip install` then runs as it would with python3-pip."""
        if self._pip_base is None:
            import pip

            ctx = Path(tempfile.mkdtemp(prefix="pip-", dir=self.workdir))
            shutil.copytree(Path(pip.__file__).parent, ctx / "pip", ignore=shutil.ignore_patterns("__pycache__"))
            (ctx / "Containerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY pip /usr/lib/python3/dist-packages/pip\n")
            tag = self.engine.unique("localhost/ignity-e2e-pip")
            self.built.append(tag)
            self._pip_base = self.engine.build(tag, ctx / "Containerfile", ctx, {"BASE": self.base})
        return self._pip_base

    def wheel(self, wheel: Path, etc_ignity: Path) -> str:
        """examples/Dockerfile.wheel: on a `pip` base with Debian's own python3-pip, else on the
        base with the venv's pip (pip_base)."""
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.workdir))
        shutil.copytree(etc_ignity, rootfs / "etc" / "ignity", symlinks=True)
        ctx = self.context(rootfs)
        shutil.copy2(wheel, ctx / "dist" / wheel.name)
        tag = self.engine.unique("localhost/ignity-e2e-wheel")
        self.built.append(tag)
        base = self.base if self.kind.variant == "pip" else self.pip_base()
        return self.engine.build(tag, REPO / "examples" / "Dockerfile.wheel", ctx, {"BASE": base})

    def example(self) -> str:
        """examples/Containerfile, tagged as examples/kubernetes.yaml and compose.yaml expect it."""
        ctx = self.context()
        self.engine.build(EXAMPLE_IMAGE, REPO / "examples" / "Containerfile", ctx, {"BASE": self.base})
        self.built.append(EXAMPLE_IMAGE)
        return EXAMPLE_IMAGE

    def remove_all(self) -> None:
        """The session's images, and the untagged layers their builds left (the storage is
        the suite's own: nothing else builds there). The base images stay, for the next session."""
        if self.built:
            self.engine("rmi", "-f", *self.built, check=False)
        self.engine("image", "prune", "-f", check=False)
