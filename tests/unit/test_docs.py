"""The docs: every page is in the site's nav, every link of the README leads somewhere, the
README's examples are files the tests and the demo run, its numbers are measured ones, the
commands' reference is what --help prints, and every --help names an existing page.

`mkdocs build --strict` (scripts/test) checks the site itself: links, anchors, orphan pages.
"""

from __future__ import annotations

import re

import pytest

from tests import docs

MKDOCS = docs.REPO / "mkdocs.yml"


def nav() -> list[str]:
    """The pages mkdocs.yml's nav lists (mkdocs.yml has no other .md name after `nav:`)."""
    return re.findall(r"[\w-]+\.md", MKDOCS.read_text().split("\nnav:\n", 1)[1])


def test_every_page_is_in_the_nav_once_and_every_nav_entry_exists():
    pages = sorted(p.name for p in docs.DOCS.glob("*.md"))
    assert sorted(nav()) == pages


def _links(text: str) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


def test_every_link_of_the_readme_leads_to_a_file():
    links = _links(docs.page("README"))
    assert len(links) > 15, links
    for target in links:
        file, _, anchor = target.partition("#")
        assert (docs.REPO / file).is_file(), target
        if anchor:  # the id mkdocs gives the heading (its toc extension's slug)
            headings = re.findall(r"^#+ (.+)$", (docs.REPO / file).read_text(), re.MULTILINE)
            slugs = {re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", h.lower()).strip()) for h in headings}
            assert anchor in slugs, target


def test_the_readme_links_to_every_page_but_the_home():
    linked = {t.split("#", 1)[0] for t in _links(docs.page("README"))}
    for name in docs.names()[1:]:
        if name not in ("index", "security"):  # the site's home; SECURITY.md is linked itself
            assert f"docs/{name}.md" in linked, name
    assert "SECURITY.md" in linked


def test_the_readme_is_a_front_page():
    text = docs.page("README")
    assert len(text.splitlines()) < 200
    first = docs.blocks(text, "sh")[0].splitlines()  # the project's two commands come first
    assert [line.split()[0] for line in first] == ["scripts/demo", "scripts/test"]
    assert all((docs.REPO / line.split()[0]).is_file() for line in first)


def test_the_readmes_examples_are_the_files_the_suite_and_the_demo_run():
    text = docs.page("README")
    minimal = (docs.REPO / "examples" / "Dockerfile.minimal").read_text().splitlines()
    [dockerfile] = docs.blocks(text, "Dockerfile")
    assert len(dockerfile.splitlines()) == 3
    for line in dockerfile.splitlines():  # the e2e suite builds examples/Dockerfile.minimal
        assert line in minimal, line
    service = docs.blocks(text, "sh")[1]
    assert service == (docs.REPO / "examples" / "demo" / "etc-ignity" / "services" / "clock" / "run").read_text()


def test_the_readmes_numbers_are_measured_ones():
    """Each figure of the comparison table is in bench/RESULTS.md or docs/benchmarks.md."""
    text = docs.page("README")
    table = text[text.index("## Against") : text.index("## Documentation")]
    measured = (docs.REPO / "bench" / "RESULTS.md").read_text() + docs.page("benchmarks")
    figures = re.findall(r"\d+(?:\.\d+)? (?:ms|MB|s)\b", table)
    assert len(figures) >= 10, figures
    for figure in figures:
        assert figure in measured, figure


def test_the_commands_reference_is_what_help_prints():
    block = docs.cli_block(docs.page("reference"))
    assert block == docs.cli_reference().strip("\n"), "run `.venv/bin/python -m tests.docs --write`"


@pytest.mark.parametrize("command", [None, *docs.COMMANDS])
def test_each_help_names_an_existing_docs_page(command: str | None):
    shown = " ".join(docs.help_text(command).split())
    pages = re.findall(r"Docs: docs/([\w-]+)\.md", shown)
    assert len(pages) == 1, shown
    assert docs.path(pages[0]).is_file(), pages


def test_blocks_and_section():
    text = "# T\n\n```sh\na\n```\n\n## S\n\n- x\n\n  ```sh\n  b\n  ```\n\n```text\nc\n```\n\n## U\nd\n"
    assert docs.blocks(text, "sh") == ["a\n", "b\n"]
    assert docs.blocks(text, "text") == ["c\n"]
    assert docs.section(text, "## S").strip().endswith("```") and "d" not in docs.section(text, "## S")
