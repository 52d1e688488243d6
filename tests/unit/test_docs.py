"""The docs: every page is in the site's nav, every link of the README leads somewhere, the
README's examples are files the tests and the demo run, its numbers are measured ones, the
commands' reference is what --help prints, and every --help names an existing page.

`mkdocs build --strict` (scripts/test) checks the site itself: links, anchors, orphan pages.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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


# --- the pages' examples that no other test runs -----------------------------------------------


def _ignity_lines() -> list[tuple[str, str]]:
    """(page, command line) for every `ignity ...` command in a code block of the docs (not a synopsis)."""
    found = []
    for name in docs.names():
        text = docs.page(name)
        for language in ("", "sh", "text", "dockerfile", "Dockerfile"):
            for block in docs.blocks(text, language):
                for line in block.splitlines():
                    for part in re.split(r"&&|\|\||;", line.split(" #", 1)[0]):
                        words = re.sub(r"^(RUN|exec)\s+", "", part.strip())
                        if words.startswith("ignity "):
                            found.append((name, words))
    return found


def test_every_option_of_a_synopsis_in_the_docs_is_the_commands():
    """`ignity logs [-f] [-n N] [NAME...]`: each option is one --help lists."""
    synopses = [words for _, words in _ignity_lines() if "[" in words]
    assert synopses
    for words in synopses:
        command = words.split()[1]
        shown = docs.help_text(command)
        for option in re.findall(r"\[(-[\w-]+)", words):
            assert re.search(rf"(^|[\s,]){option}\b", shown), (words, option)


def test_every_ignity_command_of_the_docs_parses(monkeypatch: pytest.MonkeyPatch):
    """Each runs through `ignity`'s own parsers, with the commands' work replaced by a record."""
    import shlex

    from ignity import check, cli, control, install, logs, migrate, reload, svstatus

    ran: list[tuple[str, ...]] = []

    def record(name: str):
        def done(*args: object) -> int:
            ran.append((name, *map(str, args)))
            return 0

        return done

    for module in (check, install, logs, migrate, reload):
        monkeypatch.setattr(module, "main", record(module.__name__.rsplit(".", 1)[1]))
    monkeypatch.setattr(cli, "halt", record("halt"))
    monkeypatch.setattr(svstatus, "main", lambda argv: record("status")(svstatus.parser().parse_args(argv)))
    monkeypatch.setattr(control, "main", lambda c, argv: record(c)(control.parser(c).parse_args(argv)))
    lines = _ignity_lines()
    commands = {words.split()[1] for _, words in lines}
    assert {"install", "check", "migrate", "stop", "start", "restart", "signal", "halt", "reload"} <= commands
    for page, words in [(p, w) for p, w in lines if "[" not in w]:  # synopses: the test above
        argv = [w.replace("$1", "3") for w in shlex.split(words)[1:]]  # a finish script's $1
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 0, (page, words)
        assert ran[-1][0] == argv[0], (page, words, ran[-1])


def test_the_restart_policy_example_makes_a_service_that_checks_clean(tmp_path: Path):
    from tests.unit.test_check import clean

    [example] = docs.blocks(docs.page("restarts"), "sh")
    image = clean(tmp_path / "root")
    image.script("services/web/run", "exec sleep 1000")
    directory = image.root / "etc/ignity/services/web"
    subprocess.run(["sh", "-euc", example], cwd=directory, check=True)
    assert (directory / "restart-delay").read_text() == "1000 30000\n"
    assert (directory / "restart-limit").read_text() == "5 60000\n"
    assert image.problems() == []


@pytest.mark.parametrize(("code", "halts"), [("0", None), ("256", None), ("3", "halt 3"), ("143", "halt 143")])
def test_the_finish_example_halts_on_a_failure_only(tmp_path: Path, code: str, halts: str | None):
    [finish] = docs.blocks(docs.page("services"), "sh")
    (tmp_path / "ignity").write_text('#!/bin/sh\necho "$*" > "${0%/*}/called"\n')
    (tmp_path / "ignity").chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    subprocess.run(["sh", "-c", finish, "finish", code, "15"], env=env, check=True)
    called = tmp_path / "called"
    assert (called.read_text().strip() if called.exists() else None) == halts


def test_the_env_file_example_parses_as_the_page_says():
    from ignity import envfile

    [example] = [b for b in docs.blocks(docs.page("env"), "") if b.startswith("# /etc/ignity/envs/")]
    parsed = envfile.parse(example.encode(), "10-app")
    assert parsed == {
        b"APP_MODE": b"production",
        b"GREETING": b'hello "world"   # this comment is part of the value',
        b"EMPTY": b"",
    }


def test_every_path_of_the_development_tree_exists():
    [listing] = [b for b in docs.blocks(docs.page("how-it-works"), "") if b.startswith("src/ignity/")]
    parent = docs.REPO
    named = 0
    for line in listing.splitlines():
        if not line.startswith(" "):
            parent = docs.REPO / line.split()[0]
            assert parent.exists(), line
        paths = re.split(r"\s{2,}", line.strip())[0].split() if line.startswith("  ") else []
        for path in paths:  # the first column: files under the directory above (stages/a.py b.py: in stages/)
            found = parent / path if path == paths[0] else (parent / paths[0]).parent / path
            assert found.exists(), (line, path)
            named += 1
    assert named > 20, named


def test_the_perms_example_parses_in_both_forms():
    from ignity import perms

    [example] = [b for b in docs.blocks(docs.page("users"), "") if b.startswith("# PATH")]
    rules = perms.parse(example, "10-app", {"USERMAP_UID": "1000", "USERMAP_GID": "1000"})
    mysql = rules[0]
    assert (mysql.uid, mysql.gid, mysql.fmode, mysql.dmode) == (1000, 1000, 0o600, 0o700)
    assert [(r.path, r.recurse) for r in rules] == [("/var/lib/mysql", True), ("/srv/www", False)]


def test_the_logger_example_checks_clean(tmp_path: Path):
    from tests.unit.test_check import clean

    [listing] = [b for b in docs.blocks(docs.page("operating"), "") if b.startswith("/etc/ignity/services/myapp/")]
    files: dict[str, str] = {}
    name = ""
    for line in listing.splitlines():  # PATH   FIRST LINE, then the next lines under it
        path, _, content = line.strip().partition("#!") if line.startswith("/") else ("", "", line.strip())
        name = path.strip() or name
        files[name] = files.get(name, "") + (f"#!{content}" if path else content).split("  #", 1)[0].rstrip() + "\n"
    assert list(files) == ["/etc/ignity/services/myapp/run", "/etc/ignity/services/myapp/log/run"], files
    image = clean(tmp_path / "root")
    for path, content in files.items():
        image.file(path.removeprefix("/etc/ignity/"), content, mode=0o755)
    assert image.problems() == []


def _within(part: object, whole: object, where: str = "spec") -> None:
    """Every key and value of `part` is in `whole` (lists: each item of part within some item of whole)."""
    if isinstance(part, dict):
        assert isinstance(whole, dict), where
        for key, value in part.items():
            assert key in whole, f"{where}.{key}"
            _within(value, whole[key], f"{where}.{key}")
    elif isinstance(part, list):
        assert isinstance(whole, list), where
        for item in part:
            errors = []
            for candidate in whole:
                try:
                    _within(item, candidate, where)
                    break
                except AssertionError as e:
                    errors.append(str(e))
            else:
                raise AssertionError(f"{where}: {item!r} in none of {whole!r} ({errors})")
    else:
        assert part == whole, f"{where}: {part!r} != {whole!r}"


def test_the_kubernetes_settings_for_non_root_are_the_examples():
    """docs/users.md's pod spec is examples/kubernetes.yaml's (which the e2e suite runs), but for the
    container's name and image."""
    import yaml  # mkdocs's own dependency

    [block] = docs.blocks(docs.page("users"), "yaml")
    spec = yaml.safe_load(block)["spec"]
    for container in spec["containers"]:
        assert (container.pop("name"), container.pop("image")) == ("app", "my-image")
    manifest = yaml.safe_load_all((docs.REPO / "examples" / "kubernetes.yaml").read_text())
    [deployment] = [d for d in manifest if d and d.get("kind") == "Deployment"]
    _within(spec, deployment["spec"]["template"]["spec"])


