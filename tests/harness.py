"""Boot /init as a real PID 1: a fresh PID and mount namespace, chrooted into a
Debian rootfs (scripts/rootfs) with Ignity installed from the working tree.

Per container: an overlay (rootfs + Ignity layer + a scratch upper), /proc,
/dev, a tmpfs /tmp, the fixture's /etc/ignity bind-mounted read-only, a tmpfs
on /run/ignity, and /out bound to a host directory the test can inspect.
Options: a read-only root, a non-root user, no /run/ignity tmpfs, a terminal.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.foreground import Foreground

REPO = Path(__file__).resolve().parent.parent

BOOT = r"""
set -e
scratch=$1 rootfs=$2 layer=$3 etc=$4 out=$5 readonly=$6 userspec=$7 runtmpfs=$8 envfile=$9 init=${10}
shift 10
mount -t tmpfs -o mode=0755 scratch "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
r="$scratch/root"
mount -t overlay overlay -o "lowerdir=$layer:$rootfs,upperdir=$scratch/upper,workdir=$scratch/work" "$r"
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=1777 tmp "$r/tmp"
mkdir -p "$r/etc/ignity" "$r/out" "$r/run/ignity"
mount --bind "$etc" "$r/etc/ignity"
mount -o remount,bind,ro "$r/etc/ignity"
mount --bind "$out" "$r/out"
if [ "$runtmpfs" != none ]; then mount -t tmpfs -o "$runtmpfs" run-ignity "$r/run/ignity"; fi
if [ "$readonly" = 1 ]; then mount -o remount,bind,ro "$r"; fi
# Variables whose names no shell keeps (a '/', a leading dot) reach /init through env(1),
# which execs /init in place: it stays PID 1.
set -- "$init" "$@"
if [ -n "$envfile" ]; then
  n=0
  while IFS= read -r -d '' kv; do set -- "$kv" "$@"; n=$((n + 1)); done < "$envfile" 2>/dev/null || true
  set -- /usr/bin/env "$@"
fi
# On a terminal, PID 1 leads its own session with the terminal as its
# controlling tty, as container engines do for `-t`.
set -- chroot ${userspec:+--userspec="$userspec"} "$r" "$@"
if [ -t 0 ]; then set -- setsid --ctty "$@"; fi
exec "$@"
"""

BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}


def rootfs() -> Path:
    out = subprocess.run([str(REPO / "scripts" / "rootfs")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def build_layer(root: Path, layer: Path, source: Path | None = None) -> None:
    """Ignity from the working tree, installed into an overlay layer over `root`.

    Installed as the seed archive does: the package copied into the image's
    site-packages, then `python3 -m ignity install` run inside the image.
    """
    pyver = sorted(p.name for p in (root / "usr/lib").glob("python3.*"))[-1]
    site = layer / "usr/local/lib" / pyver / "dist-packages"
    site.mkdir(parents=True)
    package = source or REPO / "src" / "ignity"
    shutil.copytree(package, site / "ignity", ignore=shutil.ignore_patterns("__pycache__"))
    work, merged = layer.parent / f"{layer.name}-work", layer.parent / f"{layer.name}-merged"
    work.mkdir()
    merged.mkdir()
    script = (
        f"mount -t overlay overlay -o lowerdir={root},upperdir={layer},workdir={work} {merged} && "
        f"chroot {merged} python3 -m ignity install && chroot {merged} python3 -m compileall -q /usr/local/lib"
    )
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], env=BASE_ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"installing Ignity into the test image failed:\n{done.stdout}{done.stderr}")


class Container(Foreground):
    """One booted /init. Output (stdout and stderr together) is collected as it comes."""

    def __init__(
        self,
        image: Image,
        etc: Path,
        cmd: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        *,
        user: str = "",
        readonly: bool = False,
        run_tmpfs: str | None = "mode=0755",
        tty: bool = False,
        raw_env: Mapping[str, str] | None = None,
        files: Mapping[str, Path] | None = None,
        echo: bool = False,
        init: str = "/init",
        out: Path | None = None,
    ) -> None:
        self.image = image
        self.workdir = Path(tempfile.mkdtemp(prefix="c-", dir=image.tmp))
        self.out = out or self.workdir / "out"
        if out is None:
            self.out.mkdir(mode=0o777)
            os.chmod(self.out, 0o777)
        for name, source in (files or {}).items():  # visible in the container as /out/NAME
            if source.is_dir():
                shutil.copytree(source, self.out / name, symlinks=True)
            else:
                shutil.copy2(source, self.out / name)
        scratch = self.workdir / "scratch"
        scratch.mkdir()
        envfile = ""
        if raw_env:
            envfile = str(self.workdir / "raw-env")
            Path(envfile).write_bytes(b"".join(f"{k}={v}".encode() + b"\0" for k, v in raw_env.items()))
        argv = [
            "unshare", "--fork", "--kill-child", "--pid", "--mount", "--mount-proc", "--propagation", "private",
            "bash", "-c", BOOT, "boot",
            str(scratch), str(image.root), image.lower, str(etc), str(self.out),
            "1" if readonly else "0", user, run_tmpfs or "none", envfile, init,
            *cmd,
        ]  # fmt: skip
        full_env = dict(BASE_ENV)
        full_env.update(env or {})
        super().__init__(argv, full_env, tty=tty, echo=echo)

    def wait(self, timeout: float = 30) -> int:
        """The container's exit status (hang guard: `timeout`; past it the container is killed)."""
        code = self.exited(timeout)
        if code is None:
            self.cleanup(keep_out=True)
            raise AssertionError(f"container still running after {timeout} s; output:\n{self.output}")
        return code

    def pid1(self) -> int:
        """The host pid of the container's PID 1 (call once the container printed something)."""
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert children, "container PID 1 is not running"
        return int(children[0])

    def kill(self, sig: int = signal.SIGTERM) -> float:
        os.kill(self.pid1(), sig)
        return time.monotonic()

    def cleanup(self, keep_out: bool = False) -> None:
        if self.proc.poll() is None:
            # SIGKILL to the namespace's PID 1 ends the whole container (unshare's
            # --kill-child does the same, but not across a change of user).
            try:
                os.kill(self.pid1(), signal.SIGKILL)
            except (AssertionError, OSError):
                pass
            self.proc.kill()
            self.proc.wait()
        if keep_out:
            shutil.rmtree(self.workdir / "scratch", ignore_errors=True)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


