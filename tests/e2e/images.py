"""The suite's images, built the way the README tells image authors to.

- The base: the Debian rootfs of the PID 1 harness (scripts/rootfs: s6,
  execline, python3, no pip), put into Podman with `podman import` once and
  cached under a tag that names the rootfs it came from. There is no registry
  to pull a base image from on our machines.
- Ignity: the seed archive `make seed` builds from the working tree, so every
  session tests the code as it is now, through the artifact users get.
- Per test: examples/Dockerfile.seed, the documented Dockerfile, with the
  test's /etc/ignity tree as its rootfs/, plus the test's own build steps.
  Podman's layer cache makes everything up to the COPY of the tree free
  after the first build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.e2e.podman import REPO, Podman

BASE_REPOSITORY = "localhost/ignity-e2e-base"
EXAMPLE_IMAGE = "localhost/ignity-example:latest"  # the name examples/kubernetes.yaml runs


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


def base_image(podman: Podman) -> str:
    """The rootfs as a Podman image, imported once per rootfs (a few seconds); older imports removed."""
    done = subprocess.run([str(REPO / "scripts" / "rootfs")], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise AssertionError(f"scripts/rootfs failed:\n{done.stdout}{done.stderr}")
    root = Path(done.stdout.strip().splitlines()[-1])
    stamp = int((root / ".ignity-complete").stat().st_mtime)
    tag = f"{BASE_REPOSITORY}:{root.name}-{stamp}"
    if podman.exists("image", tag):
        return tag
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPOSITORY).stdout.split()
    for old in listed:
        podman("rmi", "-f", old, check=False)
    tar = subprocess.Popen(
        ["tar", "-C", str(root), "--exclude=./.ignity-complete", "-cf", "-", "."], stdout=subprocess.PIPE
    )
    imported = subprocess.run(
        ["podman", "import", "-q", "-", tag], stdin=tar.stdout, env=podman.env, capture_output=True, text=True
    )
    assert tar.stdout is not None
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise AssertionError(f"importing {root} as {tag} failed:\n{imported.stdout}{imported.stderr}")
    return tag


class Images:
    """Builds and, at the end of the session, removes the suite's images."""

    def __init__(self, podman: Podman, base: str, seed: Path, workdir: Path) -> None:
        self.podman = podman
        self.base = base
        self.seed = seed
        self.workdir = workdir
        self.built: list[str] = []

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
        text = (REPO / "examples" / "Dockerfile.seed").read_text()
        (ctx / "Containerfile").write_text(text + "".join(f"{line}\n" for line in steps))
        tag = self.podman.unique("localhost/ignity-e2e-test")
        self.built.append(tag)
        return self.podman.build(tag, ctx / "Containerfile", ctx, {"BASE": self.base})

    def wheel(self, wheel: Path, etc_ignity: Path) -> str:
        """examples/Dockerfile.wheel. The base has no pip and the build no network, so the
        host venv's pip (pure Python) is lent to the build as a volume: the Dockerfile's
        own `python3 -m pip install` then runs as it would with python3-pip."""
        import pip

        rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.workdir))
        shutil.copytree(etc_ignity, rootfs / "etc" / "ignity", symlinks=True)
        ctx = self.context(rootfs)
        shutil.copy2(wheel, ctx / "dist" / wheel.name)
        pip_dir = Path(pip.__file__).parent
        tag = self.podman.unique("localhost/ignity-e2e-wheel")
        self.built.append(tag)
        return self.podman.build(
            tag,
            REPO / "examples" / "Dockerfile.wheel",
            ctx,
            {"BASE": self.base},
            volumes=[f"{pip_dir}:/usr/lib/python3/dist-packages/pip:ro"],
        )

    def example(self) -> str:
        """examples/Containerfile, tagged as examples/kubernetes.yaml and compose.yaml expect it."""
        ctx = self.context()
        self.podman.build(EXAMPLE_IMAGE, REPO / "examples" / "Containerfile", ctx, {"BASE": self.base})
        self.built.append(EXAMPLE_IMAGE)
        return EXAMPLE_IMAGE

    def remove_all(self) -> None:
        """The session's images, and the untagged layers their builds left (the storage is
        the suite's own: nothing else builds there). The base image stays, for the next session."""
        if self.built:
            self.podman("rmi", "-f", *self.built, check=False)
        self.podman("image", "prune", "-f", check=False)
