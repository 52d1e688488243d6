"""Users, permissions, non-root and read-only containers (SPEC: perms, user mapping, running restricted)."""

from __future__ import annotations

import os
import signal

import pytest

from tests.harness import Container, Image
from tests.tree import Tree, wait_up


def _perms(tree: Tree, name: str, text: str) -> None:
    path = tree.root / "perms" / name
    path.write_text(text)


def _stat(c: Container, *paths: str) -> dict[str, str]:
    """`stat` lines printed by the CMD: path -> 'uid gid mode'."""
    found = {}
    for line in c.lines:
        if line.startswith("STAT "):
            _, path, rest = line.split(" ", 2)
            found[path] = rest
    return {p: found.get(p, "missing") for p in paths}


def _stat_cmd(*paths: str) -> list[str]:
    return ["sh", "-c", " ".join(f"echo STAT {p} $(stat -c '%u %g %a' {p});" for p in paths)]


def test_user_mapping_creates_user_and_group(boot, tree: Tree):
    c = boot("sh", "-c", "getent passwd exploit; getent group exploit",
             env={"USER": "exploit", "USERMAP_UID": "1234", "USERMAP_GID": "2345"})  # fmt: skip
    assert c.wait() == 0
    assert "exploit:x:1234:2345::/nonexistent:/bin/false" in c.lines
    assert "exploit:x:2345:" in c.lines


def test_user_mapping_reuses_a_taken_uid_and_says_so(boot, tree: Tree):
    # uid 1 and gid 1 are "daemon" in Debian.
    c = boot("sh", "-c", "getent passwd 1 | cut -d: -f1; getent passwd exploit || echo no-exploit",
             env={"USER": "exploit", "USERMAP_UID": "1", "USERMAP_GID": "1"})  # fmt: skip
    assert c.wait() == 0
    assert "daemon" in c.lines and "no-exploit" in c.lines
    assert any("uid 1 already belongs to user 'daemon': reused for exploit" in line for line in c.lines)
    assert any("gid 1 already belongs to group 'daemon'" in line for line in c.lines)


def test_invalid_usermap_values_are_startup_errors(boot, tree: Tree):
    c = boot("true", env={"USER": "exploit", "USERMAP_UID": "abc"})
    assert c.wait() == 1
    assert c.lines == ["[ignity/stage1] USERMAP_UID='abc': not a valid id, expected a whole number below 4294967295"]


def test_run_ignity_is_roots_and_envs_readable_by_the_mapped_group(boot, tree: Tree):
    tree.env("10-secret", "SECRET=hunter2\n")
    script = (
        "stat -c 'RUN %u %a' /run/ignity; stat -c 'ENVS %u %a' /run/ignity/envs; "
        "s6-setuidgid nobody cat /run/ignity/envs/SECRET 2>/dev/null || echo nobody-denied; "
        "s6-setuidgid exploit cat /run/ignity/envs/SECRET; echo"
    )
    c = boot("sh", "-c", script, env={"USER": "exploit", "USERMAP_UID": "1234", "USERMAP_GID": "1234"})
    assert c.wait() == 0
    # Root's, not the mapped user's (SECURITY.md, trust model): it reads its environment, never writes it.
    assert "RUN 0 755" in c.lines and "ENVS 0 750" in c.lines
    assert "nobody-denied" in c.lines and "hunter2" in c.lines


def test_perms_both_formats_names_numbers_and_templates(boot, tree: Tree):
    _perms(tree, "10-app", "# both formats\n\n"
           "/srv/a {{USERMAP_UID}}:{{USERMAP_GID}} 0640 0750\n"
           "/srv/b true daemon:daemon 0600 0700\n"
           "/srv/c false 1:1 0604 0705\n")  # fmt: skip
    tree.init("00-files", "true")
    setup = "mkdir -p /srv/a/sub /srv/b /srv/c/deep; touch /srv/a/f /srv/a/sub/g /srv/b/f /srv/c/deep/f"
    # The files must exist before /init runs: make them in an image build step.
    image: Image = boot.image
    built = image.derive(setup)
    c = Container(built, tree.root, _stat_cmd("/srv/a", "/srv/a/f", "/srv/a/sub", "/srv/a/sub/g", "/srv/b/f",
                                               "/srv/c", "/srv/c/deep", "/srv/c/deep/f"),
                  env={"USER": "exploit", "USERMAP_UID": "1234", "USERMAP_GID": "2345"})  # fmt: skip
    try:
        assert c.wait() == 0
        got = _stat(c, "/srv/a", "/srv/a/f", "/srv/a/sub", "/srv/a/sub/g", "/srv/b/f", "/srv/c", "/srv/c/deep",
                    "/srv/c/deep/f")  # fmt: skip
    finally:
        c.cleanup()
    assert got == {
        "/srv/a": "1234 2345 750", "/srv/a/f": "1234 2345 640", "/srv/a/sub": "1234 2345 750",
        "/srv/a/sub/g": "1234 2345 640", "/srv/b/f": "1 1 600",
        "/srv/c": "1 1 705", "/srv/c/deep": "0 0 755", "/srv/c/deep/f": "0 0 644",
    }  # fmt: skip