# --- every block of the docs, and what checks it -------------------------------------------------

D = "tests/unit/test_docs.py::"
# Each code block of README.md and docs/*.md, by page and the start of its first line, and the test
# that runs or checks it. A block added to a page fails the test below until it is listed here.
# "output:" is what a command prints; the test named checks that output.
CHECKED = {
    ("README", "ADD dist/ignity-*-seed.tar.gz /"): D
    + "test_the_readmes_examples_are_the_files_the_suite_and_the_demo_run",
    ("README", "#!/usr/bin/with-env sh"): D + "test_the_readmes_examples_are_the_files_the_suite_and_the_demo_run",
    ("README", "scripts/demo    # boots examples/demo as"): D + "test_the_readme_is_a_front_page",
    ("getting-started", "scripts/demo    # boots examples/demo as"): D + "test_the_readme_is_a_front_page",
    (
        "getting-started",
        "init/10-prepare: GREETING is 'Hello from",
    ): "output: tests/integration/test_demo.py::test_the_demo_prints_what_getting_started_shows",
    (
        "getting-started",
        "# Ignity on the smallest Python Debian h",
    ): "tests/e2e/test_minimal.py::test_minimal_root_read_write",
    (
        "getting-started",
        "# Ignity in an image that has python3 bu",
    ): "tests/e2e/test_package.py::test_image_from_the_seed_archive_runs_the_lifecycle",
    (
        "getting-started",
        "# Ignity in an image with pip: the wheel",
    ): "tests/e2e/test_package.py::test_image_from_the_wheel_runs_the_lifecycle",
    ("deploying", "make seed"): "tests/e2e/test_examples.py::test_kubernetes_example_starts_serves_and_stops_cleanly",
    (
        "deploying",
        "[ignity/stage1] not PID 1 (parent 7 is s",
    ): "output: tests/integration/test_not_pid1.py::test_under_another_init_graces_logs_and_statuses_are_kept",
    ("env", "# /etc/ignity/envs/10-app"): D + "test_the_env_file_example_parses_as_the_page_says",
    ("env", "[ignity/stage1] the environment is too l"): "output: tests/integration/test_env_size.py::"
    "test_env_files_too_large_for_exec_refuse_the_boot_before_anything_runs",
    (
        "env",
        "podman secret create db_password ./db_pa",
    ): "tests/e2e/test_secrets.py::test_file_variable_from_a_podman_secret",
    (
        "env",
        "[ignity/stage1] FILE__DB_PASSWORD='/run/",
    ): "output: tests/integration/test_secrets.py::test_a_refused_file_stops_the_boot_before_anything_starts",
    (
        "from-s6-overlay",
        "RUN ignity migrate --from s6-overlay && ",
    ): "tests/unit/test_migrate_supervisord.py::test_docs_s6_overlay_report",
    (
        "from-s6-overlay",
        "ignity migrate --from s6-overlay",
    ): "output: tests/unit/test_migrate_supervisord.py::test_docs_s6_overlay_report",
    ("from-supervisord", "RUN ignity migrate --from supervisord /e"): D
    + "test_every_ignity_command_of_the_docs_parses",
    ("from-supervisord", "[program:worker]"): "tests/unit/test_migrate_supervisord.py::test_docs_supervisord_example",
    ("from-supervisord", "#!/bin/sh"): "output: tests/unit/test_migrate_supervisord.py::test_docs_supervisord_example",
    ("how-it-works", "src/ignity/"): D + "test_every_path_of_the_development_tree_exists",
    ("jobs", "/etc/ignity/services/backup/"): "tests/unit/test_jobs.py::test_the_docs_examples_are_valid",
    ("operating", "ignity stop web                 # down; "): D + "test_every_ignity_command_of_the_docs_parses",
    ("operating", "ignity logs [-f] [-n N] [NAME...]"): D
    + "test_every_option_of_a_synopsis_in_the_docs_is_the_commands",
    (
        "operating",
        "# mkdir /etc/ignity/services/newsvc && .",
    ): "tests/integration/test_reload.py::test_added_removed_changed_and_unchanged",
    (
        "operating",
        "NAME   STATE  READY  PID  FOR  LAST EXIT",
    ): "output: tests/unit/test_svstatus.py::test_the_docs_status_table_is_what_the_command_prints",
    ("operating", "/etc/ignity/services/myapp/run        #!"): D + "test_the_logger_example_checks_clean",
    (
        "operating",
        "HEALTHCHECK --interval=10s --timeout=3s ",
    ): "tests/e2e/test_control.py::test_the_docs_healthcheck_under_docker",
    (
        "operating",
        "startupProbe:        # the boot: init sc",
    ): "tests/unit/test_svstatus.py::test_the_docs_probe_lines_are_the_examples",
    ("restarts", "# /etc/ignity/services/web/: back off 1 "): D
    + "test_the_restart_policy_example_makes_a_service_that_checks_clean",
    ("services", "#!/bin/sh"): D + "test_the_finish_example_halts_on_a_failure_only",
    ("users", "# PATH  UID:GID  FMODE  DMODE           "): D + "test_the_perms_example_parses_in_both_forms",
    (
        "users",
        "ENV USER=app USERMAP_UID=1000 USERMAP_GI",
    ): "tests/e2e/test_docker_lines.py::test_docs_line_runs_the_whole_lifecycle",
    (
        "users",
        "RUN mkdir -p /run/ignity && chgrp 0 /run",
    ): "tests/e2e/test_restricted.py::test_arbitrary_uid_with_gid_0_and_a_group_writable_run_ignity",
    (
        "users",
        "podman run --read-only --tmpfs /run/igni",
    ): "tests/e2e/test_docker_lines.py::test_docs_line_runs_the_whole_lifecycle",
    ("users", "docker run --init my-image"): "tests/e2e/test_docker_lines.py::test_docs_line_runs_the_whole_lifecycle",
    ("users", "spec:"): D + "test_the_kubernetes_settings_for_non_root_are_the_examples",
}


