"""The env file format of SPEC.md, and the merge of env files with the environment.

Files are read as bytes and values are kept as bytes: an env file is not
required to be UTF-8, and a value must reach the program exactly as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from ignity.errors import IgnityError

_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")
_BLANK = b" \t"


def parse(data: bytes, source: str) -> dict[bytes, bytes]:
    """Parse one env file. Errors name `source` and the 1-based line number.

    Blank lines and lines whose first non-blank character is `#` are skipped;
    spaces and tabs around NAME and around `=` are dropped; VALUE is the rest
    of the line, literally (a CR before the newline is part of it).
    """
    result: dict[bytes, bytes] = {}
    for number, line in enumerate(data.split(b"\n"), start=1):
        stripped = line.strip(_BLANK)
        if not stripped or stripped.startswith(b"#"):
            continue
        if b"\0" in line:
            raise IgnityError(f"{source}:{number}: NUL byte in line")
        name, sep, _ = stripped.partition(b"=")
        if not sep:
            raise IgnityError(f"{source}:{number}: expected NAME=VALUE, got {_show(stripped)}")
        name = name.rstrip(_BLANK)
        if not _NAME.match(name):
            raise IgnityError(f"{source}:{number}: invalid variable name {_show(name)}")
        result[name] = line.partition(b"=")[2].lstrip(_BLANK)
    return result


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


def merge(files: Iterable[str], environ: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """Env files in order, each overriding the earlier ones, then `environ` on top."""
    merged: dict[bytes, bytes] = {}
    for path in files:
        merged.update(read_file(path))
    merged.update(environ)
    return merged
