"""What `ignity migrate` did: each conversion (from, to, how) and each construct it left (where, why, what to do)."""

from __future__ import annotations


class Report:
    """The conversions and the constructs not converted, in the order they were met."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.converted: list[tuple[str, str, str]] = []  # (from, to, note)
        self.left: list[tuple[str, int | None, str, str]] = []  # (path, line, why, what to do)
        self.notes: list[str] = []

    def convert(self, origin: str, target: str, note: str = "") -> None:
        self.converted.append((origin, target, note))

    def leave(self, path: str, line: int | None, why: str, fix: str) -> None:
        self.left.append((path, line, why, fix))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def text(self) -> str:
        out = [f"ignity migrate --from {self.source}"]
        if self.converted:
            out.append("converted:")
            for origin, target, note in self.converted:
                out.append(f"  {origin} -> {target}" + (f" ({note})" if note else ""))
        if self.notes:
            out.append("changed behaviour:")
            out.extend(f"  {n}" for n in self.notes)
        if self.left:
            out.append("not converted:")
            for path, line, why, fix in self.left:
                where = path if line is None else f"{path}:{line}"
                out.append(f"  {where}: {why} — {fix}")
        if not (self.converted or self.left):
            out.append("nothing to convert")
        return "\n".join(out) + "\n"