def test_perms_never_follow_symlinks(boot, tree: Tree):
    # A hostile volume: links to /etc/shadow and to /etc, at the top and inside.
    _perms(tree, "10-vol", "/vol 1234:1234 0666 0777\n/vol/top-link 1234:1234 0666 0777\n")
    built = boot.image.derive(
        "mkdir -p /vol/sub && touch /vol/file && ln -s /etc/shadow /vol/shadow-link && "
        "ln -s /etc /vol/sub/etc-link && ln -s /etc/shadow /vol/top-link"
    )
    c = Container(built, tree.root, _stat_cmd("/etc/shadow", "/etc", "/etc/passwd", "/vol/file"))
    try:
        assert c.wait() == 0
        got = _stat(c, "/etc/shadow", "/etc", "/etc/passwd", "/vol/file")
    finally:
        c.cleanup()
    assert got["/vol/file"] == "1234 1234 666"
    assert got["/etc/shadow"] == "0 42 640"
    assert got["/etc"] == "0 0 755"
    assert got["/etc/passwd"] == "0 0 644"
    notice = "/etc/ignity/perms/10-vol:2: /vol/top-link is a symbolic link, not followed: rule skipped"
    assert f"[ignity/perms] {notice}" in c.lines, c.output


def test_perms_on_a_mounted_volume_change_only_what_differs(boot, tree: Tree):
    _perms(tree, "10-out", "/out/vol 1234:1234 0640 0750\n")
    c0 = boot("true")  # only to get a host directory mounted at /out
    assert c0.wait() == 0
    vol = c0.out / "vol"
    vol.mkdir()
    for i in range(10):
        (vol / f"f{i}").write_text("x")
        if i % 2:
            os.chown(vol / f"f{i}", 1234, 1234)
            os.chmod(vol / f"f{i}", 0o640)
    before = {p.name: p.stat().st_ctime_ns for p in vol.iterdir()}
    # Boot a second container on the same /out: the volume is already there.
    c = Container(boot.image, tree.root, ["true"], env={"IGNITY_VERBOSITY": "2"}, out=c0.out)
    try:
        assert c.wait() == 0
    finally:
        c.cleanup(keep_out=True)
    for p in vol.iterdir():
        st = p.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 1234, 0o640), p
        if int(p.name[1:]) % 2:
            assert st.st_ctime_ns == before[p.name], f"{p} was changed although nothing differed"
    assert any("/out/vol: 11 checked, 6 changed" in line for line in c.lines), c.output


def test_malformed_perms_file_stops_and_changes_nothing(boot, tree: Tree):
    _perms(tree, "10-ok", "/tmp 1234:1234 0600 0700\n")
    _perms(tree, "20-bad", "/srv 1234:1234 0640\n")
    tree.init("10-never", "echo init-ran")
    c = boot("true")
    assert c.wait() == 1
    assert c.lines[0].startswith(
        "[ignity/check] error: /etc/ignity/perms/20-bad:1: expected 'PATH UID:GID FMODE DMODE' or "
        "'PATH RECURSE ACCOUNT FMODE DMODE', got 3 field(s)"
    )
    assert c.lines[1:] == ["[ignity/stage1] 1 error(s) in /etc/ignity (listed above): nothing started"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/srv 1234:1234 0999 0700", "FMODE '0999' is not an octal mode like 0644"),
        ("/srv maybe 1:1 0600 0700", "RECURSE must be true or false, got 'maybe'"),
        ("/srv nosuchuser:1 0600 0700", "no user named 'nosuchuser' in this image"),
        ("srv 1:1 0600 0700", "path 'srv' is not absolute"),
        ("/srv {{NOPE}}:1 0600 0700", "unknown placeholder '{{NOPE}}'"),
        ("/ 1:1 0600 0700", "refusing to change the whole file system ('/')"),
    ],
)
def test_bad_perms_lines_name_file_and_line(boot, tree: Tree, line: str, message: str):
    _perms(tree, "10-x", f"# comment\n{line}\n")
    c = boot("true")
    assert c.wait() == 1
    assert c.lines[0].startswith(f"[ignity/check] error: /etc/ignity/perms/10-x:2: {message}")
    assert c.lines[1:] == ["[ignity/stage1] 1 error(s) in /etc/ignity (listed above): nothing started"]


