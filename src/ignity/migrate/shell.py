"""sh text for generated run scripts: words quoted for any value, run-time variables kept as `"${X}"`."""

from __future__ import annotations

# A run-time reference inside a parsed word: NUL never occurs in a config file, so it marks one safely.
MARK = "\0"


def quote(text: str) -> str:
    """One sh word whose value is `text`, whatever it holds (quotes, $, backticks, newlines)."""
    return "'" + text.replace("'", "'\\''") + "'" if text else "''"


def word(text: str) -> str:
    """One sh word: literal pieces quoted, each MARK{NAME}MARK piece as "${NAME}" (expanded at run time)."""
    pieces = text.split(MARK)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append('"${' + piece + '}"')
        elif piece or len(pieces) == 1:
            out.append(quote(piece))
    return "".join(out)


def split(command: str) -> list[str]:
    """POSIX shell-like words of `command` (what supervisord's shlex.split gives), without shlex."""
    words: list[str] = []
    current: list[str] = []
    started = False
    i, n = 0, len(command)
    while i < n:
        c = command[i]
        if c in " \t\n\r":
            if started:
                words.append("".join(current))
                current, started = [], False
        elif c == "\\":
            started = True
            if i + 1 < n:
                i += 1
                current.append(command[i])
        elif c == "'":
            started = True
            end = command.find("'", i + 1)
            if end < 0:
                raise ValueError("no closing quotation")
            current.append(command[i + 1 : end])
            i = end
        elif c == '"':
            started = True
            i += 1
            while i < n and command[i] != '"':
                if command[i] == "\\" and i + 1 < n and command[i + 1] in '"\\':
                    i += 1
                current.append(command[i])
                i += 1
            if i >= n:
                raise ValueError("no closing quotation")
        else:
            started = True
            current.append(c)
        i += 1
    if started:
        words.append("".join(current))
    return words
