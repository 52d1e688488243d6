"""`make package` on a fresh checkout with nothing but python3 and make (issue #20 point 6).

The packages need only Python's `build`: never scripts/setup, which installs
Podman, Docker and debootstrap and builds a rootfs. Each test builds in a copy
of this tree without .venv, whose scripts/setup only leaves a mark and fails,
with a PATH of /usr/bin:/bin; pip fetches build from the index (PyPI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
MARK = "SETUP-RAN"
TARGETS = ("package", "wheel", "sdist", "seed")


def _version() -> str:
    text = (REPO / "src/ignity/__init__.py").read_text()
    return text.split('__version__ = "', 1)[1].split('"', 1)[0]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """This tree as a fresh checkout has it (tracked and new files; no .venv, build or dist)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout  # fmt: skip
    copy = tmp_path / "ignity"
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    (copy / "scripts/setup").write_text(f'#!/bin/sh\ntouch "$(dirname "$0")/../{MARK}"\nexit 1\n')
    return copy


def _make(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("HOME", "LANG")}
    env["PATH"] = "/usr/bin:/bin"
    return subprocess.run(["make", *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=600)


def _built(checkout: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (checkout / MARK).exists(), "scripts/setup ran"
    version = _version()
    dist = sorted(p.name for p in (checkout / "dist").iterdir())
    assert dist == [f"ignity-{version}-py3-none-any.whl", f"ignity-{version}-seed.tar.gz", f"ignity-{version}.tar.gz"]
    with zipfile.ZipFile(checkout / "dist" / f"ignity-{version}-py3-none-any.whl") as z:
        assert "ignity/envfile.py" in z.namelist()
        templates = sorted(p.name for p in (REPO / "src/ignity/sh").iterdir() if p.is_file())
        assert "finish.sh" in templates
        for name in templates:
            assert f"ignity/sh/{name}" in z.namelist(), f"{name}: the templates are package data"
    with tarfile.open(checkout / "dist" / f"ignity-{version}-seed.tar.gz") as t:
        for name in templates:
            assert f"usr/lib/python3/dist-packages/ignity/sh/{name}" in t.getnames(), f"{name}: not in the seed"


def test_no_package_target_runs_scripts_setup(checkout: Path):
    """What make would run for each target, from scratch: never scripts/setup."""
    for target in TARGETS:
        done = _make(checkout, "-n", "-B", target)
        assert done.returncode == 0, done.stderr
        assert "scripts/setup" not in done.stdout + done.stderr, (target, done.stdout)
    assert not (checkout / MARK).exists()


def test_make_package_builds_in_a_throwaway_venv_with_only_python3(checkout: Path):
    """A fresh checkout: no .venv, and a python3 without `build` (the system's)."""
    probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import build"], capture_output=True)
    assert probe.returncode != 0, "the system's python3 has build: this test would prove nothing"
    _built(checkout, _make(checkout, "package"))
    assert (checkout / "build/venv/bin/python").exists()


FAKE_DEBIAN_PYTHON = f"""#!/bin/sh
# Debian's python3 without python3-venv: no ensurepip, so `-m venv` fails unless --without-pip.
if [ "$1 $2" = "-m venv" ] && [ "$3" != --without-pip ]; then
  echo "The virtual environment was not created successfully because ensurepip is not available." >&2
  exit 1
fi
exec {SYSTEM_PYTHON} "$@"
"""


def test_without_ensurepip_the_system_pip_fills_the_venv(checkout: Path, tmp_path: Path):
    python = tmp_path / "python3"
    python.write_text(FAKE_DEBIAN_PYTHON)
    python.chmod(0o755)
    done = _make(checkout, "package", f"PYTHON={python}")
    _built(checkout, done)
    assert f"{python} -m pip --python build/venv/bin/python install pip build" in done.stdout


def test_without_ensurepip_nor_pip_one_line_says_what_to_install(checkout: Path, tmp_path: Path):
    python = tmp_path / "python3"
    no_pip = 'fi\n[ "$1 $2" = "-m pip" ] && { echo "No module named pip" >&2; exit 1; }\n'
    python.write_text(FAKE_DEBIAN_PYTHON.replace("fi\n", no_pip, 1))
    python.chmod(0o755)
    done = _make(checkout, "wheel", f"PYTHON={python}")
    assert done.returncode != 0
    said = [line for line in done.stderr.splitlines() if line.startswith("make: ")]
    assert said and "ensurepip is not available" in said[0] and "install python3-venv or python3-pip" in said[0]
    assert not (checkout / MARK).exists() and not list((checkout / "dist").glob("*.whl"))
