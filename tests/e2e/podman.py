"""The engines of the e2e suite: rootful Podman (configured by scripts/podman) here,
Docker (tests/e2e/docker.py) on the same `Engine` interface.

Everything goes through the engine's command line, as a user would type it:
the point of the suite is Ignity in a real engine, so nothing reaches around
the engine. Containers run attached (`podman run`/`docker run` in the
foreground, output streamed), so a test waits for what the container prints
(an event) and gets its exit status the way a user does: as the command's own
exit status. The names this module had when it was Podman's alone (Podman,
Attached, PodmanError, RUN_DEFAULTS) stay, for the tests that use them.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tests.foreground import Foreground

REPO = Path(__file__).resolve().parents[2]

# Options every `podman run` of the suite gets: no network (half the cost of a
# run, and nothing here needs one), never a registry (there is none to reach:
# a missing image must fail at once, not after three retries), a label to find
# leftovers by.
RUN_DEFAULTS = ("--network", "none", "--pull", "never", "--label", "ignity-e2e=1")


class PodmanError(AssertionError):
    """An engine command failed; the message carries its output."""


EngineError = PodmanError


class Engine:
    """An engine's command line (`binary`), with the environment that selects our set-up.

    Subclasses say where the engines differ; everything else is the same
    command line on both (run, exec, stop, kill, inspect, logs, build, rmi).
    """

    name = "engine"
    binary = "false"
    run_defaults: tuple[str, ...] = ()
    compose_command: tuple[str, ...] = ()

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._serial = 0

    def __repr__(self) -> str:
        return f"<{self.name}>"

    # -- where the engines differ (overridden) ------------------------------
    def tmpfs_run_ignity(self, user: str | None = None) -> list[str]:
        """docs/users.md's `--tmpfs /run/ignity` option for this engine, as root or as `user` (UID:GID)."""
        raise NotImplementedError

    def exists(self, kind: str, name: str) -> bool:
        raise NotImplementedError

    def build(
        self,
        tag: str,
        containerfile: Path,
        context: Path,
        build_args: Mapping[str, str] | None = None,
        volumes: Iterable[str] = (),
    ) -> str:
        raise NotImplementedError

    def import_rootfs(self, root: Path, tag: str) -> None:
        """`IMPORT - TAG` of the rootfs directory as a tar stream (the marker files left out)."""
        tar = subprocess.Popen(
            [
                "tar",
                "-C",
                str(root),
                "--exclude=./.ignity-complete",
                "--exclude=./.ignity-build-seconds",
                "-cf",
                "-",
                ".",
            ],
            stdout=subprocess.PIPE,
        )
        imported = subprocess.run(
            [self.binary, "import", "-", tag], stdin=tar.stdout, env=self.env, capture_output=True, text=True
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise PodmanError(f"importing {root} as {tag} failed:\n{imported.stdout}{imported.stderr}")

    def image_tags(self, repository: str) -> list[str]:
        """REPOSITORY:TAG of every image of `repository`."""
        return self("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()

    def remove_container(self, name: str) -> None:
        self("rm", "-f", name, check=False)

    def version(self) -> str:
        return self("version", "--format", "{{.Server.Version}}").stdout.strip()

    # -- the same on both ---------------------------------------------------

    def unique(self, prefix: str) -> str:
        """A name no other container or image of this or another session has."""
        self._serial += 1
        return f"{prefix}-{os.getpid()}-{self._serial}"

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout, input=input
            )
        except subprocess.TimeoutExpired as e:
            raise PodmanError(f"{self.name} {' '.join(args)}: still running after {timeout} s") from e
        if check and done.returncode != 0:
            raise PodmanError(f"{self.name} {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def start(
        self,
        image: str,
        cmd: Sequence[str] = (),
        options: Sequence[str] = (),
        *,
        name: str | None = None,
        tty: bool = False,
    ) -> Attached:
        """`run --rm` in the foreground: the container's output is followed as it comes."""
        name = name or self.unique("ignity-e2e")
        argv = [self.binary, "run", "--rm", "--name", name, *self.run_defaults, *options, image, *cmd]
        return Attached(self, name, argv, tty=tty)

    def follow_logs(self, container: str) -> Attached:
        """`logs -f`: the output of a container this suite did not start in the foreground."""
        return Attached(self, container, [self.binary, "logs", "-f", container], tty=False)

    def compose(self, file: Path, project: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The engine's Compose (podman-compose, docker-compose) on `file` as project `project`."""
        argv = [*self.compose_command, "-f", str(file), "-p", project, *args]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=180)
        if check and done.returncode != 0:
            raise PodmanError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done


class Podman(Engine):
    """The podman command with our containers.conf and storage.conf."""

    name = "podman"
    binary = "podman"
    run_defaults = RUN_DEFAULTS
    compose_command = ("podman-compose",)

    @classmethod
    def configure(cls) -> Podman:
        """Install and configure Podman (scripts/podman) and check that it runs containers.

        scripts/podman prints `export NAME=VALUE` lines; the values are taken
        as they are (paths under the test cache, no spaces).
        """
        done = subprocess.run([str(REPO / "scripts" / "podman")], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise PodmanError(f"scripts/podman failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        env = dict(os.environ)
        for line in done.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                name, value = line[len("export ") :].split("=", 1)
                env[name] = value
        if "CONTAINERS_CONF" not in env or "CONTAINERS_STORAGE_CONF" not in env:
            raise PodmanError(f"scripts/podman printed no CONTAINERS_CONF/CONTAINERS_STORAGE_CONF:\n{done.stdout}")
        podman = cls(env)
        runtime = podman("info", "--format", "{{.Host.OCIRuntime.Name}}").stdout.strip()
        if runtime != "runc":  # our containers.conf was not read: crun fails on these hosts
            raise PodmanError(f"podman uses the OCI runtime {runtime!r}, not runc: is CONTAINERS_CONF ignored?")
        return podman

    def exists(self, kind: str, name: str) -> bool:
        """`podman KIND exists NAME`: 0 yes, 1 no, anything else is an error."""
        done = self(kind, "exists", name, check=False)
        if done.returncode not in (0, 1):
            raise PodmanError(f"podman {kind} exists {name} exited {done.returncode}: {done.stderr}")
        return done.returncode == 0

    def build(
        self,
        tag: str,
        containerfile: Path,
        context: Path,
        build_args: Mapping[str, str] | None = None,
        volumes: Iterable[str] = (),
    ) -> str:
        """`podman build`, without network (nothing is fetched); returns the tag."""
        args = ["build", "--network", "none", "--pull=never", "-q", "-f", str(containerfile), "-t", tag]
        for name, value in (build_args or {}).items():
            args += ["--build-arg", f"{name}={value}"]
        for volume in volumes:
            args += ["-v", volume]
        self(*args, str(context), timeout=300)
        return tag

    def tmpfs_run_ignity(self, user: str | None = None) -> list[str]:
        """`U`: the tmpfs belongs to the container's user (Podman refuses uid=)."""
        return ["--tmpfs", "/run/ignity:rw,U"]

    def remove_container(self, name: str) -> None:
        self("rm", "-f", "-t", "0", name, check=False)

    def version(self) -> str:
        return self("version", "--format", "{{.Client.Version}}").stdout.strip()


class Attached(Foreground):
    """An engine's process in the foreground (`run`, `logs -f`), its output (stdout and
    stderr together) collected line by line.

    With tty=True the process gets a pseudo-terminal as stdin, stdout and
    stderr, as `run -it` gets a user's terminal; write() types into it.
    """

    def __init__(self, engine: Engine, name: str, argv: Sequence[str], *, tty: bool) -> None:
        self.engine = engine
        self.podman = engine  # the name of before Docker, kept for the tests that use it
        self.name = name
        super().__init__(argv, engine.env, tty=tty)

    def wait_for(self, text: str, timeout: float = 30) -> float:
        return super().wait_for(text, timeout)

    def wait(self, timeout: float = 60) -> int:
        """The process's exit status: for `run`, the container's (hang guard: `timeout`)."""
        code = self.exited(timeout)
        if code is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.argv[:3]} still running after {timeout} s; output:\n{self.output}")
        return code

    # -- what a user does to a running container ----------------------------
    def exec(self, *cmd: str, options: Sequence[str] = (), check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.engine("exec", *options, self.name, *cmd, check=check)

    def stop(self, grace: int = 10) -> float:
        """`stop -t GRACE`: SIGTERM, SIGKILL past GRACE s. Returns how long the command took."""
        start = time.monotonic()
        self.engine("stop", "-t", str(grace), self.name, timeout=grace + 30)
        return time.monotonic() - start

    def kill(self, signal: str) -> None:
        self.engine("kill", "-s", signal, self.name)

    def container_id(self) -> str:
        return self.engine("inspect", "--format", "{{.Id}}", self.name).stdout.strip()

    def cleanup(self) -> None:
        """Remove the container if the test left it running, and end the engine's process."""
        if self.proc.poll() is None:
            self.engine.remove_container(self.name)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._master >= 0:
            self._thread.join(5)


def host_processes_with(text: str) -> list[str]:
    """Command lines of the host's processes that contain `text` (a container's
    processes are host processes too, seen through /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:  # gone meanwhile
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def host_mounts_with(text: str) -> list[str]:
    """Lines of the host's mount table that mention `text` (e.g. a container id)."""
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if text in line]
