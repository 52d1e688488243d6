"""The env file format of SPEC.md, and the merge of env files with the environment.

Files are read as bytes and values are kept as bytes: an env file is not
required to be UTF-8, and a value must reach the program exactly as written.
"""

from __future__ import annotations

import os

from ignity.errors import IgnityError

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_FIRST = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_REST = _FIRST | frozenset(b"0123456789")
# The kernel's limit on one NAME=VALUE string passed to exec (MAX_ARG_STRLEN).
MAX_VARIABLE = 131072
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


def merge(files: Iterable[str], environ: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """Env files in order, each overriding the earlier ones, then `environ` on top."""
    merged: dict[bytes, bytes] = {}
    for path in files:
        merged.update(read_file(path))
    merged.update(environ)
    return merged
