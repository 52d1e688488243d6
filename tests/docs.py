"""The docs' pages (docs/*.md) and README.md, read by the tests that run their examples.

Tests take the examples from the pages, never a copy: page() is a page's text,
blocks() its fenced code blocks in one language, section() the text under one heading.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def path(name: str) -> Path:
    """docs/NAME.md, or README.md for "README"."""
    return REPO / "README.md" if name == "README" else DOCS / f"{name}.md"


def page(name: str) -> str:
    """The page as the site shows it: its `--8<-- "FILE"` lines replaced by FILE (pymdownx.snippets),
    so a test of a block reads what the page shows; README.md as it is."""
    text = path(name).read_text()
    return text if name == "README" else re.sub(r'^--8<-- "([^"]+)"$', _snippet, text, flags=re.MULTILINE)


def _snippet(match: re.Match[str]) -> str:
    file, _, part = match.group(1).partition(":")
    text = (REPO / file).read_text()
    if part:  # between the lines that mark --8<-- [start:PART] and [end:PART]
        text = text.split(f"--8<-- [start:{part}]", 1)[1].split("\n", 1)[1]
        text = text.split(f"--8<-- [end:{part}]", 1)[0].rsplit("\n", 1)[0] + "\n"
    return text.removesuffix("\n")


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


def tree(block: str) -> tuple[str, dict[str, str]]:
    """A directory drawn as `tree` draws it, each file with its content on the right:
    (the directory, {file: content}); a line under a file that starts with │ continues it."""
    lines = block.splitlines()
    files: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if "── " in line:
            name, _, content = line.split("── ", 1)[1].partition(" ")
            files[name] = content.strip() + "\n"
        elif line.startswith("│"):
            files[name] += line[1:].strip() + "\n"
    return lines[0], files


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


def every_block() -> list[tuple[str, str, str]]:
    """(page, language, block) for every fenced block of README.md and docs/*.md, as the site shows them."""
    found = []
    for name in names():
        text = page(name)
        for language in sorted(set(re.findall(r"^ *```(\S*) *$", text, re.MULTILINE))):
            found.extend((name, language, block) for block in blocks(text, language))
    return found