class Image:
    """The cached rootfs plus this session's Ignity layer, plus any build steps."""

    def __init__(
        self, tmp: Path, root: Path | None = None, layers: list[Path] | None = None, source: Path | None = None
    ) -> None:
        """`source`: the ignity package to install (default: this working tree's; bench/ compares two)."""
        self.tmp = tmp
        if root is None or layers is None:
            self.root = rootfs()
            layer = tmp / f"layer-{len(list(tmp.glob('layer-[0-9]')))}"
            layer.mkdir()
            build_layer(self.root, layer, source)
            self.layers = [layer]
        else:
            self.root, self.layers = root, layers
        self.layer = self.layers[0]

    @property
    def lower(self) -> str:
        """The overlay's lower layers above the rootfs, top first."""
        return ":".join(str(p) for p in self.layers)

    def derive(self, script: str, etc: Path | None = None, env: Mapping[str, str] | None = None) -> Image:
        """A new image: this one plus a layer written by `sh -c script` run as root in it,
        like a RUN line of a Dockerfile (with `etc` as /etc/ignity, when given)."""
        new = Path(tempfile.mkdtemp(prefix="layer-", dir=self.tmp))
        work, merged = Path(tempfile.mkdtemp(dir=self.tmp)), Path(tempfile.mkdtemp(dir=self.tmp))
        steps = [
            f"mount -t overlay overlay -o lowerdir={self.lower}:{self.root},upperdir={new},workdir={work} {merged}",
            f"mount -t proc proc {merged}/proc",
        ]
        if etc is not None:
            steps.append(f"mkdir -p {merged}/etc/ignity && mount --bind {etc} {merged}/etc/ignity")
        full_env = dict(BASE_ENV)
        full_env.update(env or {})
        shell = " && ".join(steps) + ' && exec chroot "$0" sh -c "$1"'
        done = subprocess.run(
            ["unshare", "--mount", "--pid", "--fork", "sh", "-c", shell, str(merged), script],
            env=full_env, capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"build step {script!r} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        self.last_build_output = done.stdout + done.stderr
        image = Image(self.tmp, self.root, [new, *self.layers])
        image.last_build_output = self.last_build_output
        return image

    last_build_output = ""
