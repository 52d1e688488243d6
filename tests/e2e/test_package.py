"""`make package`'s artifacts: what they hold, and images built from each the documented way."""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.images import Images, make, version
from tests.e2e.podman import REPO, Attached
from tests.tree import Tree

pytestmark = pytest.mark.engines("podman", "docker")

SEED_PREFIX = "usr/lib/python3/dist-packages/"


def _sources() -> set[str]:
    """The package's modules as paths from site-packages: ignity/..."""
    src = REPO / "src"
    return {str(p.relative_to(src)) for p in (src / "ignity").rglob("*.py") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel() -> Path:
    """`make wheel` (python -m build: the sdist, then the wheel from it)."""
    return make("wheel")


def test_seed_archive_holds_the_package_owned_by_root_and_nothing_else(images: Images):
    with tarfile.open(images.seed) as tar:
        members = tar.getmembers()
    names = {m.name for m in members}
    # No entry for usr/, usr/lib/, ...: extracting at / must not touch their modes.
    assert all(name.startswith(SEED_PREFIX + "ignity") for name in names), sorted(names)
    assert {name[len(SEED_PREFIX) :] for name in names if name.endswith(".py")} == _sources()
    assert not [m.name for m in members if "__pycache__" in m.name or not (m.isfile() or m.isdir())]
    for m in members:
        assert (m.uid, m.gid) == (0, 0), m.name
        assert stat.S_IMODE(m.mode) == (0o755 if m.isdir() else 0o644), m.name


def test_wheel_and_sdist_hold_the_same_modules_as_the_seed(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        in_wheel = {name for name in z.namelist() if name.endswith(".py")}
        entry_points = z.read(f"ignity-{version()}.dist-info/entry_points.txt").decode()
    assert in_wheel == _sources()
    assert "ignity = ignity.cli:main" in entry_points
    sdist = REPO / "dist" / f"ignity-{version()}.tar.gz"
    prefix = f"ignity-{version()}/src/"
    with tarfile.open(sdist) as tar:
        in_sdist = {n[len(prefix) :] for n in tar.getnames() if n.startswith(prefix + "ignity/") and n.endswith(".py")}
    assert in_sdist == _sources()


def _lifecycle(tree: Tree) -> None:
    tree.init("10-init", 'echo "init: ignity is $(command -v ignity)"')
    tree.service("svc", "echo svc up; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize ran")


CMD = ("sh", "-c", "s6-svwait -u -t 5000 /run/ignity/services-state/svc && echo cmd ran; exit 5")


def test_image_from_the_seed_archive_runs_the_lifecycle(images: Images, run: Callable[..., Attached], tree: Tree):
    _lifecycle(tree)
    c = run(images.build(tree.root), *CMD)
    assert c.wait() == 5, c.output
    for expected in ("init: ignity is /usr/bin/ignity", "svc up", "cmd ran", "finalize ran"):
        assert expected in c.lines, c.output
    # The image's own python3 finds the package where the archive put it.
    where = run(images.build(tree.root), "python3", "-c", "import ignity; print(ignity.__file__)")
    assert where.wait() == 0
    assert f"/{SEED_PREFIX}ignity/__init__.py" in where.lines, where.output


def test_image_from_the_wheel_runs_the_lifecycle(images: Images, run: Callable[..., Attached], tree: Tree, wheel: Path):
    _lifecycle(tree)
    c = run(images.wheel(wheel, tree.root), *CMD)
    assert c.wait() == 5, c.output
    # pip's console script, in /usr/local/bin, comes first on PATH.
    for expected in ("init: ignity is /usr/local/bin/ignity", "svc up", "cmd ran", "finalize ran"):
        assert expected in c.lines, c.output


def test_install_from_a_directory_python_does_not_search(images: Images, run: Callable[..., Attached], tree: Tree):
    """What docs/getting-started.md says for Alpine, whose python3 does not search /usr/lib/python3/dist-packages:
    with PYTHONPATH at install time, /init and the helpers carry the package's path themselves."""
    _lifecycle(tree)
    move = (
        "RUN mkdir /opt/elsewhere && mv /usr/lib/python3/dist-packages/ignity /opt/elsewhere/"
        " && PYTHONPATH=/opt/elsewhere python3 -m ignity install"
        " && ! python3 -c 'import ignity' 2>/dev/null"
    )
    c = run(images.build(tree.root, [move]), *CMD)
    assert c.wait() == 5, c.output
    for expected in ("init: ignity is /usr/bin/ignity", "svc up", "cmd ran", "finalize ran"):
        assert expected in c.lines, c.output
