"""Env files and IGNITY_* variables: every bad line with the boot's own message, typos named.

The parser is the boot's (envfile, config), so `ignity check` says exactly
what stage 1 would, but about every bad line, not only the first.
"""

from __future__ import annotations

import os
import stat

from ignity import config, envfile, paths
from ignity.check import migration
from ignity.check.report import did_you_mean, show, split_error
from ignity.check.root import kind
from ignity.check.scripts import BOM, BOM_FIX, BOM_PROBLEM
from ignity.errors import IgnityError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ignity.check.context import Context

ENVIRONMENT = "environment"
ENV_FIX = "each line is NAME=VALUE, blank or a # comment (docs/env.md)"
MAX_DATA = 1 << 30


def data_files(ctx: Context, sub: str, what: str) -> Iterator[tuple[str, bytes]]:
    """(path as shown, contents without a BOM) of each readable regular file of /etc/ignity/SUB."""
    directory = f"{paths.ETC}/{sub}"
    for name in ctx.listdir(directory):
        if name.startswith("."):
            continue
        path, shown = f"{directory}/{name}", f"{directory}/{show(name)}"
        st = ctx.view.stat(path)
        if isinstance(st, str):
            ctx.error(shown, None, st, f"remove it, or make it {what}")
            continue
        if stat.S_ISDIR(st.st_mode):
            ctx.error(shown, None, f"is a directory, expected {what}", f"move its files up into {sub}/")
            continue
        if not stat.S_ISREG(st.st_mode):  # never opened: a fifo would hang the read (and the boot)
            ctx.error(shown, None, f"is {kind(st.st_mode)}, expected {what}", f"make it {what}, or remove it")
            continue
        data = ctx.read(path, shown, MAX_DATA)
        if data is None:
            continue
        if data.startswith(BOM):
            ctx.error(shown, 1, BOM_PROBLEM, BOM_FIX)
            data = data[len(BOM) :]
        yield shown, data


def env_files(ctx: Context) -> None:
    """Every line of every env file (all bad lines, not only the first), then its IGNITY_* and S6_* names,
    then whether what they set fits in one exec."""
    merged: dict[bytes, bytes] = {}
    origin: dict[bytes, str] = {}
    for shown, data in data_files(ctx, "envs", "an env file"):
        for number, line in enumerate(data.split(b"\n"), start=1):
            try:
                parsed = envfile.parse(line, shown)
            except IgnityError as e:
                problem = split_error(e, shown)[1]
                carriage_return = line.endswith(b"\r")
                ctx.error(shown, number, problem, "" if carriage_return else ENV_FIX)
                if carriage_return:
                    break  # one report for a file with Windows line endings
                continue
            merged.update(parsed)
            origin.update(dict.fromkeys(parsed, shown))
            for key, value in parsed.items():
                migration.quoted(ctx, key, value, shown, number)
                if key == b"USER":
                    ctx.mapped_user = value.decode("utf-8", "replace")
                if key.startswith(b"IGNITY_"):
                    ctx.settings[key.decode("ascii")] = value.decode("utf-8", "replace")
                    setting(ctx, key.decode("ascii"), value.decode("utf-8", "replace"), shown, number)
                elif key.startswith(b"S6_"):
                    migration.variable(ctx, key.decode("ascii"), shown, number)
    size(ctx, merged, origin)


def size(ctx: Context, merged: dict[bytes, bytes], origin: dict[bytes, str]) -> None:
    """The boot's own limit (envfile.too_large) on the env files, plus this system's environment
    when the tree is this system's; a warning when the env files alone take half of it."""
    directory = f"{paths.ETC}/envs"
    env = dict(merged)
    if ctx.live:
        for key, value in ctx.environ.items():
            name = os.fsencode(key)
            env[name] = os.fsencode(value)
            origin.pop(name, None)
    problem = envfile.too_large(env, origin)
    if problem:
        ctx.error(directory, None, *problem.split(" — ", 1))
        return
    used, room = envfile.exec_size(merged), envfile.exec_limit() - envfile.ARGV_ROOM
    if used > room // 2:
        ctx.warning(
            directory,
            None,
            f"the env files set {envfile.human(used)} of the {envfile.human(room)} of environment each program "
            "can be given (ARG_MAX here): the container's own environment adds to it, and past the limit "
            "the boot is refused",
            "keep large data in files the programs read",
        )


def environment(ctx: Context) -> None:
    """The IGNITY_* and S6_* variables of the environment (this system's only: see check.run)."""
    for key in sorted(ctx.environ):
        if key.startswith("IGNITY_"):
            ctx.settings[key] = ctx.environ[key]
            setting(ctx, key, ctx.environ[key], ENVIRONMENT, None)
        elif key.startswith("S6_"):
            migration.variable(ctx, key, ENVIRONMENT, None)
    if ctx.environ.get("USER"):
        ctx.mapped_user = ctx.environ["USER"]


def setting(ctx: Context, name: str, value: str, path: str, line: int | None) -> None:
    if name not in config.KNOWN:
        close = did_you_mean(name, config.KNOWN)
        ctx.warning(
            path,
            line,
            f"unknown variable {name}: Ignity ignores it",
            f"did you mean {close}?" if close else "remove it (known: docs/reference.md, Settings)",
        )
        return
    try:
        config.from_env({name: value})
    except IgnityError as e:
        default = config.KNOWN[name][0]
        ctx.error(path, line, str(e), f"correct it, or leave it empty for the default ({default})")
