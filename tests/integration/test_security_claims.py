"""SECURITY.md's claims that no other test holds (issue #20 point 7): the layout of /run/ignity in
each mode of the trust model's table, values never printed, finalize scripts from the image."""

from __future__ import annotations

import pytest

from tests.harness import Container
from tests.tree import Tree

MAPPED = {"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "1000"}
SCAN = "/run/ignity/services-state"
# Every entry of /run/ignity (a service's supervise/ listed itself, not what s6 keeps in it).
FIND = (
    "ignity status --wait-ready=10000 >/dev/null || exit 9; "
    "find /run/ignity -path '*/supervise/*' -prune -o -printf 'ENTRY %m %U %G %y %p\\n'; "
    f'for f in {SCAN}/.s6-svscan/*; do [ -L "$f" ] && echo "LINK $f $(readlink "$f")"; done; '
    "stat -L -c 'TARGET %a %u %n' /usr/lib/ignity/svscan/*; "
    "[ -e /run/ignity/environ ] && echo ENVIRON-LEFT; exit 0"
)


def _layout(c: Container) -> dict[str, tuple[int, int, int, str]]:
    assert c.wait(timeout=60) == 0, c.output
    entries = {}
    for line in c.lines:
        if line.startswith("ENTRY "):
            mode, uid, gid, kind, path = line.split(" ", 5)[1:]
            entries[path] = (int(mode, 8), int(uid), int(gid), kind)
    assert f"{SCAN}/svc" in entries and "ENVIRON-LEFT" not in c.lines, c.output
    return entries


@pytest.mark.parametrize("mode", ["root", "root-mapped", "non-root"])
def test_run_ignity_is_as_the_trust_model_table_says(boot, tree: Tree, mode: str):
    """Owner, group and mode of every entry, per row of SECURITY.md's table."""
    tree.env("10-secret", "SECRET=hunter2\nEMPTY=\n")
    init = tree.init("10-init", "true")
    tree.finalize("10-fin", "true")
    tree.service("svc", "exec sleep 1000")
    if mode != "non-root":  # as root the copies lose group and world write (non-root: the hole below)
        init.chmod(0o777)
        (tree.root / "services/svc/run").chmod(0o777)
    if mode == "non-root":  # RUN preboot with the mapped user, then USER 1000:1000
        tree.env("05-user", "USER=app\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
        image = boot.image.derive("chmod 0755 / && preboot", etc=tree.root)
        c = Container(image, tree.root, ["sh", "-c", FIND], user="1000:1000", run_tmpfs=None)
        try:
            entries = _layout(c)
        finally:
            c.cleanup()
    else:
        entries = _layout(boot("sh", "-c", FIND, env=MAPPED if mode == "root-mapped" else {}))
    owner = 1000 if mode == "non-root" else 0
    env_group, env_dir, env_file = (1000, 0o750, 0o640) if mode == "root-mapped" else (owner, 0o700, 0o600)
    for path, (perm, uid, gid, kind) in entries.items():
        if kind == "l":
            continue
        assert uid == owner, (path, uid)
        assert not perm & 0o002, (path, oct(perm))  # nothing world-writable
        if owner == 0:
            assert not perm & 0o020, (path, oct(perm))  # nor group-writable: no other uid writes
        if path.startswith("/run/ignity/envs"):
            assert (perm, gid) == ((env_dir if kind == "d" else env_file), env_group), (path, oct(perm), gid)
    expected = {"/run/ignity": 0o755, SCAN: 0o755, f"{SCAN}/.s6-svscan": 0o700, "/run/ignity/state": 0o700}
    expected.update(dict.fromkeys(("/run/ignity/init", "/run/ignity/finalize", "/run/ignity/services"), 0o755))
    if owner == 0:  # made before s6-supervise: status readable (ignity status as the mapped user), events root's
        expected.update({"/run/ignity/services/svc/supervise": 0o711, "/run/ignity/services/svc/event": 0o700})
    assert {p: entries[p][0] for p in expected} == expected
    assert entries["/run/ignity/envs/SECRET"][3] == "f"


def test_the_programs_s6_svscan_runs_as_root_are_links_to_the_images(boot, tree: Tree):
    tree.service("svc", "exec sleep 1000")
    c = boot("sh", "-c", FIND)
    assert c.wait(timeout=60) == 0, c.output
    links = dict(line.split()[1:] for line in c.lines if line.startswith("LINK "))
    assert links[f"{SCAN}/.s6-svscan/finish"] == "/usr/lib/ignity/svscan/finish"
    assert links[f"{SCAN}/.s6-svscan/SIGTERM"] == "/usr/lib/ignity/svscan/signal"
    targets = [line.split()[1:] for line in c.lines if line.startswith("TARGET ")]
    assert targets and all(mode == "755" and uid == "0" for mode, uid, _ in targets), targets


def test_no_value_is_ever_printed_even_at_debug_verbosity(boot, tree: Tree, tmp_path):
    """Values from an env file, the container's environment and a secret file, through a whole
    lifecycle with every step logged: none reaches the output."""
    secret = tmp_path / "pw"
    secret.write_text("hunter2-from-a-file\n")
    tree.env("10-secret", "IGNITY_VERBOSITY=2\nSECRET=hunter2-from-an-env-file\n")
    tree.init("10-init", "true", shebang="#!/usr/bin/with-env sh")
    tree.service("svc", "exec sleep 1000", shebang="#!/usr/bin/with-env sh")
    tree.finalize("10-fin", "true", shebang="#!/usr/bin/with-env sh")
    env = {"TOKEN": "hunter2-from-the-container", "FILE__PW": "/out/pw"}
    c = boot("sh", "-c", "ignity status --wait-ready=30000 >/dev/null && echo cmd-ran", env=env, files={"pw": secret})
    assert c.wait(timeout=60) == 0, c.output
    assert "cmd-ran" in c.lines and any("+" in line and "ms" in line for line in c.lines), c.output
    assert "hunter2" not in c.output, c.output


def test_stage3_runs_the_images_finalize_scripts_not_the_run_time_copies(boot, tree: Tree):
    tree.finalize("10-fin", "echo finalize-from-the-image")
    copy = "/run/ignity/finalize/10-fin"
    c = boot("sh", "-c", f"printf '#!/bin/sh\\necho finalize-from-the-copy\\n' >{copy} && echo copy-changed")
    assert c.wait(timeout=60) == 0, c.output
    assert "copy-changed" in c.lines and "finalize-from-the-image" in c.lines, c.output
    assert "finalize-from-the-copy" not in c.lines, c.output


def test_a_mapped_user_of_group_0_is_warned_of_at_every_boot(boot, tree: Tree):
    """SECURITY.md, outside the model: with USERMAP_GID=0 every gid-0 process reads the environment."""
    c = boot("true", env={"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "0"})
    assert c.wait(timeout=60) == 0, c.output
    assert any("warning: USERMAP_GID=0: the environment is readable by the mapped user's group" in line
               for line in c.lines), c.output  # fmt: skip


def test_a_non_root_container_drops_group_and_world_write_from_its_copies(boot, tree: Tree):
    tree.env("05-user", "USER=app\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
    tree.service("svc", "exec sleep 1000")
    (tree.root / "services/svc/run").chmod(0o777)
    image = boot.image.derive("chmod 0755 / && preboot", etc=tree.root)
    c = Container(image, tree.root, ["stat", "-c", "MODE %a", "/run/ignity/services/svc/run"], user="1000:1000",
                  run_tmpfs=None)  # fmt: skip
    try:
        code = c.wait(timeout=60)
    finally:
        c.cleanup()
    if code != 0 or not any(line.startswith("MODE ") for line in c.lines):
        raise RuntimeError(c.output)
    assert "MODE 755" in c.lines, c.output
