"""The tested-on table of docs/how-it-works.md, made from what the e2e suite runs.

The rows are the (engine, base) pairs tests/e2e/test_bases.py is parametrised
over (its `engines` and `bases` marks, the wheel test's included); the
versions are read from each base's rootfs (its dpkg status: Python, s6,
execline, pip) and from the host (the engines' packages). test_matrix.py
fails when that page's table is not this one; to update it:

    .venv/bin/python -m tests.e2e.matrix --write     # as root (reads the cached rootfs)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests import docs
from tests.e2e import test_bases
from tests.e2e.images import BASES, Base, packages, python_version, upstream

BEGIN = "<!-- tested-on: made by `python -m tests.e2e.matrix --write` from tests/e2e/test_bases.py -->"
END = "<!-- /tested-on -->"
PAGE = docs.path("how-it-works")
ENGINE_PACKAGES = {"podman": "podman", "docker": "docker.io"}
PYTHON_KIND = {"full": "python3", "minimal": "python3-minimal only", "pip": "python3 + python3-pip"}


def _marks(function: object) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for item in [*getattr(function, "pytestmark", []), *test_bases.pytestmark]:
        mark = item.mark if isinstance(item, pytest.MarkDecorator) else item
        assert isinstance(mark, pytest.Mark)
        found.setdefault(mark.name, tuple(mark.args))  # the test's own mark first, as pytest does
    return found


def pairs() -> list[tuple[str, Base, list[str]]]:
    """(engine, base, the test_bases tests run on it), in the table's order."""
    runs: dict[tuple[str, str], list[str]] = {}
    for name in dir(test_bases):
        function = getattr(test_bases, name)
        if not (name.startswith("test_") and callable(function)):
            continue
        marks = _marks(function)
        for engine in marks.get("engines", ()):
            for base in marks.get("bases", ()):
                runs.setdefault((engine, base), []).append(name)
    order = list(BASES)
    return [
        (engine, BASES[base], sorted(tests))
        for (engine, base), tests in sorted(runs.items(), key=lambda kv: (kv[0][0] != "podman", order.index(kv[0][1])))
    ]


def engine_version(engine: str) -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", ENGINE_PACKAGES[engine]], capture_output=True, text=True
    )
    return upstream(done.stdout.strip()).split("+")[0] if done.returncode == 0 else "not installed"


def table() -> str:
    rows = [
        "| engine | Debian | Python | s6 | execline | pip | what runs |",
        "|---|---|---|---|---|---|---|",
    ]
    what = {
        "test_core_lifecycle_with_readiness_and_status": "lifecycle, readiness, status --json",
        "test_with_env_passes_every_value_exactly": "with-env",
        "test_ignity_check_on_a_good_and_a_bad_tree": "check",
        "test_seed_archive_is_where_the_bases_python_finds_it": "seed archive",
        "test_stop_takes_the_services_stop_time": "stop",
        "test_image_from_the_wheel_runs_the_lifecycle": "wheel",
    }

    def order(test: str) -> int:
        return list(what).index(test) if test in what else len(what)

    for engine, base, tests in pairs():
        have = packages(base)
        pip = upstream(have["python3-pip"]).split("+")[0] if "python3-pip" in have else "-"
        rows.append(
            f"| {engine} {engine_version(engine)} | {base.debian} ({base.suite}) | "
            f"{python_version(base)} ({PYTHON_KIND[base.variant]}) | {upstream(have['s6'])} | "
            f"{upstream(have['execline'])} | {pip} | {', '.join(what.get(t, t) for t in sorted(tests, key=order))} |"
        )
    return "\n".join(rows)


def readme_block(text: str) -> str | None:
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()


def main(argv: list[str]) -> int:
    made = table()
    if argv[1:] == ["--write"]:
        readme = PAGE
        text = readme.read_text()
        if readme_block(text) is None:
            print(f"{PAGE} has no {BEGIN} ... {END} block", file=sys.stderr)
            return 1
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        readme.write_text(text[:start] + "\n" + made + "\n" + text[end:])
    else:
        print(made)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
