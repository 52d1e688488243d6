"""FILE__NAME=/path in a booted container: NAME for with-env, the CMD and services; refused files stop the boot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tree import Tree, wait_up

SECRET = "pa55-w0rd-\u00e9-very-secret"

# What a process sees: the variable and whether FILE__DB_PASSWORD came through.
SHOW = 'echo "{who} DB_PASSWORD=[${{DB_PASSWORD-unset}}] FILE=[${{FILE__DB_PASSWORD-unset}}]"'


def _secret_file(tmp_path: Path, text: str = SECRET + "\n") -> Path:
    f = tmp_path / "db_password"
    f.write_text(text)
    return f


def _everyone_sees_it(boot, tree: Tree, tmp_path: Path, **kwargs) -> list[str]:
    tree.init("10-show", SHOW.format(who="init"), shebang="#!/usr/bin/with-env sh")
    tree.service("svc", SHOW.format(who="service") + "; exec sleep 100", shebang="#!/usr/bin/with-env sh")
    tree.service("plain", SHOW.format(who="plain") + "; exec sleep 100")
    cmd = SHOW.format(who="cmd") + "; " + wait_up("svc", "plain") + "; ignity status; ignity status --json"
    c = boot("sh", "-c", cmd, files={"db_password": _secret_file(tmp_path)}, **kwargs)
    assert c.wait() == 0, c.output
    lines = c.lines
    for who in ("init", "service", "cmd"):
        assert f"{who} DB_PASSWORD=[{SECRET}] FILE=[unset]" in lines, c.output
    # A service without with-env has the container's environment, without FILE__ either.
    # A service without with-env has the container's own environment, as given: the path, never the value.
    assert any(line.startswith("plain DB_PASSWORD=[unset] FILE=[") for line in lines), lines
    return lines


def test_file_variable_from_the_container_environment(boot, tree: Tree, tmp_path: Path):
    lines = _everyone_sees_it(boot, tree, tmp_path, env={"FILE__DB_PASSWORD": "/out/db_password",
                                                         "IGNITY_VERBOSITY": "2"})  # fmt: skip
    _only_where_printed(lines)


def test_file_variable_from_an_env_file(boot, tree: Tree, tmp_path: Path):
    tree.env("10-secrets", "FILE__DB_PASSWORD=/out/db_password\n")
    lines = _everyone_sees_it(boot, tree, tmp_path, env={"IGNITY_VERBOSITY": "2"})
    _only_where_printed(lines)


def _only_where_printed(lines: list[str]) -> None:
    """The value is in no line but the ones the test's own processes printed on purpose."""
    leaks = [line for line in lines if SECRET in line and " DB_PASSWORD=[" not in line]
    assert leaks == [], leaks
    assert any(line.startswith("[ignity/stage2]") for line in lines)  # debug lines were there to leak


def test_envdir_holds_the_value_and_not_the_file_variable(boot, tree: Tree, tmp_path: Path):
    c = boot("sh", "-c", "cat /run/ignity/envs/DB_PASSWORD; echo; wc -c < /run/ignity/envs/FILE__DB_PASSWORD",
             env={"FILE__DB_PASSWORD": "/out/db_password"}, files={"db_password": _secret_file(tmp_path)})  # fmt: skip
    assert c.wait() == 0
    assert SECRET in c.lines
    # An empty file: s6-envdir unsets the inherited FILE__DB_PASSWORD for with-env.
    assert "0" in c.lines, c.output


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/out/missing", "no such file"),
        ("/out", "a directory, expected a file"),
        ("/out/fifo", "not a regular file (a fifo, socket or device), expected a file"),
        ("/dev/zero", "not a regular file (a fifo, socket or device), expected a file"),
        ("/out/big", "larger than 1 MiB (1048577 bytes)"),
        ("out/db_password", "not an absolute path (expected FILE__NAME=/path/to/file)"),
    ],
)
def test_a_refused_file_stops_the_boot_before_anything_starts(boot, tree: Tree, tmp_path: Path, path, problem):
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    os.mkfifo(out / "fifo")
    (out / "big").write_bytes(b"x" * (1024 * 1024 + 1))
    (out / "db_password").write_text(SECRET)
    tree.init("10-ran", "echo init-ran")
    tree.service("svc", "echo service-ran; exec sleep 100")
    c = boot("echo", "cmd-ran", env={"FILE__DB_PASSWORD": path}, out=out)
    assert c.wait() == 1
    assert c.lines == [f"[ignity/stage1] FILE__DB_PASSWORD={path!r}: {problem}"]


def test_a_link_from_a_volume_owner_is_not_followed(boot, tree: Tree, tmp_path: Path):
    out = tmp_path / "out"
    (out / "vol").mkdir(parents=True)
    out.chmod(0o777)
    (out / "vol" / "db_password").symlink_to("/etc/shadow")
    os.lchown(out / "vol" / "db_password", 1000, 1000)
    c = boot("echo", "cmd-ran", env={"FILE__DB_PASSWORD": "/out/vol/db_password"}, out=out)
    assert c.wait() == 1
    assert c.lines == [
        "[ignity/stage1] FILE__DB_PASSWORD='/out/vol/db_password': 'db_password' is a symbolic link owned by "
        "uid 1000: only links owned by root (or by the user Ignity runs as) are followed"
    ]
