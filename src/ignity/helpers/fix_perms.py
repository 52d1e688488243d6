"""fix-perms: read perms rules on stdin (the format of /etc/ignity/perms) and apply them.

{{USERMAP_UID}} and {{USERMAP_GID}} are taken from the environment, and so is
IGNITY_VERBOSITY (2: one line per rule with what was checked and changed).
A malformed line changes nothing and exits 1; what a well-formed rule could
not change is reported (one line per rule and kind of problem) and the exit
status stays 0, as at boot, where such problems never stop the container.
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
    verbosity = os.environ.get("IGNITY_VERBOSITY", "")
    if verbosity in ("0", "1", "2"):
        log.set_verbosity(int(verbosity))
    try:
        account = usermap.from_env(os.environ)
        variables = {"USERMAP_UID": str(account.uid), "USERMAP_GID": str(account.gid)}
        rules = perms.parse(sys.stdin.read(), "stdin", variables)
        perms.apply_all(rules)
    except IgnityError as e:
        log.die("fix-perms", str(e), e.status)
    sys.exit(0)
