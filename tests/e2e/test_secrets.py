"""FILE__DB_PASSWORD from a Podman secret and from an env file; refused files; the value in no log."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import docs
from tests.e2e.images import Images
from tests.e2e.podman import Attached, Podman
from tests.tree import Tree

SECRET = "e2e-Secret-\u00e9-8a1f0c"
WITH_ENV = "#!/usr/bin/with-env sh"
# docs/env.md's two Podman commands: create the secret, run with it.
DOCS_LINES = next(b for b in docs.blocks(docs.page("env"), "") if b.startswith("podman secret create")).splitlines()
# Each process says whether it has the value, without printing it.
CHECK = '[ "$DB_PASSWORD" = "$(cat /run/secrets/db_password)" ] && echo "{who} has it" || echo "{who} lacks it"; ' \
        '[ -z "${{FILE__DB_PASSWORD+set}}" ] && echo "{who} no FILE__"'  # fmt: skip


def _end(follow: Attached) -> None:
    """Stop following the logs (Attached.cleanup would remove the container itself)."""
    follow.proc.terminate()
    follow.proc.wait(10)


@pytest.fixture
def secret(podman: Podman, tmp_path: Path) -> Iterator[str]:
    """docs/env.md's first command: `podman secret create db_password ./db_password.txt`."""
    (tmp_path / "db_password.txt").write_text(SECRET + "\n")
    podman("secret", "rm", "db_password", check=False)
    done = subprocess.run(shlex.split(DOCS_LINES[0]),
                          cwd=tmp_path, env=podman.env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    yield "db_password"
    podman("secret", "rm", "db_password", check=False)


def _tree(tree: Tree) -> None:
    tree.init("10-check", CHECK.format(who="init"), shebang=WITH_ENV)
    tree.service("app", CHECK.format(who="service") + "; exec sleep 1000", shebang=WITH_ENV)
    tree.finalize("10-check", CHECK.format(who="finalize"), shebang=WITH_ENV)


def _cmd() -> list[str]:
    return ["sh", "-c", CHECK.format(who="cmd") + "; ignity status --wait-ready=5000; ignity status --json; "
            "s6-svstat /run/ignity/services-state/app"]  # fmt: skip


def _everyone_has_it(c: Attached) -> None:
    assert c.wait() == 0, c.output
    for who in ("init", "service", "cmd", "finalize"):
        assert f"{who} has it" in c.lines and f"{who} no FILE__" in c.lines, c.output
    assert "app" in c.output  # ignity status ran
    assert SECRET not in c.output
    assert SECRET.encode() not in c.output.encode()


def test_file_variable_from_a_podman_secret(images: Images, run: Callable[..., Attached], tree: Tree, secret: str):
    _tree(tree)
    image = images.build(tree.root)
    # docs/env.md's `podman run --secret db_password -e FILE__DB_PASSWORD=/run/secrets/db_password IMAGE`.
    words = shlex.split(DOCS_LINES[1])
    assert words[:2] == ["podman", "run"] and words[-1] == "IMAGE" and secret in words, words
    c = run(image, *_cmd(), options=[*words[2:-1], "-e", "IGNITY_VERBOSITY=2"])
    _everyone_has_it(c)


def test_file_variable_from_an_env_file(images: Images, run: Callable[..., Attached], tree: Tree, secret: str,
                                        podman: Podman):  # fmt: skip
    _tree(tree)
    tree.env("10-secrets", "FILE__DB_PASSWORD=/run/secrets/db_password\nIGNITY_VERBOSITY=2\n")
    image = images.build(tree.root)
    name = podman.unique("ignity-e2e-secret")
    c = run(image, *_cmd(), options=["--secret", secret], name=name)
    _everyone_has_it(c)


def test_no_log_holds_the_value(images: Images, tree: Tree, secret: str, podman: Podman):
    _tree(tree)
    image = images.build(tree.root)
    name = podman.unique("ignity-e2e-secret")
    try:
        podman("run", "-d", "--name", name, "--network", "none", "--pull", "never", "--secret", secret,
               "-e", "FILE__DB_PASSWORD=/run/secrets/db_password", "-e", "IGNITY_VERBOSITY=2",
               "-e", "IGNITY_SERVICES_OUTPUT=json", image, "sleep", "1000")  # fmt: skip
        follow = podman.follow_logs(name)
        try:
            follow.wait_for("service has it")
        finally:
            _end(follow)
        status = podman("exec", name, "ignity", "status", "--wait-ready=5000")
        status_json = podman("exec", name, "ignity", "status", "--json")
        podman("stop", "-t", "10", name, timeout=60)
        logs = podman("logs", name)
        seen = logs.stdout + logs.stderr + status.stdout + status.stderr + status_json.stdout + status_json.stderr
        assert "finalize has it" in seen and '"service": "app"' in seen
        assert SECRET not in seen
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


@pytest.mark.parametrize(
    ("path", "problem"),
    [("/run/secrets/nope", "no such file"), ("/run/secrets", "a directory, expected a file"),
     ("/dev/zero", "not a regular file (a fifo, socket or device), expected a file")],
)  # fmt: skip
def test_a_refused_file_stops_the_container(
    images: Images, run: Callable[..., Attached], tree: Tree, secret: str, path: str, problem: str
):
    _tree(tree)
    image = images.build(tree.root)
    c = run(image, "echo", "cmd-ran", options=["--secret", secret, "-e", f"FILE__DB_PASSWORD={path}"])
    assert c.wait() == 1
    assert c.lines == [f"[ignity/stage1] FILE__DB_PASSWORD={path!r}: {problem}"]
