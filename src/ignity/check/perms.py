"""perms files: every bad line with the boot's own message, account names looked up in the image.

perms.parse would look names up on the running system, which under --root is
not the image: names are replaced by the image's ids (from its /etc/passwd
and /etc/group) before parsing, and a name the image lacks is reported.
"""

from __future__ import annotations

from ignity import perms
from ignity.check.envs import data_files
from ignity.check.report import number, split_error
from ignity.errors import IgnityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.context import Context

# perms files are checked with the placeholders of the default account.
PERMS_VARIABLES = {"USERMAP_UID": "0", "USERMAP_GID": "0"}
PERMS_FIX = "each line is 'PATH UID:GID FMODE DMODE' or 'PATH RECURSE ACCOUNT FMODE DMODE' (docs/users.md)"
UINT_MAX = 2**32 - 1
ACCOUNT_FIX = "create it in the image (useradd/groupadd, or USER with USERMAP_UID/USERMAP_GID), or use a number"


def perms_files(ctx: Context) -> None:
    for shown, data in data_files(ctx, "perms", "a perms file"):
        text = data.decode("utf-8", "surrogateescape")
        for lineno, raw in enumerate(text.split("\n"), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            for key, value in PERMS_VARIABLES.items():
                line = line.replace("{{" + key + "}}", value)
            try:
                perms.parse(account(ctx, line, shown, lineno), shown, PERMS_VARIABLES)
            except IgnityError as e:
                ctx.error(shown, lineno, split_error(e, shown)[1], PERMS_FIX)


def accounts(ctx: Context) -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, str]]:
    """(user -> (uid, gid), uid -> gid, group -> gid) from the image's /etc/passwd and /etc/group."""
    if ctx.accounts_cache is None:
        users: dict[str, tuple[str, str]] = {}
        by_uid: dict[str, str] = {}
        groups: dict[str, str] = {}
        for row in _rows(ctx, "/etc/passwd"):
            if len(row) > 3 and row[2].isdigit() and row[3].isdigit():
                users.setdefault(row[0], (row[2], row[3]))
                by_uid.setdefault(str(int(row[2])), row[3])
        for row in _rows(ctx, "/etc/group"):
            if len(row) > 2 and row[2].isdigit():
                groups.setdefault(row[0], row[2])
        ctx.accounts_cache = users, by_uid, groups
    return ctx.accounts_cache


def _rows(ctx: Context, path: str) -> list[list[str]]:
    data = ctx.view.read(path, 1 << 26)
    if isinstance(data, str):
        return []
    text = data.decode("utf-8", "surrogateescape")
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def unresolved(ctx: Context, where: str, line: int, problem: str, fix: str) -> None:
    """A name the image lacks: certain on the running system, only likely in a tree under --root."""
    if ctx.live:
        ctx.error(where, line, problem, fix)
    else:
        ctx.warning(where, line, problem, fix + f" (looked up in {ctx.root}/etc/passwd and {ctx.root}/etc/group)")


def account(ctx: Context, line: str, shown: str, lineno: int) -> str:
    """`line` with the account's names replaced by the image's ids (numbers perms.parse checks itself)."""
    if "{{" in line:
        return line  # an unknown placeholder: perms.parse says so
    fields = line.split()
    index = {4: 1, 5: 2}.get(len(fields))
    if index is None:
        return line
    user, sep, group = fields[index].partition(":")
    if not user or (sep and not group):
        return line
    users, by_uid, groups = accounts(ctx)
    uid, gid = user, "0"
    if not number(user):
        uid, gid = users.get(user, ("0", "0"))
        if user not in users and user != ctx.mapped_user:
            unresolved(ctx, shown, lineno, f"no user named {user!r} in this image", ACCOUNT_FIX)
    elif not sep and int(user) < UINT_MAX:
        gid = by_uid.get(str(int(user)), "0")
        if str(int(user)) not in by_uid:
            unresolved(
                ctx,
                shown,
                lineno,
                f"account {user!r} has no group and uid {user} has no entry to take it from",
                "write UID:GID",
            )
    if sep:
        gid = group
        if not number(group):
            gid = groups.get(group, "0")
            if group not in groups and group != ctx.mapped_user:
                unresolved(ctx, shown, lineno, f"no group named {group!r} in this image", ACCOUNT_FIX)
    fields[index] = f"{uid}:{gid}"
    return " ".join(fields)
