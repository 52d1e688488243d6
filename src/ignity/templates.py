"""The programs Ignity writes (sh, execline, awk) are files in ignity/sh/; this fills them.

A sh template holds one block between `# start filled` and `# end filled` of
`name=value` lines. `render` replaces each value, quoted for sh, and copies the
rest byte for byte. Its placeholder values are valid sh, so shellcheck reads
the template itself. An execline template names its values `@name@` instead.
"""

from __future__ import annotations

import os

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sh")
START = "# start filled"
END = "# end filled"
# shlex.quote's safe characters, without importing shlex (and re) at boot.
SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-"

_cache: dict[str, str] = {}


def read(name: str) -> str:
    """The template `name` (e.g. `finish.sh`), as shipped."""
    text = _cache.get(name)
    if text is None:
        with open(os.path.join(DIR, name), encoding="utf-8") as f:
            text = _cache[name] = f.read()
    return text


def quote(value: str) -> str:
    """`value` as one sh word: as is when every character is safe, else single-quoted (shlex.quote's rule)."""
    if value and not value.strip(SAFE):  # every character is safe
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def quote_execline(value: str) -> str:
    """`value` as one execline word: as is when safe, else double-quoted with backslashes."""
    if value and not value.strip(SAFE):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(name: str, values: dict[str, str | int]) -> str:
    """The template `name` with `values` filled in; every name in its block, and no other, must be given."""
    text = read(name)
    if START not in text:
        for key, value in values.items():
            marker = f"@{key}@"
            if marker not in text:
                raise ValueError(f"{name}: no {marker}")
            text = text.replace(marker, quote_execline(str(value)))
        import re  # install time only: execline templates are not filled at boot

        left = re.findall(r"@[a-z_]+@", text)
        if left:
            raise ValueError(f"{name}: {left[0]} not given")
        return text
    head, _, rest = text.partition(START + "\n")
    block, _, body = rest.partition(END + "\n")
    names = [line.split("=", 1)[0] for line in block.splitlines()]
    if sorted(names) != sorted(values):
        raise ValueError(f"{name}: its block names {sorted(names)}, given {sorted(values)}")
    filled = "".join(f"{key}={quote(str(values[key]))}\n" for key in names)
    return f"{head}{START}\n{filled}{END}\n{body}"
