"""An environment too large for exec is refused before anything runs (issue #20 point 4).

Every program Ignity starts gets the merged environment (the CMD, and with-env
in each init script and service), and one exec takes at most ARG_MAX bytes of
arguments and environment: past that, the boot used to run the init scripts
and the services and then fail at the CMD's exec.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests import docs
from tests.harness import Container
from tests.tree import Tree

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import envfile  # noqa: E402

KIB = "x" * 1024
MARKS = ("init-ran", "service-ran", "cmd-ran")


def _marked(tree: Tree) -> tuple[str, ...]:
    """An init script, a service and a CMD that each leave a mark in /out, all through with-env."""
    tree.init("10-mark", "touch /out/init-ran", shebang="#!/usr/bin/with-env sh")
    tree.service("web", "touch /out/service-ran; exec sleep 100", shebang="#!/usr/bin/with-env sh")
    return ("with-env", "sh", "-c", "touch /out/cmd-ran")


def _refused(c: Container) -> str:
    code = c.wait(timeout=60)
    ran = sorted(p.name for p in c.out.iterdir() if p.name in MARKS)
    assert code == 1 and not ran, (code, ran, c.output)
    assert "Traceback" not in c.output and "Argument list too long" not in c.output, c.output
    lines = [line for line in c.lines if "too large" in line]
    assert len(lines) == 1 and lines[0].startswith("[ignity/stage1] "), c.output
    assert f"over the {envfile.human(envfile.exec_limit())} one exec takes" in lines[0], lines[0]
    return lines[0]


def test_env_files_too_large_for_exec_refuse_the_boot_before_anything_runs(boot, tree: Tree):
    tree.env("10-small", "A=1\n")
    tree.env("20-big", "".join(f"V{i:04d}={KIB}\n" for i in range(3000)))
    line = _refused(boot(*_marked(tree)))
    assert "2 env files 3.0 MiB, largest /etc/ignity/envs/20-big 3.0 MiB; the container's environment " in line
    assert "make the env files smaller" in line, line
    if envfile.exec_limit() == 2 << 20:  # the usual 8 MiB stack: docs/env.md shows this very line
        assert line in docs.page("env").splitlines(), line


def test_a_container_environment_that_env_files_push_over_the_limit_is_named(boot, tree: Tree):
    limit = envfile.exec_limit()
    container = {f"C{i:04d}": KIB for i in range(limit * 3 // 4 // 1040)}  # fits /init's own exec
    more = {f"F{i:04d}".encode(): KIB.encode() for i in range(limit // 2 // 1040)}
    tree.env("10-more", b"".join(k + b"=" + v + b"\n" for k, v in more.items()))
    line = _refused(boot(*_marked(tree), env=container))
    size = envfile.human(envfile.exec_size({k.encode(): v.encode() for k, v in container.items()}))
    assert f"/etc/ignity/envs/10-more {envfile.human(envfile.exec_size(more))};" in line, line
    assert f"the container's environment {size[:-5]}" in line, line  # plus PATH and HOME
    assert "pass less in the container's environment" in line, line


def test_an_environment_just_under_the_limit_reaches_every_program(boot, tree: Tree):
    """The room kept for arguments is enough: with-env in an init script and a service, and the CMD."""
    cmd = _marked(tree)
    budget = envfile.exec_limit() - envfile.ARGV_ROOM - envfile.argv_size(cmd) - 4096  # PATH, HOME, ...
    count, rest = divmod(budget, 1024 + 7 + 2 + envfile.POINTER)
    tree.env("10-big", "".join(f"V{i:05d}={KIB}\n" for i in range(count)) + f"LAST={'y' * (rest // 2)}\n")
    tree.service("web", "touch /out/service-ran; exec sleep 100", shebang="#!/usr/bin/with-env sh")
    c = boot(*cmd[:-1], "until [ -e /out/service-ran ]; do sleep 0.05; done; touch /out/cmd-ran")
    assert c.wait(timeout=60) == 0, c.output
    assert sorted(p.name for p in c.out.iterdir() if p.name in MARKS) == sorted(MARKS), c.output


def test_secret_files_that_push_the_environment_over_the_limit_are_named(boot, tree: Tree, tmp_path: Path):
    count = envfile.exec_limit() // 120_000 + 1
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 120_000)
    env = {f"FILE__S{i:02d}": f"/out/s{i:02d}" for i in range(count)}
    line = _refused(boot(*_marked(tree), env=env, files={f"s{i:02d}": secret for i in range(count)}))
    assert f"(secret files (FILE__*) {envfile.human(count * (120_000 + 3 + 2 + envfile.POINTER))}; " in line, line
    assert "use fewer or smaller secret files" in line, line
