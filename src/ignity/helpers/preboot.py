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
from ignity.stages.stage1 import _text_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> NoReturn:
    argv = sys.argv[1:]
    try:
        merged = envfile.merge(envfile.env_files(f"{paths.ETC}/envs"), dict(os.environb))
        prepare.run(_text_env(merged))
    except IgnityError as e:
        log.die("preboot", str(e), e.status)
    if not argv:
        sys.exit(0)
    procs.reset_signals()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        log.die("preboot", f"cannot run {argv[0]}: {e.strerror}", procs.exec_failure_status(e))
