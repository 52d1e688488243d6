"""JSON output without the json module, which `python3-minimal` does not ship.

Ignity only ever writes JSON (`ignity check --json`, `ignity status --json`,
service output in json mode), from dicts, lists, strings, numbers, booleans
and None; this is the whole encoder for that, byte-compatible with
`json.dumps(obj, indent=...)` for those types.
"""

from __future__ import annotations

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def string(text: str) -> str:
    """A JSON string literal; non-ASCII kept as \\uXXXX (surrogate pairs), as json.dumps does."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    out.append('"')
    return "".join(out)


def dumps(obj: object, indent: int | None = None, _level: int = 0) -> str:
    """`obj` as JSON; with `indent`, laid out as json.dumps(obj, indent=indent) does."""
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, str):
        return string(obj)
    if isinstance(obj, dict):
        items = [f"{string(str(k))}: {dumps(v, indent, _level + 1)}" for k, v in obj.items()]
        return _join(items, "{", "}", indent, _level)
    if isinstance(obj, (list, tuple)):
        return _join([dumps(v, indent, _level + 1) for v in obj], "[", "]", indent, _level)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _join(items: list[str], start: str, end: str, indent: int | None, level: int) -> str:
    if not items:
        return start + end
    if indent is None:
        return start + ", ".join(items) + end
    inner = "\n" + " " * (indent * (level + 1))
    return start + inner + ("," + inner).join(items) + "\n" + " " * (indent * level) + end