def test_skip_perms(boot, tree: Tree):
    _perms(tree, "10-x", "/tmp 1234:1234 0600 0700\n")
    c = boot(*_stat_cmd("/tmp"), env={"IGNITY_SKIP_PERMS": "1", "USER": "exploit", "USERMAP_UID": "1234"})
    assert c.wait() == 0
    assert _stat(c, "/tmp") == {"/tmp": "0 0 1777"}


def test_image_prepared_with_preboot_runs_as_non_root(boot, tree: Tree):
    _perms(tree, "10-app", "/srv/app {{USERMAP_UID}}:{{USERMAP_GID}} 0640 0750\n")
    tree.env("05-user", "USER=exploit\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
    tree.init("10-init", 'echo "init as $(id -un) $(id -u)"; echo hello > /srv/app/written-by-init')
    tree.service("svc", "echo svc-as-$(id -u); exec sleep 100")
    tree.finalize("10-fin", "echo finalize-as-$(id -u)")
    # RUN mkdir -p /srv/app && preboot   (in the Dockerfile), then USER 1000:1000
    built = boot.image.derive("mkdir -p /srv/app/data && touch /srv/app/data/f && preboot", etc=tree.root)
    c = Container(built, tree.root, ["sh", "-c", wait_up('svc', timeout_ms=5000) + "; "
                                     "cat /srv/app/written-by-init; exit 7"],
                  user="1000:1000", run_tmpfs="mode=1777")  # fmt: skip
    try:
        assert c.wait() == 7
    finally:
        c.cleanup()
    for expected in ("init as exploit 1000", "hello", "svc-as-1000", "finalize-as-1000"):
        assert expected in c.lines, c.output


def test_arbitrary_uid_with_gid_0(boot, tree: Tree):
    # As OpenShift runs containers: a random uid, gid 0; the image made /run/ignity group-writable.
    tree.service("svc", "echo svc-as-$(id -u):$(id -g); exec sleep 100")
    tree.finalize("10-fin", "echo finalize-ran")
    built = boot.image.derive("mkdir -p /run/ignity && chgrp 0 /run/ignity && chmod 0775 /run/ignity")
    c = Container(built, tree.root, [], user="1000770000:0", run_tmpfs=None)
    try:
        c.wait_for("svc-as-1000770000:0")
        c.kill(signal.SIGTERM)
        assert c.wait() == 0
    finally:
        c.cleanup()
    assert "finalize-ran" in c.lines
    assert not any(line.startswith("[ignity/usermap]") for line in c.lines), c.output


def test_non_root_skips_what_needs_root_with_one_notice_each(boot, tree: Tree):
    _perms(tree, "10-x", "/out 1234:1234 0777 0777\n")
    c = boot("true", user="1000:1000", run_tmpfs="mode=1777",
             env={"USER": "someone", "USERMAP_UID": "1000", "USERMAP_GID": "1000"})  # fmt: skip
    assert c.wait() == 0
    notices = [line for line in c.lines if line.startswith("[ignity/")]
    assert any("not root: user someone (1000:1000) not created" in n for n in notices), c.output
    assert any("not root: ownership left as it is" in n for n in notices), c.output
    assert not any("Traceback" in line for line in c.lines)


def test_fix_perms_reads_rules_on_stdin(boot, tree: Tree):
    script = "mkdir -p /tmp/x && touch /tmp/x/f && echo '/tmp/x 1:1 0600 0700' | fix-perms && stat -c '%u %a' /tmp/x/f"
    c = boot("sh", "-c", script)
    assert c.wait() == 0
    assert "1 600" in c.lines


def test_fix_perms_reports_the_bad_line(boot, tree: Tree):
    c = boot("sh", "-c", "printf '# c\\n/tmp/x 1:1 0600\\n' | fix-perms")
    assert c.wait() == 1
    assert any(line.startswith("[ignity/fix-perms] stdin:2: expected") for line in c.lines)


def test_user_mapping_works_without_shadow_utils(boot, tree: Tree):
    # An image without useradd/groupadd (busybox-like): Ignity writes /etc/passwd and /etc/group itself.
    built = boot.image.derive("rm -f /usr/sbin/useradd /usr/sbin/groupadd /usr/sbin/adduser /usr/sbin/addgroup")
    c = Container(built, tree.root, ["sh", "-c", "command -v useradd || echo no-useradd; getent passwd app; "
                                     "ls /etc | grep -c ignity- || true"],
                  env={"USER": "app", "USERMAP_UID": "4321", "USERMAP_GID": "4321"})  # fmt: skip
    try:
        assert c.wait() == 0
    finally:
        c.cleanup()
    assert "no-useradd" in c.lines
    assert "app:x:4321:4321::/nonexistent:/bin/false" in c.lines
    assert "0" in c.lines  # no temporary file left in /etc
