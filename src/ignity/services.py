"""Handing service directories to s6-svscan, and waiting for them to be up.

Supervision itself is s6's: this module only places the directories in the
scan directory, asks s6-svscan to scan, and listens for s6-supervise's own
up/ready events.
"""

from __future__ import annotations

import os

from ignity import log, paths, procs, tools
from ignity.errors import IgnityError

PHASE = "services"

# s6-ftrig-listen's exit status when its time limit passes.
LISTEN_TIMEOUT = 1


class Service:
    """One service directory under /run/ignity/services."""

    __slots__ = ("down", "name", "notifies", "path")

    def __init__(self, name: str, path: str, down: bool, notifies: bool) -> None:
        self.name = name
        self.path = path
        self.down = down  # has a `down` file: not started automatically
        self.notifies = notifies  # has `notification-fd`: "up" means "ready"

    @property
    def event(self) -> str:
        return f"{self.path}/event"


def valid_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\n" not in name


def discover(directory: str = paths.SERVICES) -> list[Service]:
    """The service directories under `directory`, in name order; errors name the path."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith("."):
            continue
        path = f"{directory}/{name}"
        if not os.path.isdir(path):
            raise IgnityError(f"{paths.ETC}/services/{name}: not a directory, expected a service directory")
        if not os.path.isfile(f"{path}/run"):
            raise IgnityError(f"{paths.ETC}/services/{name}: no run file (a service directory needs an executable run)")
        found.append(Service(name, path, os.path.exists(f"{path}/down"), os.path.exists(f"{path}/notification-fd")))
    return found


def prepare(service: Service, gracetime_ms: int, listen: bool) -> None:
    """Bound the service's stop by the grace time, and ready its event fifodir.

    `timeout-kill` makes s6-supervise itself SIGKILL a service that ignores
    SIGTERM; an author's own file is kept. s6 reads 0 as "never", so a grace
    of 0 (kill at once) becomes 1 ms.
    """
    timeout_kill = f"{service.path}/timeout-kill"
    if not os.path.exists(timeout_kill):
        with open(timeout_kill, "w") as f:
            f.write(f"{max(1, gracetime_ms)}\n")
    if listen and not os.path.isdir(service.event):
        # The fifodir format s6-supervise itself creates (subscribers of our group).
        os.mkdir(service.event)
        os.chmod(service.event, 0o3730)


def start(all_services: list[Service], gracetime_ms: int, wait_ms: int | None) -> None:
    """Link every service into the scan directory and have s6-svscan pick them up.

    With `wait_ms` (0 = no limit), return only once every service without a
    `down` file is up (ready, for those with `notification-fd`). The listener
    subscribes before the scan is triggered, so no event can be missed.
    """
    awaited = [s for s in all_services if not s.down] if wait_ms is not None else []
    for service in all_services:
        prepare(service, gracetime_ms, service in awaited)
        os.symlink(service.path, f"{paths.SCANDIR}/{service.name}")
    scan = [tools.find("s6-svscanctl"), "-a", paths.SCANDIR]
    if not awaited:
        _run(scan, "s6-svscanctl")
        return
    argv = [tools.find("s6-ftrig-listen"), "-a", "-t", str(wait_ms)]
    for s in awaited:
        argv += [f" {s.event}", " U" if s.notifies else " u"]
    argv += ["", *scan]
    log.debug(PHASE, f"waiting for {len(awaited)} service(s), at most {wait_ms or 'unlimited'} ms")
    status = procs.run(argv, stderr_to_null=True)
    if status == LISTEN_TIMEOUT:
        late = [s.name + (" (not ready)" if s.notifies else " (not up)") for s in awaited if not _reached(s)]
        raise IgnityError(
            f"services not up within IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME={wait_ms} ms: {', '.join(late) or '?'}"
        )
    if status != 0:
        raise IgnityError(f"waiting for services failed (s6-ftrig-listen exited {status})")


def _reached(service: Service) -> bool:
    import subprocess  # only on this failure path

    out = subprocess.run(
        [tools.find("s6-svstat"), "-o", "up,ready", service.path],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return out == ["true", "true"] if service.notifies else out[:1] == ["true"]


def _run(argv: list[str], what: str) -> None:
    status = procs.run(argv, stderr_to_null=True)
    if status == 100:
        raise IgnityError(f"{what}: s6-svscan is not running on {paths.SCANDIR}")
    if status != 0:
        raise IgnityError(f"{what} failed with status {status}")
