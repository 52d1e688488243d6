"""fix-perms: read perms rules on stdin and apply them."""

from __future__ import annotations

from typing import NoReturn

from ignity import log


def main() -> NoReturn:
    log.die("fix-perms", "not available yet in this version", 100)
