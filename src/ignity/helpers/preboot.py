"""preboot [PROG...]: user mapping and the perms phase, then exec PROG.

At image build time, `RUN preboot` (with USER, USERMAP_UID and USERMAP_GID
set) prepares an image that then starts with `USER uid:gid`. The env files of
/etc/ignity/envs are read as at boot, the environment winning.
"""

from __future__ import annotations

import os
import sys

from ignity import envfile, log, paths, prepare, procs
from ignity.errors import IgnityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def _own_run_dir(uid: int, gid: int) -> None:
    """/run/ignity in the image, owned by the mapped user: a container started as
    that user can then lay it out even when no tmpfs is mounted there."""
    if os.geteuid() != 0 or (uid, gid) == (0, 0):
        return
    try:
        os.makedirs(paths.RUN, mode=0o755, exist_ok=True)
        os.chown(paths.RUN, uid, gid)
    except OSError as e:
        log.info("preboot", f"{paths.RUN}: cannot hand it to {uid}:{gid} ({e.strerror})")


def main() -> NoReturn:
    argv = sys.argv[1:]
    try:
        merged = envfile.merge(envfile.env_files(f"{paths.ETC}/envs"), dict(os.environb))
        account = prepare.run(envfile.own_variables(merged))
        _own_run_dir(account.uid, account.gid)
    except IgnityError as e:
        log.die("preboot", str(e), e.status)
    if not argv:
        sys.exit(0)
    procs.reset_signals()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        log.die("preboot", f"cannot run {argv[0]}: {e.strerror}", procs.exec_failure_status(e))
