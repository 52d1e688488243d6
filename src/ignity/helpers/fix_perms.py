"""fix-perms: read perms rules on stdin (the format of /etc/ignity/perms) and apply them.

{{USERMAP_UID}} and {{USERMAP_GID}} are taken from the environment.
"""

from __future__ import annotations

import os
import sys

from ignity import log, perms, usermap
from ignity.errors import IgnityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> NoReturn:
    try:
        account = usermap.from_env(os.environ)
        variables = {"USERMAP_UID": str(account.uid), "USERMAP_GID": str(account.gid)}
        rules = perms.parse(sys.stdin.read(), "stdin", variables)
        perms.apply_all(rules)
    except IgnityError as e:
        log.die("fix-perms", str(e), e.status)
    sys.exit(0)
