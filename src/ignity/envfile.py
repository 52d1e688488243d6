"""The env file format of SPEC.md, the merge of env files with the environment,
and whether the merged environment fits in one exec.

Files are read as bytes and values are kept as bytes: an env file is not
required to be UTF-8, and a value must reach the program exactly as written.
"""

from __future__ import annotations

import os

from ignity.errors import IgnityError

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

_FIRST = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_REST = _FIRST | frozenset(b"0123456789")
# The kernel's limit on one NAME=VALUE string passed to exec (MAX_ARG_STRLEN).
MAX_VARIABLE = 131072
# The kernel's limit on argv+envp of one exec (fs/exec.c): a quarter of the
# stack limit (sysconf's ARG_MAX), capped at 3/4 of 8 MiB, and never under 32 pages.
EXEC_CAP = 6 << 20
EXEC_FLOOR = 131072
# Kept out of that limit for the arguments of each exec besides the CMD's: shebangs,
# with-env's chain, a service's argv, the CMD's waiter.
ARGV_ROOM = 32768
# Each string of argv and envp also costs its pointer in the new program's stack.
POINTER = 8
# The source of a variable that is neither an env file's nor the container's.
SECRETS = "secret files (FILE__*)"
_BLANK = b" \t"


def parse(data: bytes, source: str) -> dict[bytes, bytes]:
    """Parse one env file. Errors name `source` and the 1-based line number.

    Blank lines and lines whose first non-blank character is `#` are skipped;
    spaces and tabs around NAME and around `=` are dropped; VALUE is the rest
    of the line, literally. A line ending in CR (a file with Windows line
    endings) is an error rather than a value with a hidden CR in it.
    """
    result: dict[bytes, bytes] = {}
    for number, line in enumerate(data.split(b"\n"), start=1):
        stripped = line.strip(_BLANK)
        if not stripped or stripped.startswith(b"#"):
            continue
        if line.endswith(b"\r"):
            raise IgnityError(
                f"{source}:{number}: line ends with a carriage return (Windows line endings): "
                "convert the file with dos2unix or sed -i 's/\\r$//'"
            )
        if b"\0" in line:
            raise IgnityError(f"{source}:{number}: NUL byte in line")
        name, sep, _ = stripped.partition(b"=")
        if not sep:
            raise IgnityError(f"{source}:{number}: expected NAME=VALUE, got {_show(stripped)}")
        name = name.rstrip(_BLANK)
        if not valid_name(name):
            raise IgnityError(f"{source}:{number}: invalid variable name {_show(name)}")
        value = line.partition(b"=")[2].lstrip(_BLANK)
        if len(name) + len(value) + 2 > MAX_VARIABLE:
            raise IgnityError(
                f"{source}:{number}: {name.decode()} is {len(value)} bytes long; "
                f"a variable can hold at most {MAX_VARIABLE - len(name) - 2} (the kernel's limit)"
            )
        result[name] = value
    return result


def valid_name(name: bytes) -> bool:
    """[A-Za-z_][A-Za-z0-9_]*, checked without `re` (a boot-time import saved)."""
    return bool(name) and name[0] in _FIRST and all(c in _REST for c in name)


def _show(raw: bytes) -> str:
    text = raw.decode("utf-8", "backslashreplace")
    return repr(text if len(text) <= 60 else text[:57] + "...")


def env_files(directory: str) -> list[str]:
    """The env files of `directory` in byte order of their names, dot-files skipped."""
    try:
        names = sorted(os.listdir(os.fsencode(directory)))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise IgnityError(f"{directory}: cannot list: {e.strerror}") from None
    return [os.fsdecode(os.path.join(os.fsencode(directory), n)) for n in names if not n.startswith(b".")]


def read_file(path: str) -> dict[bytes, bytes]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise IgnityError(f"{path}: is a directory, expected an env file") from None
    except OSError as e:
        raise IgnityError(f"{path}: cannot read: {e.strerror}") from None
    return parse(data, path)


