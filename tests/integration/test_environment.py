"""with-env and the helpers, inside a booted container."""

from __future__ import annotations

import json

from tests.tree import Tree

# Prints the environment as JSON, with bytes escaped, from inside the container.
DUMP = (
    "import os, json; print('ENV', json.dumps({k.decode('latin-1'): v.decode('latin-1') "
    "for k, v in os.environb.items()}))"
)


def _env_of(lines: list[str], marker: str = "ENV ") -> dict[str, str]:
    return json.loads(next(line for line in lines if line.startswith(marker))[len(marker) :])


def test_with_env_passes_every_value_exactly(boot, tree: Tree):
    values = {
        "EMPTY": "",
        "NEWLINES": "line1\nline2\n",
        "TRAILING_NL": "x\n",
        "ONLY_NL": "\n",
        "SPACES": "  padded \t ",
        "LONG": "z" * 10000,
        "UTF8": "héllo wörld ✓",
        "EQUALS": "a=b=c",
        "QUOTES": "\"'$HOME`x`",
    }
    tree.init("10-dump", f'exec with-env python3 -c "{DUMP}"')
    c = boot("true", env=values)
    assert c.wait() == 0
    seen = _env_of(c.lines)
    for name, value in values.items():
        assert seen[name] == value.encode().decode("latin-1"), name


def test_env_file_values_and_empty_values_reach_with_env(boot, tree: Tree):
    tree.env("10-a", "FROM_FILE = some value with spaces \nEMPTY_IN_FILE=\n")
    tree.init("10-dump", f'exec with-env python3 -c "{DUMP}"')
    c = boot("true")
    assert c.wait() == 0
    seen = _env_of(c.lines)
    assert seen["FROM_FILE"] == "some value with spaces "
    assert seen["EMPTY_IN_FILE"] == ""


def test_cmd_gets_the_merged_environment(boot, tree: Tree):
    tree.env("10-a", "FROM_FILE=1\nOVERRIDDEN=file\n")
    c = boot("python3", "-c", DUMP, env={"OVERRIDDEN": "container"})
    assert c.wait() == 0
    seen = _env_of(c.lines)
    assert seen["FROM_FILE"] == "1" and seen["OVERRIDDEN"] == "container"


def test_variable_names_that_are_not_file_names_stay_inside_envs(boot, tree: Tree):
    tree.init("10-look", "find /run/ignity /tmp -name '*escape*' -o -name '.hidden*' | sed 's/^/FOUND /'")
    c = boot("sh", "-c", "echo cmd-ran", raw_env={"../../../tmp/escape": "x", ".hidden": "y", "OK": "1"})
    assert c.wait() == 0
    assert "cmd-ran" in c.lines
    assert not [line for line in c.lines if line.startswith("FOUND ")], c.output
    assert any("'../../../tmp/escape'" in line and "not passed to with-env" in line for line in c.lines), c.output


def test_with_env_outside_a_running_container_just_runs_the_program(boot, tree: Tree):
    c = boot("sh", "-c", "rm -rf /run/ignity/envs; with-env sh -c 'echo ran-$0' ok")
    assert c.wait() == 0
    assert "ran-ok" in c.lines


def test_load_envfile_reads_stdin(boot, tree: Tree):
    c = boot("sh", "-c", "printf 'A = 1\\n# c\\nB=two words\\n' | load-envfile sh -c 'echo \"A=$A B=$B\"'")
    assert c.wait() == 0
    assert "A=1 B=two words" in c.lines


def test_load_envfile_reports_the_bad_line(boot, tree: Tree):
    c = boot("sh", "-c", "printf 'A=1\\nnot valid\\n' | load-envfile true")
    assert c.wait() == 1
    assert "[ignity/load-envfile] stdin:2: expected NAME=VALUE, got 'not valid'" in c.lines


def test_with_retries_retries_until_success(boot, tree: Tree):
    script = "echo try >> /tmp/tries; [ $(wc -l < /tmp/tries) -ge 3 ]"
    c = boot("sh", "-c", f"with-retries -n 5 sh -c '{script}'; echo status=$?; wc -l < /tmp/tries")
    assert c.wait() == 0
    assert "status=0" in c.lines
    assert c.lines[c.lines.index("status=0") + 1] == "3"


def test_with_retries_gives_up_and_bounds_each_attempt(boot, tree: Tree):
    c = boot("sh", "-c", "with-retries -n 1 -t 200 sleep 10; echo status=$?")
    assert c.wait(timeout=10) == 0
    assert "status=137" in c.lines
