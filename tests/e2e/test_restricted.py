"""Restricted containers under Podman and Docker: read-only root, non-root users, gid 0, volumes to fix.

The tmpfs on /run/ignity is each engine's line in docs/users.md (Engine.tmpfs_run_ignity):
Podman's `rw,U`, Docker's `rw,exec,uid=,gid=` (Docker's tmpfs is noexec unless told).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import docs
from tests.e2e.images import Images
from tests.e2e.podman import Attached, Engine
from tests.tree import Tree

WITH_ENV = "#!/usr/bin/with-env sh"

pytestmark = pytest.mark.engines("podman", "docker")


def _whole_lifecycle(tree: Tree) -> None:
    """Every phase says who it runs as, and whether the root is writable."""
    tree.env("10-app", "FROM_FILE=yes\n")
    tree.init("10-init", 'echo "init as $(id -u):$(id -g) FROM_FILE=$FROM_FILE"', shebang=WITH_ENV)
    tree.service("svc", 'echo "svc up as $(id -u)"; exec sleep 1000')
    tree.finalize("10-fin", 'echo "finalize as $(id -u)"')


# A CMD that waits for the service, then reports on the root and exits 4.
CMD = (
    "sh",
    "-c",
    "s6-svwait -u -t 5000 /run/ignity/services-state/svc || exit 9; "
    "if touch /etc/probe 2>/dev/null; then echo root writable; else echo root read-only; fi; "
    'echo "cmd as $(id -u)"; exit 4',
)


def _assert_whole_lifecycle(c: Attached, uid: int, gid: int, root: str) -> None:
    assert c.wait() == 4, c.output
    for expected in (
        f"init as {uid}:{gid} FROM_FILE=yes",
        f"svc up as {uid}",
        f"root {root}",
        f"cmd as {uid}",
        f"finalize as {uid}",
    ):
        assert expected in c.lines, f"{expected!r} missing:\n{c.output}"


def test_read_only_root_with_a_tmpfs_on_run_ignity(
    engine: Engine, images: Images, run: Callable[..., Attached], tree: Tree
):
    _whole_lifecycle(tree)
    c = run(images.build(tree.root), *CMD, options=["--read-only", *engine.tmpfs_run_ignity()])
    _assert_whole_lifecycle(c, 0, 0, "read-only")


def test_non_root_user_on_a_read_only_root(engine: Engine, images: Images, run: Callable[..., Attached], tree: Tree):
    _whole_lifecycle(tree)
    options = ["--read-only", *engine.tmpfs_run_ignity("1000:1000"), "--user", "1000:1000"]
    c = run(images.build(tree.root), *CMD, options=options)
    _assert_whole_lifecycle(c, 1000, 1000, "read-only")


def test_user_1000_on_an_image_prepared_with_preboot(
    engine: Engine, images: Images, run: Callable[..., Attached], tree: Tree
):
    _whole_lifecycle(tree)
    tree.root.joinpath("perms", "10-data").write_text("/srv/data {{USERMAP_UID}}:{{USERMAP_GID}} 0640 0750\n")
    image = images.build(
        tree.root,
        [
            "ENV USER=app USERMAP_UID=1000 USERMAP_GID=1000",
            "RUN mkdir -p /srv/data/sub && echo secret >/srv/data/sub/file && chmod 0600 /srv/data/sub/file && preboot",
        ],
    )
    check = "id -un; stat -c '%n %U:%G %a' /srv/data /srv/data/sub /srv/data/sub/file; cat /srv/data/sub/file"
    c = run(
        image, "sh", "-c", f"{check}; {CMD[2]}", options=[*engine.tmpfs_run_ignity("1000:1000"), "--user", "1000:1000"]
    )
    _assert_whole_lifecycle(c, 1000, 1000, "read-only")  # /etc is not the user's
    for expected in (
        "app",
        "/srv/data app:app 750",
        "/srv/data/sub app:app 750",
        "/srv/data/sub/file app:app 640",
        "secret",
    ):
        assert expected in c.lines, f"{expected!r} missing:\n{c.output}"


# docs/users.md's line for an arbitrary uid with gid 0.
[GID0_STEP] = [b.strip() for b in docs.blocks(docs.page("users"), "Dockerfile") if "chgrp 0 /run/ignity" in b]


def test_arbitrary_uid_with_gid_0_and_a_group_writable_run_ignity(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    _whole_lifecycle(tree)
    c = run(images.build(tree.root, [GID0_STEP]), *CMD, options=["--user", "123456:0"])
    _assert_whole_lifecycle(c, 123456, 0, "read-only")


def test_arbitrary_uid_without_a_writable_run_ignity_is_one_clear_line(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    _whole_lifecycle(tree)
    c = run(images.build(tree.root), *CMD, options=["--user", "123456:0"])
    assert c.wait() == 1, c.output
    errors = [line for line in c.lines if "/run/ignity is not writable by uid 123456" in line]
    assert len(errors) == 1 and "--tmpfs /run/ignity" in errors[0], c.output
    assert not any("Traceback" in line or "init as" in line for line in c.lines), c.output


def test_perms_are_fixed_on_a_mounted_volume_without_following_links(
    images: Images, run: Callable[..., Attached], tree: Tree, hostdir: Path
):
    os.chmod(hostdir, 0o700)
    (hostdir / "sub").mkdir(mode=0o700)
    (hostdir / "sub" / "file").write_text("data\n")
    os.chmod(hostdir / "sub" / "file", 0o600)
    (hostdir / "shadow-link").symlink_to("/etc/shadow")  # resolves to the container's /etc/shadow
    tree.env("10-user", "USER=app\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
    tree.root.joinpath("perms", "10-data").write_text("/data {{USERMAP_UID}}:{{USERMAP_GID}} 0640 0750\n")
    image = images.build(tree.root)
    before = run(image, "stat", "-c", "%u:%g %a", "/etc/shadow", options=["--entrypoint", ""])
    assert before.wait() == 0, before.output
    c = run(image, "sh", "-c", "stat -c '%u:%g %a' /etc/shadow; ls -ln /data", options=["-v", f"{hostdir}:/data"])
    assert c.wait() == 0, c.output
    assert before.lines[0] in c.lines, f"/etc/shadow changed through the link:\n{c.output}"
    for path, mode in ((hostdir, 0o750), (hostdir / "sub", 0o750), (hostdir / "sub" / "file", 0o640)):
        st = path.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, mode), f"{path}: {st}"
    link = (hostdir / "shadow-link").lstat()
    assert (link.st_uid, link.st_gid) == (0, 0), "a link itself is left alone"


def test_perms_rule_on_a_read_only_root_is_not_an_internal_error(
    engine: Engine, images: Images, run: Callable[..., Attached], tree: Tree
):
    """Found by the matrix: a perms rule whose path is on the read-only root (not prepared
    with preboot) stops start-up with `internal error, please report: OSError(30, ...)`."""
    tree.service("svc", "exec sleep 1000")
    tree.root.joinpath("perms", "10-data").write_text("/srv/data 1000:1000 0640 0750\n")
    image = images.build(tree.root, ["RUN mkdir -p /srv/data && echo x >/srv/data/file && chmod 0600 /srv/data/file"])
    c = run(image, "echo", "cmd ran", options=["--read-only", *engine.tmpfs_run_ignity()])
    c.wait()
    assert not any("internal error" in line for line in c.lines), c.output