def own_variables(merged: Mapping[bytes, bytes]) -> dict[str, str]:
    """The variables Ignity itself reads (IGNITY_*, USER, USERMAP_*), as text."""
    return {
        k.decode("ascii"): v.decode("utf-8", "replace")
        for k, v in merged.items()
        if k.isascii() and (k.startswith((b"IGNITY_", b"USERMAP_")) or k == b"USER")
    }


def merge(
    files: Iterable[str], environ: Mapping[bytes, bytes], origin: dict[bytes, str] | None = None
) -> dict[bytes, bytes]:
    """Env files in order, each overriding the earlier ones, then `environ` on top.

    `origin`, when given, gets the env file each variable comes from (none for `environ`'s).
    """
    merged: dict[bytes, bytes] = {}
    for path in files:
        variables = read_file(path)
        merged.update(variables)
        if origin is not None:
            origin.update(dict.fromkeys(variables, path))
    merged.update(environ)
    if origin is not None:
        for name in environ:
            origin.pop(name, None)
    return merged


def exec_limit() -> int:
    """Bytes of argv+envp one exec can take here (the kernel's rule; see EXEC_CAP)."""
    try:
        arg_max = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        arg_max = -1
    if arg_max <= 0:  # unknown: the kernel's own default stack of 8 MiB
        arg_max = 2 << 20
    return max(min(arg_max, EXEC_CAP), EXEC_FLOOR)


def exec_size(env: Mapping[bytes, bytes]) -> int:
    """Bytes `env` takes in each exec: every NAME=VALUE, its NUL and its pointer."""
    return sum(len(k) + len(v) + 2 + POINTER for k, v in env.items())


def argv_size(argv: Sequence[str]) -> int:
    return sum(len(os.fsencode(word)) + 1 + POINTER for word in argv)


def too_large(
    env: Mapping[bytes, bytes], origin: Mapping[bytes, str], argv: Sequence[str] = (), limit: int | None = None
) -> str | None:
    """Why `env` cannot be passed to the programs Ignity runs, in one line; None when it fits.

    Every program gets it (the CMD, with-env in each init script and service),
    with its arguments: `argv` (the CMD's words) and ARGV_ROOM. `origin` names
    the source of each variable (an env file, SECRETS); the others are the container's.
    """
    limit = exec_limit() if limit is None else limit
    size = exec_size(env)
    room = ARGV_ROOM + argv_size(argv)
    if size + room <= limit:
        return None
    by_source: dict[str, int] = {}
    for name, value in env.items():
        source = origin.get(name, "")
        by_source[source] = by_source.get(source, 0) + len(name) + len(value) + 2 + POINTER
    files = {k: v for k, v in by_source.items() if k not in ("", SECRETS)}
    parts: list[str] = []
    fixes: dict[int, str] = {}
    if len(files) == 1:
        parts.extend(f"{path} {human(n)}" for path, n in files.items())
    elif files:
        largest = max(files, key=lambda k: files[k])
        parts.append(f"{len(files)} env files {human(sum(files.values()))}, largest {largest} {human(files[largest])}")
    if files:
        fixes[sum(files.values())] = "make the env files smaller"
    if SECRETS in by_source:
        parts.append(f"{SECRETS} {human(by_source[SECRETS])}")
        fixes[by_source[SECRETS]] = "use fewer or smaller secret files"
    if "" in by_source:
        parts.append(f"the container's environment {human(by_source[''])}")
        fixes[by_source[""]] = "pass less in the container's environment"
    cmd = f" and the CMD's {human(argv_size(argv))}" if argv else ""
    return (
        f"the environment is too large to pass to programs: {len(env)} variables, {human(size)} "
        f"({'; '.join(parts)}), over the {human(limit)} one exec takes for environment and arguments "
        f"(the kernel's ARG_MAX: a quarter of the stack limit, at most {human(EXEC_CAP)}), "
        f"less {human(ARGV_ROOM)} kept for arguments{cmd} — {fixes[max(fixes)]} "
        "(keep large data in files the programs read), or raise the stack limit (ulimit -s)"
    )


def human(size: int) -> str:
    """Bytes as people read them: 3.1 MiB, 12.0 KiB, 900 bytes."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KiB"
    return f"{size} bytes"