def test_every_code_block_of_the_docs_is_checked_by_a_test():
    found = set()
    for page, _language, block in docs.every_block():
        if page == "reference" and block.startswith("usage: ignity "):
            continue  # each command's --help: test_the_commands_reference_is_what_help_prints
        key = (page, block.splitlines()[0][:40])
        assert key in CHECKED, f"{key}: no test runs this block; add one, and list it in CHECKED"
        found.add(key)
    assert found == set(CHECKED), set(CHECKED) - found  # no entry for a block that is gone
    for what in set(CHECKED.values()):
        path, function = what.removeprefix("output: ").split("::")
        assert f"\ndef {function}(" in (docs.REPO / path).read_text(), what


def test_the_reference_names_every_file_a_service_directory_may_hold():
    from ignity import restarts
    from ignity.check import jobs, services

    table = docs.section(docs.page("reference"), "## Files in a service directory")
    named = set(re.findall(r"`([\w./-]+?)/?(?:OTHER)?`", "".join(x.split(" | ")[0] for x in table.splitlines())))
    known = {*services.CONTROL_FILES, *services.HEALTH_FILES, *jobs.JOB_FILES, *restarts.FILES}
    known |= {"run", "finish", "down", "log", "dependencies.d", "essential", "health", "keep-children"}
    known |= {"down-signal", "output-mode"}
    assert known <= named, known - named


def test_the_reference_gives_every_setting_with_its_default():
    from ignity import config

    table = docs.section(docs.page("reference"), "## Settings")
    cells = [row.split(" | ") for row in table.splitlines() if row.startswith("| `")]
    rows = {cell[0].strip("| `"): cell[1] for cell in cells}
    for name, (default, _kind) in config.KNOWN.items():
        assert name in rows, name
        assert rows[name] == str(default), (name, rows[name], default)
