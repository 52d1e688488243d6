"""Laying out /run/ignity: the only place Ignity writes at run time.

Stage 1 empties and recreates it on every boot, so a restarted container
never sees the previous run's state.
"""

from __future__ import annotations

import os
import stat
import sys

from ignity import paths, tools
from ignity.config import Config
from ignity.errors import IgnityError

SUBDIRS = (paths.ENVS, paths.INIT, paths.FINALIZE, paths.SERVICES, paths.SCANDIR, paths.SVSCAN_CTL, paths.STATE)

# Signals that end the container: each runs s6-svscanctl -b, which execs the
# finish program (stage 3) at once, leaving the supervisors for stage 3 to stop
# in parallel with the finalize scripts.
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGQUIT")


def python_script(module: str, python: str = sys.executable, package_parent: str | None = None) -> str:
    """A script that runs `module`.main() with `python`, isolated from PYTHON* variables.

    -I keeps a user's PYTHONPATH or PYTHONSTARTUP from breaking PID 1; the
    package's own location is put first so the script finds this Ignity.
    """
    if package_parent is None:
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path_line = f"sys.path.insert(0, {package_parent!r})\n" if package_parent else ""
    return f"#!{python} -I\nimport sys\n{path_line}from {module} import main\nmain()\n"


def write_file(path: str, text: str, mode: int = 0o644) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


def _not_writable(err: OSError) -> IgnityError:
    return IgnityError(
        f"{paths.RUN} is not writable by uid {os.getuid()} ({err.strerror}): mount a writable tmpfs there "
        f"(docker/podman: --tmpfs {paths.RUN}) or make it owned by the container user"
    )


def recreate(config: Config, uid: int = 0, gid: int = 0) -> None:
    """Empty /run/ignity and lay out its directories, the scan directory and the state.

    Running as root for a mapped user, the tree is handed to that user: the
    environment (which may hold secrets) is then readable by root and the
    mapped user only (envs is 0700).
    """
    try:
        os.makedirs(paths.RUN, exist_ok=True)
        for entry in os.scandir(paths.RUN):
            if entry.is_dir(follow_symlinks=False):
                import shutil  # only when a previous run left something

                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        for d in SUBDIRS:
            os.makedirs(d, exist_ok=True)
        os.chmod(paths.ENVS, 0o700)
        os.chmod(paths.STATE, 0o700)
    except OSError as e:
        raise _not_writable(e) from None
    try:
        _lay_out_scandir(config, uid, gid)
    except OSError as e:
        raise _not_writable(e) from None


def _lay_out_scandir(config: Config, uid: int, gid: int) -> None:
    finish = python_script("ignity.stages.stage3")
    write_file(f"{paths.SVSCAN_CTL}/finish", finish, 0o755)
    write_file(f"{paths.SVSCAN_CTL}/crash", finish, 0o755)
    # Marks the stop first, so that stage 2, racing it, does not take it for a failure.
    stop = (
        f"#!{tools.find('execlineb')} -P\n"
        f"{tools.find('redirfd')} -w 1 {paths.STOPPING} {tools.find('s6-svscanctl')} -b {paths.SCANDIR}\n"
    )
    for sig in STOP_SIGNALS:
        write_file(f"{paths.SVSCAN_CTL}/{sig}", stop, 0o755)
    write_file(paths.CONFIG, config.dump(), 0o600)
    if os.geteuid() == 0 and (uid, gid) != (0, 0):
        for d in (paths.RUN, *SUBDIRS):
            os.chown(d, uid, gid)


def copy(src: str, dst: str, follow: bool = True) -> None:
    """Copy a file or a directory tree with modes; links inside trees stay links.

    A small replacement for shutil.copytree, whose import (bz2, lzma, fnmatch)
    would cost every boot more than the copy itself.
    """
    st = os.stat(src) if follow else os.lstat(src)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(dst, 0o700)
        for name in os.listdir(src):
            copy(f"{src}/{name}", f"{dst}/{name}", follow=False)
        os.chmod(dst, mode)
    elif stat.S_ISREG(st.st_mode):
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
        os.chmod(dst, mode)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(dst, mode)
