"""Bad input: each gets one clear `file:line` error or is handled exactly; no traceback, nothing outside /run/ignity."""

from __future__ import annotations

import json
import os

import pytest

from tests.tree import Tree

DUMP = (
    "import os, json; print('ENV', json.dumps({k.decode('latin-1'): v.decode('latin-1') "
    "for k, v in os.environb.items()}))"
)


def _one_error(c, text: str) -> None:  # type: ignore[no-untyped-def]
    assert c.wait() == 1
    assert any(text in line for line in c.lines), c.output
    assert "Traceback" not in c.output
    assert all(line.startswith("[ignity/") for line in c.lines), c.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"A=1\nB\xff\xfe=2\n", "/etc/ignity/envs/10-x:2: invalid variable name"),
        (b"A=1\nB=x\x00y\n", "/etc/ignity/envs/10-x:2: NUL byte in line"),
        (b"BIG=" + b"x" * (1 << 20) + b"\n", "/etc/ignity/envs/10-x:1: BIG is 1048576 bytes long"),
        (b"a/b=1\n", "/etc/ignity/envs/10-x:1: invalid variable name 'a/b'"),
        (b"..=1\n", "/etc/ignity/envs/10-x:1: invalid variable name '..'"),
        (b".hidden=1\n", "/etc/ignity/envs/10-x:1: invalid variable name '.hidden'"),
        (b"=1\n", "/etc/ignity/envs/10-x:1: invalid variable name ''"),
        (b"A=1\r\n", "/etc/ignity/envs/10-x:1: line ends with a carriage return"),
    ],
    ids=["non-utf8-name", "nul", "1MiB", "slash", "dotdot", "leading-dot", "empty-name", "crlf"],
)
def test_bad_env_files(boot, tree: Tree, content: bytes, message: str):
    tree.env("10-x", content)
    _one_error(boot("true"), message)


def test_non_utf8_values_and_ten_thousand_variables_pass_exactly(boot, tree: Tree):
    lines = [f"V{i}=value {i}".encode() for i in range(10_000)]
    lines.append(b"BYTES=\xff\xfe\x80 caf\xc3\xa9")
    tree.env("10-many", b"\n".join(lines) + b"\n")
    tree.init("10-dump", f'exec with-env python3 -c "{DUMP}"')
    c = boot("true")
    assert c.wait(timeout=60) == 0
    seen = json.loads(next(line for line in c.lines if line.startswith("ENV "))[4:])
    assert seen["BYTES"] == b"\xff\xfe\x80 caf\xc3\xa9".decode("latin-1")
    assert all(seen[f"V{i}"] == f"value {i}" for i in range(10_000))


def test_env_file_that_is_a_directory(boot, tree: Tree):
    (tree.root / "envs" / "10-dir").mkdir()
    _one_error(boot("true"), "/etc/ignity/envs/10-dir: is a directory")


def test_env_file_that_is_a_dangling_link(boot, tree: Tree):
    os.symlink("/nonexistent/target", tree.root / "envs" / "10-dangling")
    _one_error(boot("true"), "/etc/ignity/envs/10-dangling")


def test_unreadable_env_file_as_non_root(boot, tree: Tree):
    p = tree.env("10-secret", "A=1\n")
    p.chmod(0o000)
    c = boot("true", user="1000:1000", run_tmpfs="mode=1777")
    _one_error(c, "/etc/ignity/envs/10-secret")
    assert any("Permission denied" in line for line in c.lines)


def test_names_with_spaces_and_newlines_are_handled(boot, tree: Tree):
    tree.init("10-with space", "echo init-with-space-ran")
    tree.init("20-new\nline", "echo init-with-newline-ran")
    tree.finalize("10-fin al", "echo finalize-with-space-ran")
    c = boot("true")
    assert c.wait() == 0, c.output
    for text in ("init-with-space-ran", "init-with-newline-ran", "finalize-with-space-ran"):
        assert text in c.lines


def test_service_named_with_a_space_runs(boot, tree: Tree):
    tree.service("my service", "echo spaced-up; exec sleep 100")
    c = boot("sh", "-c", "s6-svwait -u -t 5000 '/run/ignity/services-state/my service' && echo waited")
    assert c.wait() == 0
    assert "spaced-up" in c.lines and "waited" in c.lines


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notification-fd", "three\n", "notification-fd"),
        ("timeout-kill", "-5\n", "timeout-kill"),
        ("timeout-finish", "soon\n", "timeout-finish"),
    ],
)
def test_malformed_service_files(boot, tree: Tree, name: str, content: str, message: str):
    svc = tree.service("svc", "exec sleep 100")
    (svc / name).write_text(content)
    _one_error(boot("true"), f"/etc/ignity/services/svc/{message}")


def test_service_without_run(boot, tree: Tree):
    (tree.root / "services" / "empty").mkdir()
    _one_error(boot("true"), "/etc/ignity/services/empty")


def test_crlf_script_is_named(boot, tree: Tree):
    p = tree.root / "init" / "10-dos"
    p.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    p.chmod(0o755)
    _one_error(boot("true"), "/etc/ignity/init/10-dos")
    c = boot("true")
    assert c.wait() == 1
    assert any("CRLF" in line or "carriage return" in line for line in c.lines), c.output


def test_variable_values_cannot_escape_run_ignity(boot, tree: Tree):
    # Values that look like paths or traversal are data: they land in files named by the variable.
    tree.env("10-x", "A=../../../../tmp/pwned\nB=/etc/passwd\n")
    c = boot("sh", "-c", "ls /tmp; cat /run/ignity/envs/A; echo; cat /run/ignity/envs/B; echo")
    assert c.wait() == 0
    assert "pwned" not in " ".join(c.lines[: c.lines.index("../../../../tmp/pwned")])
    assert "../../../../tmp/pwned" in c.lines and "/etc/passwd" in c.lines
