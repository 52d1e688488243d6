"""The tested-on table of docs/how-it-works.md is the matrix tests/e2e/test_bases.py runs (tests/e2e/matrix.py)."""

from __future__ import annotations

import os

import pytest

from tests.e2e import matrix


def test_the_docs_tested_on_table_is_what_the_suite_runs():
    if os.geteuid() != 0:
        pytest.fail("needs root (the versions are read from the cached rootfs, built as root)")
    block = matrix.readme_block(matrix.PAGE.read_text())
    assert block is not None, f"{matrix.PAGE} has no {matrix.BEGIN} block"
    made = matrix.table()
    assert block == made, (
        f"{matrix.PAGE}'s tested-on table differs from the suite's matrix; "
        f"run `.venv/bin/python -m tests.e2e.matrix --write`:\n{made}"
    )


def test_the_matrix_covers_what_issue_15_asks():
    """Podman on Debian 11, 12 and 13 and Docker on Debian 12 at least, each with every core test."""
    runs = {(engine, base.id): set(tests) for engine, base, tests in matrix.pairs()}
    core = {
        "test_core_lifecycle_with_readiness_and_status",
        "test_with_env_passes_every_value_exactly",
        "test_ignity_check_on_a_good_and_a_bad_tree",
        "test_seed_archive_is_where_the_bases_python_finds_it",
    }
    for engine, base in [
        ("podman", "debian11"),
        ("podman", "debian12"),
        ("podman", "debian13"),
        ("docker", "debian12"),
    ]:
        assert core <= runs.get((engine, base), set()), (engine, base)
        assert "test_image_from_the_wheel_runs_the_lifecycle" in runs.get((engine, f"{base}-pip"), set())
    for engine in ("podman", "docker"):  # issue #16: the minimal bases
        for n in (11, 12, 13):
            assert core <= runs.get((engine, f"debian{n}-minimal"), set()), (engine, n)
