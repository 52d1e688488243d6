"""`ignity install`: what it lays out, and the one line when s6 or execline is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
S6 = ["s6-svscan", "s6-svscanctl", "s6-svc", "s6-svstat", "s6-envdir", "s6-ftrig-listen"]
EXECLINE = ["execlineb", "foreground", "importas", "redirfd", "tryexec", "exit"]


def _install(root: Path) -> subprocess.CompletedProcess[str]:
    _fake(root, ["ln", "install", "rm", "mkdir", "cp"], "/bin")  # coreutils: in every image
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "ignity", "install", "--root", str(root), "--python", sys.executable],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


# The usage line s6-envdir carries from s6 2.11.1.0 on (with -L), and the one before.
ENVDIR_USAGE = {
    "new": "s6-envdir [ -I | -i ] [ -n ] [ -f ] [ -L ] [ -c nullchar ] dir prog...",
    "old": "s6-envdir [ -I | -i ] [ -n ] [ -f ] [ -c nullchar ] dir prog...",
}


def _fake(root: Path, names: list[str], directory: str, envdir: str = "new") -> None:
    d = root / directory.lstrip("/")
    d.mkdir(parents=True, exist_ok=True)
    for name in names:
        text = (
            "\x7fELF"
            if name == "execlineb"
            else f"#fake\n{ENVDIR_USAGE[envdir]}\n"
            if name == "s6-envdir"
            else "#fake\n"
        )
        (d / name).write_text(text)
        (d / name).chmod(0o755)


def _python_in(root: Path) -> None:
    target = root / sys.executable.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("")
    target.chmod(0o755)


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ([], ["s6 (Debian/Ubuntu: apt-get install s6", "execline (Debian/Ubuntu: apt-get install execline"]),
        (["s6"], ["execline (Debian/Ubuntu: apt-get install execline; Alpine: apk add execline)"]),
        (["execline"], ["s6 (Debian/Ubuntu: apt-get install s6; Alpine: apk add s6)"]),
    ],
)
def test_missing_packages_are_named_in_one_line(tmp_path: Path, present: list[str], missing: list[str]) -> None:
    if "s6" in present:
        _fake(tmp_path, S6, "/usr/bin")
    if "execline" in present:
        _fake(tmp_path, EXECLINE, "/usr/lib/execline/bin")
    done = _install(tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("[ignity/install] "), done.stderr
    for text in missing:
        assert text in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "init").exists()


def test_install_lays_out_init_and_helpers(tmp_path: Path) -> None:
    _fake(tmp_path, S6, "/usr/bin")
    _fake(tmp_path, EXECLINE, "/usr/lib/execline/bin")
    _python_in(tmp_path)
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    for path in ("init", "usr/bin/with-env", "usr/bin/load-envfile", "usr/bin/with-retries", "usr/bin/fix-perms",
                 "usr/bin/preboot", "usr/bin/ignity"):  # fmt: skip
        full = tmp_path / path
        assert full.is_file() and os.access(full, os.X_OK), path
    init = (tmp_path / "init").read_text()
    # Stage 0 is sh: PID 1 becomes s6-svscan before any interpreter starts.
    assert init.startswith("#!/bin/sh\n")
    assert f"\nignity_python={sys.executable}\n" in init and "from ignity.stages.stage1 import main" in init
    assert "\nignity_svscan=/usr/bin/s6-svscan\nignity_max=5000\n" in init
    assert init.rstrip().endswith('exec "$ignity_svscan" -c "$ignity_max" "$ignity_scan"')
    # What s6-svscan runs as root comes from root-owned files of the image, as links.
    ctl = tmp_path / "usr/lib/ignity/skel/services-state/.s6-svscan"
    assert (ctl.stat().st_mode & 0o777) == 0o755  # a non-root user copies it; stage 1 closes it
    assert os.readlink(ctl / "finish") == "/usr/lib/ignity/svscan/finish"
    assert os.readlink(ctl / "crash") == "/usr/lib/ignity/svscan/finish"
    for sig in ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH"):
        assert os.readlink(ctl / sig) == "/usr/lib/ignity/svscan/signal"
    # No GNU env in this fake root: a sh wrapper ignores the signals before Python starts.
    finish = (tmp_path / "usr/lib/ignity/svscan/finish").read_text()
    first = next(line for line in finish.splitlines()[1:] if not line.startswith("#"))
    assert first == "trap '' TERM INT QUIT HUP USR1 USR2 WINCH"
    sys.path.insert(0, str(REPO / "src"))
    from ignity import runtime

    assert first == "trap '' " + runtime.STAGE3_IGNORED.replace(",", " ")


def test_stage3_ignores_stop_signals_from_the_kernels_exec_with_gnu_env(tmp_path: Path) -> None:
    _fake(tmp_path, S6, "/usr/bin")
    _fake(tmp_path, EXECLINE, "/usr/lib/execline/bin")
    _python_in(tmp_path)
    (tmp_path / "usr/bin/env").write_bytes(b"\x7fELF ... --ignore-signal ...")
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    first = (tmp_path / "usr/lib/ignity/svscan/finish").read_text().splitlines()[0]
    assert first == f"#!/usr/bin/env -S --ignore-signal=TERM,INT,QUIT,HUP,USR1,USR2,WINCH {sys.executable} -IS"
    with_env = (tmp_path / "usr/bin/with-env").read_text().splitlines()
    assert with_env[0] == "#!/usr/lib/execline/bin/execlineb -S0"
    assert "/usr/bin/s6-envdir -I -fnL /run/ignity/envs" in with_env
    assert "/usr/bin/s6-envdir -I /run/ignity/envs/.empty" in with_env
    for sub in ("envs", "perms", "init", "finalize", "services"):
        assert (tmp_path / "etc/ignity" / sub).is_dir()


def test_install_refuses_an_interpreter_the_image_lacks(tmp_path: Path) -> None:
    _fake(tmp_path, S6, "/usr/bin")
    _fake(tmp_path, EXECLINE, "/usr/lib/execline/bin")
    done = _install(tmp_path)
    assert done.returncode == 1
    assert "not found in" in done.stderr and "--python" in done.stderr


def test_with_env_does_without_L_on_an_s6_envdir_that_lacks_it(tmp_path: Path) -> None:
    """s6 2.10 (Debian 11): no -L, so no unlimited values; read from the program's usage line."""
    _fake(tmp_path, S6, "/usr/bin", envdir="old")
    _fake(tmp_path, EXECLINE, "/usr/lib/execline/bin")
    _python_in(tmp_path)
    done = _install(tmp_path)
    assert done.returncode == 0, done.stderr
    with_env = (tmp_path / "usr/bin/with-env").read_text().splitlines()
    assert "/usr/bin/s6-envdir -I -fn /run/ignity/envs" in with_env
