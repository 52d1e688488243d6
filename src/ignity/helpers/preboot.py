"""preboot [PROG...]: user mapping and the perms phase, then exec PROG."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from ignity import config, log, procs
from ignity.errors import IgnityError
from ignity.stages import stage1


def main() -> NoReturn:
    argv = sys.argv[1:]
    try:
        stage1.prepare_user(config.from_env(dict(os.environ)))
    except IgnityError as e:
        log.die("preboot", str(e), e.status)
    if not argv:
        sys.exit(0)
    procs.reset_signals()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        log.die("preboot", f"cannot run {argv[0]}: {e.strerror}", procs.exec_failure_status(e))
