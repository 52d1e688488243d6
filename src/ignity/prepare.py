"""The user-mapping and perms phase, shared by stage 1 and `preboot`.

At image build time (`RUN preboot`) it runs as root and prepares an image
that then starts as a non-root user; at boot it runs again and finds nothing
left to do, unless a volume brought files that differ.
"""

from __future__ import annotations

from ignity import envfile, log, paths, perms, usermap

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Mapping

PHASE = "perms"


def run(env: Mapping[str, str]) -> usermap.Account:
    """Map USER, then apply /etc/ignity/perms/* in name order; return the account."""
    account = usermap.from_env(env)
    usermap.run(account)
    variables = {"USERMAP_UID": str(account.uid), "USERMAP_GID": str(account.gid)}
    rules = perms.read_files(envfile.env_files(f"{paths.ETC}/perms"), variables)
    perms.apply_all(rules)
    log.debug(PHASE, f"{len(rules)} perms rule(s) applied")
    return account
