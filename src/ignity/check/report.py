"""What `ignity check` reports: one Problem a line, and the small text helpers every rule shares."""

from __future__ import annotations

import os

from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Iterable

ERROR = "error"
WARNING = "warning"


class Problem:
    """One thing wrong in the tree: where (path as in the image, line or None), what, and how to fix it."""

    __slots__ = ("fix", "line", "path", "problem", "severity")

    def __init__(self, severity: str, path: str, line: int | None, problem: str, fix: str = "") -> None:
        self.severity, self.path, self.line, self.problem, self.fix = severity, path, line, problem, fix

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.problem}" + (f" — {self.fix}" if self.fix else "")

    def __repr__(self) -> str:
        return f"Problem({self.severity!r}, {self.path!r}, {self.line!r}, {self.problem!r}, {self.fix!r})"

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "problem": self.problem, "fix": self.fix}


def show(name: str) -> str:
    """A file name fit for a one-line message (a newline in a name would split it)."""
    return name if name.isprintable() else repr(name)[1:-1]


def split_error(error: IgnityError, source: str) -> tuple[int | None, str]:
    """(line, problem) out of an IgnityError message `SOURCE:LINE: problem`."""
    message = str(error)
    if not message.startswith(source + ":"):
        return None, message
    rest = message[len(source) + 1 :]
    number, sep, problem = rest.partition(": ")
    if sep and number.isdigit():
        return int(number), problem
    return None, rest.lstrip()


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`.

    The optimal-string-alignment distance, in O(len(a) * len(b)): the names
    compared are short, and difflib is not in python3-minimal.
    """
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[len(b)]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word`, if it is close enough to be a typo of it (first one on a tie).

    Close enough: one edit for every six characters of the longer name, at
    least one; so IGNITY_KILL_GRACETIM finds IGNITY_KILL_GRACETIME and
    IGNITY_COLOUR finds nothing.
    """
    best, best_distance = None, 0
    for choice in choices:
        d = distance(word, choice)
        if d <= max(1, max(len(word), len(choice)) // 6) and (best is None or d < best_distance):
            best, best_distance = choice, d
    return best


def number(text: str) -> bool:
    """What perms reads as an id rather than a name."""
    return text.isascii() and text.isdigit()


def service_name_problem(name: str) -> str | None:
    """Why s6 cannot take `name` as a service directory name, or None."""
    if "/" in name:
        return "service name contains '/'"
    if "\n" in name:
        return "service name contains a newline"
    if len(os.fsencode(name)) > 255:  # NAME_MAX
        return "service name is longer than 255 bytes"
    return None
