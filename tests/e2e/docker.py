"""Real Docker for the e2e suite: Debian's docker.io, with a dockerd of the suite's own.

The session starts `dockerd` itself, with a data-root, an exec-root, a
pidfile and a socket under the test cache, no iptables, no bridge: no
system daemon is needed or touched, and `stop()` at the end of the session
leaves nothing running (dockerd stops its containers and the containerd it
started). The data-root is shared between sessions, so that the base
images stay imported; a second session that finds it locked (another suite
running) gets a private one, removed at its end.

Containers run with `--network none` and `--pull never`; images come only
from `docker import` of a cached rootfs or `docker build` on such a base,
always named in full (`localhost/NAME:TAG`), so nothing ever asks a
registry (NOTES-s6.md: an unqualified name would go to Docker Hub).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.e2e.podman import REPO, Engine, PodmanError

CACHE = Path(os.environ.get("IGNITY_TEST_CACHE", "/var/cache/ignity-test"))
DOCKERD = "/usr/sbin/dockerd"
CLIENT = "/usr/bin/docker"  # Debian's client, whatever else is on PATH
RUN_DEFAULTS = ("--network", "none", "--pull", "never", "--label", "ignity-e2e=1")


class Docker(Engine):
    """The docker client talking to the suite's own dockerd."""

    name = "docker"
    binary = CLIENT
    run_defaults = RUN_DEFAULTS
    compose_command = ("/usr/bin/docker-compose",)

    def __init__(self, env: Mapping[str, str], daemon: Daemon) -> None:
        super().__init__(env)
        self.daemon = daemon

    @classmethod
    def configure(cls) -> Docker:
        """Install docker.io (scripts/docker), start our dockerd, check that it runs a container."""
        done = subprocess.run([str(REPO / "scripts" / "docker")], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise PodmanError(f"scripts/docker failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        daemon = Daemon.start()
        env = dict(os.environ)
        env["DOCKER_HOST"] = f"unix://{daemon.socket}"
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = str(daemon.dir / "client")  # no user config, no credential helpers
        return cls(env, daemon)

    def stop(self) -> None:
        self.daemon.stop()

    def tmpfs_run_ignity(self, user: str | None = None) -> list[str]:
        """Docker's tmpfs is noexec unless told: Ignity runs s6-svscan's finish from it."""
        if user is None:
            return ["--tmpfs", "/run/ignity:rw,exec"]
        uid, _, gid = user.partition(":")
        return ["--tmpfs", f"/run/ignity:rw,exec,uid={uid},gid={gid or uid}"]

    def exists(self, kind: str, name: str) -> bool:
        """`docker KIND inspect NAME`: 0 yes, 1 no (Docker has no `exists`)."""
        done = self(kind, "inspect", name, check=False)
        if done.returncode not in (0, 1):
            raise PodmanError(f"docker {kind} inspect {name} exited {done.returncode}: {done.stderr}")
        return done.returncode == 0

    def build(
        self,
        tag: str,
        containerfile: Path,
        context: Path,
        build_args: Mapping[str, str] | None = None,
        volumes: Iterable[str] = (),
    ) -> str:
        """`docker build` (the classic builder of 20.10), without network; returns the tag."""
        if list(volumes):
            raise PodmanError("docker build has no volumes: put what the build needs into the context")
        args = ["build", "--network", "none", "-q", "-f", str(containerfile), "-t", tag]
        for name, value in (build_args or {}).items():
            args += ["--build-arg", f"{name}={value}"]
        self(*args, str(context), timeout=300)
        return tag

    def remove_container(self, name: str) -> None:
        self("rm", "-f", name, check=False)


class Daemon:
    """One dockerd of ours: its directory, socket and process."""

    def __init__(self, directory: Path, private: bool, lock: int) -> None:
        self.dir = directory
        self.private = private
        self.lock = lock
        self.socket = directory / "docker.sock"
        self.pidfile = directory / "dockerd.pid"
        self.log = directory / "dockerd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls) -> Daemon:
        base = CACHE / "docker"
        base.mkdir(parents=True, exist_ok=True)
        lock = os.open(base / "shared.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            daemon = cls(base / "shared", False, lock)
        except BlockingIOError:  # another session's dockerd has the shared data-root
            os.close(lock)
            daemon = cls(base / f"session-{os.getpid()}", True, -1)
        daemon.dir.mkdir(parents=True, exist_ok=True)
        daemon._end_leftover()
        daemon._launch()
        return daemon

    def _end_leftover(self) -> None:
        """A dockerd a killed session left on this directory (we hold its lock: it is ours)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return
        if cmdline[:1] == [DOCKERD.encode()] and str(self.dir).encode() in b" ".join(cmdline):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)  # not our child: no waitpid; a bounded poll of /proc

    def _launch(self) -> None:
        for stale in (self.socket, self.pidfile):
            stale.unlink(missing_ok=True)
        argv = [
            DOCKERD,
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.pidfile),
            "-H", f"unix://{self.socket}",
            "--iptables=false", "--ip-masq=false", "--bridge=none",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        # Ready = the API answers on the socket (`docker version` reaches the server).
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise PodmanError(f"dockerd exited {self.proc.returncode}:\n{self._log_tail()}")
            if self.socket.exists():
                done = subprocess.run(
                    [CLIENT, "-H", f"unix://{self.socket}", "version", "--format", "{{.Server.Version}}"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                if done.returncode == 0:
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise PodmanError(f"dockerd did not answer on {self.socket} within 60 s:\n{self._log_tail()}")
            time.sleep(0.1)  # bounded poll of a daemon that has no readiness notification

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (dockerd stops its containers and containerd), SIGKILL past 60 s; then the lock."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.private:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.lock >= 0:
            os.close(self.lock)
            self.lock = -1
