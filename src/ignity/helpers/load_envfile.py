"""load-envfile PROG...: read an env file on stdin, run PROG with it added to the environment."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from ignity import envfile, log, procs
from ignity.errors import IgnityError


def main() -> NoReturn:
    argv = sys.argv[1:]
    if not argv:
        log.die("load-envfile", "usage: load-envfile PROG... (the env file on stdin)", 100)
    try:
        extra = envfile.parse(sys.stdin.buffer.read(), "stdin")
    except IgnityError as e:
        log.die("load-envfile", str(e), e.status)
    env = dict(os.environb)
    env.update(extra)
    procs.reset_signals()
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        log.die("load-envfile", f"cannot run {argv[0]}: {e.strerror}", procs.exec_failure_status(e))
