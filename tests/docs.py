"""The docs' pages (docs/*.md) and README.md, read by the tests that run their examples.

Tests take the examples from the pages, never a copy: page() is a page's text,
blocks() its fenced code blocks in one language, section() the text under one heading.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def path(name: str) -> Path:
    """docs/NAME.md, or README.md for "README"."""
    return REPO / "README.md" if name == "README" else DOCS / f"{name}.md"


def page(name: str) -> str:
    return path(name).read_text()


def names() -> list[str]:
    """Every page: README first, then docs/*.md by name."""
    return ["README", *sorted(p.stem for p in DOCS.glob("*.md"))]


def section(text: str, heading: str) -> str:
    """The text under `heading` (a line such as "## Exit status") up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    after = text.split(f"\n{heading}\n", 1)[1] if not text.startswith(f"{heading}\n") else text[len(heading) + 1 :]
    ends = [after.find(f"\n{'#' * n} ") for n in range(1, len(level) + 1)]
    ends = [e for e in ends if e >= 0]
    return after[: min(ends)] if ends else after


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of `text` whose fence names `language` (```sh), in order, without the
    fences; a block indented under a list item loses that indentation."""
    found: list[str] = []
    fence: tuple[str, str] | None = None  # (indentation, language) of the open fence
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip(" ")
        if not stripped.startswith("```"):
            if fence is not None:
                lines.append(line.removeprefix(fence[0]))
        elif fence is None:
            fence, lines = (line[: len(line) - len(stripped)], stripped.strip()[3:]), []
        else:
            if fence[1] == language:
                found.append("".join(lines))
            fence = None
    return found


# --- docs/reference.md's commands: what `ignity COMMAND --help` prints ---------------------------

CLI_BEGIN = "<!-- cli: made by `python -m tests.docs --write` from `ignity --help` -->"
CLI_END = "<!-- /cli -->"
COMMANDS = ("install", "check", "status", "start", "stop", "restart", "signal", "halt", "migrate", "logs", "reload")


def help_text(command: str | None) -> str:
    """`ignity [COMMAND] --help`, as a terminal 100 columns wide shows it."""
    import os
    import subprocess
    import sys

    argv = [sys.executable, "-m", "ignity", *([command] if command else []), "--help"]
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout


def cli_reference() -> str:
    """The markdown between CLI_BEGIN and CLI_END: each command's --help."""
    parts = []
    for command in (None, *COMMANDS):
        title = f"ignity {command}" if command else "ignity"
        parts.append(f"### `{title}`\n\n```text\n{help_text(command).rstrip()}\n```\n")
    return "\n".join(parts)


def cli_block(text: str) -> str:
    return text[text.index(CLI_BEGIN) + len(CLI_BEGIN) : text.index(CLI_END)].strip("\n")


def main(argv: list[str]) -> int:
    """--write: put cli_reference() into docs/reference.md; else print it."""
    made = cli_reference()
    if argv[1:] != ["--write"]:
        print(made)
        return 0
    target = path("reference")
    text = target.read_text()
    start, end = text.index(CLI_BEGIN) + len(CLI_BEGIN), text.index(CLI_END)
    target.write_text(text[:start] + "\n" + made + "\n" + text[end:])
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv))
