"""A hostile volume under a perms rule (issue #10 point 5, issue #11 point 6), booted as a real PID 1.

The attacker owns what is inside the volume (uid 1234 here) and root applies
a rule to it at boot or through `fix-perms`. Whatever the volume holds -
links at any position of the rule's path, links swapped in while the walk
runs, 10,000 levels, devices, fifos, sockets, hard links - nothing outside it
may change, the boot must not hang or stop, and every problem is one line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.harness import Container
from tests.integration.test_perms import _stat
from tests.tree import Tree

ATTACKER = "setpriv --reuid 1234 --regid 1234 --clear-groups"


def _perms(tree: Tree, name: str, text: str) -> None:
    (tree.root / "perms" / name).write_text(text)


def _stat_cmd(*paths: str, fmt: str = "%u %g %a") -> str:
    return " ".join(f"echo STAT {p} $(stat -c '{fmt}' {p});" for p in paths)


def _perms_lines(c: Container) -> list[str]:
    return [line for line in c.lines if line.startswith("[ignity/perms]")]


def _run(image, tree: Tree, script: str, timeout: float = 60, **kwargs) -> Container:  # type: ignore[no-untyped-def]
    """Boot `sh -c script` as the CMD, to its end; the container, with its exit status as `.status`."""
    c = Container(image, tree.root, ["sh", "-c", script], **kwargs)
    try:
        c.status = c.wait(timeout)  # type: ignore[attr-defined]
    finally:
        c.cleanup()
    return c


# --- links at every position of a rule's path ----------------------------------------------

RULE = "/hv/a/data/cache"
# Where each link leads, with what a followed rule would then have changed (made root 0700/0600 here).
LINKS = {
    # the first component of the path: /hv -> /, so the rule would be /a/data/cache
    "first-to-slash": ("/hv", "/", "/a/data/cache"),
    # a middle component: /hv/a -> /etc, so /etc/data/cache
    "middle-to-etc": ("/hv/a", "/etc", "/etc/data/cache"),
    # the rule path's parent, the example: data -> /var, so /var/cache
    "parent-to-var": ("/hv/a/data", "/var", "/var/cache"),
    # the last component itself
    "last-to-var-cache": ("/hv/a/data/cache", "/var/cache", "/var/cache"),
    # dangling links, in the middle and last
    "middle-dangling": ("/hv/a", "/nowhere", ""),
    "last-dangling": ("/hv/a/data/cache", "/nowhere/cache", ""),
}


@pytest.mark.parametrize("case", sorted(LINKS))
def test_a_link_at_any_position_of_the_rule_path_changes_nothing(boot, tree: Tree, case: str):
    link, target, victim = LINKS[case]
    _perms(tree, "10-vol", f"# the volume's rule\n{RULE} 1234:1234 0666 0777\n")
    canaries = [victim, f"{victim}/canary"] if victim and victim != "/var/cache" else []
    setup = [
        "mkdir -p /hv/a/data/cache /a/data/cache /etc/data/cache",
        "touch /a/data/cache/canary /etc/data/cache/canary",
        "chmod 700 /a/data/cache /etc/data/cache && chmod 600 /a/data/cache/canary /etc/data/cache/canary",
        "chown -R 1234:1234 /hv",
        f"rm -rf {link} && ln -s {target} {link}",
    ]
    built = boot.image.derive(" && ".join(setup))
    watched = ["/var/cache", "/var", "/etc", "/", *canaries]
    c = _run(built, tree, _stat_cmd(*watched) + " echo CMD-RAN")
    assert "CMD-RAN" in c.lines, c.output
    got = _stat(c, *watched)
    assert got["/var/cache"] == "0 0 755"
    assert got["/var"] == "0 0 755"
    assert got["/etc"] == "0 0 755"
    assert got["/"] == "0 0 755"
    for path in canaries:
        assert got[path] == ("0 0 700" if not path.endswith("canary") else "0 0 600"), (path, c.output)
    rest = "rule skipped" if link == RULE else f"rule for {RULE} skipped"
    assert _perms_lines(c) == [
        f"[ignity/perms] /etc/ignity/perms/10-vol:2: {link} is a symbolic link, not followed: {rest}"
    ], c.output


# --- links swapped in while the walk runs -------------------------------------------------------

FLIPPER = r"""
# As the attacker: the rule path's parent flips between a directory and a link to /tmp/outside,
# and a directory inside the tree does the same (in both states of the parent), as fast as the
# shell goes, until killed.
cd /tmp/vol
while :; do
  mv flip flip.d 2>/dev/null; ln -s /tmp/outside flip 2>/dev/null
  mv flip.d/tree/sub flip.d/tree/sub.d 2>/dev/null; ln -s /tmp/outside/tree flip.d/tree/sub 2>/dev/null
  rm -f flip.d/tree/sub; mv flip.d/tree/sub.d flip.d/tree/sub 2>/dev/null
  rm -f flip; mv flip.d flip 2>/dev/null
  mv flip/tree/sub flip/tree/sub.d 2>/dev/null; ln -s /tmp/outside/tree flip/tree/sub 2>/dev/null
  rm -f flip/tree/sub; mv flip/tree/sub.d flip/tree/sub 2>/dev/null
done
"""


def test_links_swapped_during_the_walk_change_nothing_outside_the_volume(boot, tree: Tree, tmp_path: Path):
    flipper = tmp_path / "flip.sh"
    flipper.write_text(FLIPPER)
    script = textwrap.dedent(f"""\
        set -e
        mkdir -p /tmp/vol/flip/tree/sub /tmp/outside/tree/sub
        for d in $(seq 40); do
          mkdir /tmp/vol/flip/tree/sub/d$d; for f in $(seq 50); do : > /tmp/vol/flip/tree/sub/d$d/f$f; done
        done
        touch /tmp/outside/tree/canary /tmp/outside/tree/sub/canary
        chmod 700 /tmp/outside /tmp/outside/tree /tmp/outside/tree/sub
        chmod 600 /tmp/outside/tree/canary /tmp/outside/tree/sub/canary
        chmod 755 /tmp/vol && chown 1234:1234 /tmp/vol /tmp/vol/flip /tmp/vol/flip/tree /tmp/vol/flip/tree/sub
        chmod 711 /tmp/outside  # the attacker may reach it (a link target need not be readable)
        {ATTACKER} sh /out/flip.sh &
        flipper=$!
        # Until three runs met the parent as a link (the race run, not dodged), at most 300 runs.
        hits=0
        for run in $(seq 300); do
          out=$(echo '/tmp/vol/flip/tree 1234:1234 0666 0777' | fix-perms 2>&1) || echo FIX-PERMS-FAILED
          [ -z "$out" ] || echo "$out"
          case $out in *"/tmp/vol/flip is a symbolic link"*) hits=$((hits + 1));; esac
          [ $hits -lt 3 ] || break
        done
        echo HITS $hits
        kill $flipper
        wait $flipper || true
        {_stat_cmd("/tmp/outside", "/tmp/outside/tree", "/tmp/outside/tree/canary", "/tmp/outside/tree/sub",
                   "/tmp/outside/tree/sub/canary")}
        echo CMD-DONE
        """)  # fmt: skip
    c = _run(boot.image, tree, script, timeout=120, files={"flip.sh": flipper})
    assert "CMD-DONE" in c.lines, c.output
    assert not any("FIX-PERMS-FAILED" in line or "Traceback" in line for line in c.lines), c.output
    assert _stat(c, "/tmp/outside", "/tmp/outside/tree", "/tmp/outside/tree/canary", "/tmp/outside/tree/sub",
                 "/tmp/outside/tree/sub/canary") == {
        "/tmp/outside": "0 0 711", "/tmp/outside/tree": "0 0 700", "/tmp/outside/tree/canary": "0 0 600",
        "/tmp/outside/tree/sub": "0 0 700", "/tmp/outside/tree/sub/canary": "0 0 600",
    }, c.output  # fmt: skip
    assert "HITS 3" in c.lines, c.output
    assert any("/tmp/vol/flip is a symbolic link, not followed: rule for /tmp/vol/flip/tree skipped" in line
               for line in c.lines), c.output  # fmt: skip


DEEP_FLIPPER = r"""
# As the attacker, while root walks 45 levels below /tmp/vol/t (deeper than the walk holds
# open): level 3 leaves for another directory and a link to /tmp/outside takes its place, and
# level 20 is swapped for a link in place; then both come back; in a loop, until told to stop.
cd /tmp/vol
echo FLIPPING
l3=t/L1/L2/L3
l20=$(cd t && find . -type d -name L20 | head -n 1 | cut -c3-)
while [ ! -e /tmp/stop ]; do
  mv $l3 elsewhere/L3 2>/dev/null; ln -s /tmp/outside/L3 $l3 2>/dev/null; rm -f $l3; mv elsewhere/L3 $l3 2>/dev/null
  mv t/$l20 t/$l20.d 2>/dev/null; ln -s /tmp/outside/L3 t/$l20 2>/dev/null; rm -f t/$l20; mv t/$l20.d t/$l20 2>/dev/null
done
"""


def test_ancestors_moved_while_the_walk_is_deeper_change_nothing_outside(boot, tree: Tree, tmp_path: Path):
    flipper = tmp_path / "flip.sh"
    flipper.write_text(DEEP_FLIPPER)
    script = textwrap.dedent(f"""\
        set -e
        mkdir -p /tmp/vol/elsewhere /tmp/outside/L3/s1
        d=/tmp/vol/t
        for level in $(seq 45); do
          d=$d/L$level; mkdir -p $d/s1 $d/s2; for f in $(seq 100); do : > $d/s1/f$f; done; : > $d/s2/f
        done
        touch /tmp/outside/L3/canary /tmp/outside/L3/s1/canary
        chmod 700 /tmp/outside/L3 /tmp/outside/L3/s1 && chmod 600 /tmp/outside/L3/canary /tmp/outside/L3/s1/canary
        chmod 711 /tmp/outside && chmod 755 /tmp/vol && chown -R 1234:1234 /tmp/vol
        {ATTACKER} sh /out/flip.sh &
        flipper=$!
        for run in $(seq 30); do
          echo '/tmp/vol/t 1234:1234 0666 0777' | fix-perms || echo FIX-PERMS-FAILED
        done
        touch /tmp/stop
        wait $flipper
        {_stat_cmd("/tmp/outside/L3", "/tmp/outside/L3/canary", "/tmp/outside/L3/s1", "/tmp/outside/L3/s1/canary")}
        # Once the attacker stops, one more run leaves the whole volume as the rule says.
        echo '/tmp/vol/t 1234:1234 0666 0777' | fix-perms
        echo WRONG $(find /tmp/vol/t "(" -type d ! -perm 777 ")" -o "(" -type f ! -perm 666 ")" -o ! -user 1234 | wc -l)
        echo LEVELS $(find /tmp/vol/t -type d -name 'L*' | wc -l)
        echo CMD-DONE
        """)  # fmt: skip
    c = _run(boot.image, tree, script, timeout=120, files={"flip.sh": flipper})
    assert "CMD-DONE" in c.lines, c.output
    assert not any("FIX-PERMS-FAILED" in line or "Traceback" in line for line in c.lines), c.output
    assert _stat(c, "/tmp/outside/L3", "/tmp/outside/L3/canary", "/tmp/outside/L3/s1", "/tmp/outside/L3/s1/canary") == {
        "/tmp/outside/L3": "0 0 700", "/tmp/outside/L3/canary": "0 0 600",
        "/tmp/outside/L3/s1": "0 0 700", "/tmp/outside/L3/s1/canary": "0 0 600",
    }, c.output  # fmt: skip
    assert "WRONG 0" in c.lines and "LEVELS 45" in c.lines, c.output


# --- depth and the open-file limit ------------------------------------------------------------------

DEEP = r"""
import os, stat, sys

what, top, depth = sys.argv[1], sys.argv[2], int(sys.argv[3])
if what == "make":
    os.mkdir(top, 0o700)
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
for level in range(depth):
    if what == "make":
        os.mkdir("d", 0o700, dir_fd=fd)
        os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
    else:
        for name in ("f", "d"):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            want = (1234, 1234, 0o750 if name == "d" else 0o640)
            if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != want:
                sys.exit(f"DEEP-WRONG {name} at level {level}")
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
print(f"DEEP-{what.upper()}-OK")
"""


def test_ten_thousand_levels_under_a_1024_open_file_limit(boot, tree: Tree, tmp_path: Path):
    deep = tmp_path / "deep.py"
    deep.write_text(DEEP)
    script = (
        "python3 /out/deep.py make /tmp/deep 10000 && ulimit -n 1024 && echo LIMIT $(ulimit -n) && "
        "echo '/tmp/deep 1234:1234 0640 0750' | IGNITY_VERBOSITY=2 fix-perms && "
        "python3 /out/deep.py check /tmp/deep 10000"
    )
    c = _run(boot.image, tree, script, timeout=180, files={"deep.py": deep})
    assert "LIMIT 1024" in c.lines
    assert "DEEP-MAKE-OK" in c.lines and "DEEP-CHECK-OK" in c.lines, c.output
    assert any(line.endswith("stdin:1: /tmp/deep: 20001 checked, 20001 changed") for line in c.lines), c.output
    assert not any("Traceback" in line or "error" in line for line in c.lines), c.output


def test_ten_thousand_levels_through_the_boot_s_own_perms_phase(boot, tree: Tree, tmp_path: Path):
    # The phase stage 1 runs (`preboot` is the same code: /etc/ignity/perms, read and applied),
    # on a tree made once the container runs (at boot it does not exist yet: a notice).
    deep = tmp_path / "deep.py"
    deep.write_text(DEEP)
    _perms(tree, "10-deep", "/tmp/deep 1234:1234 0640 0750\n")
    script = (
        "python3 /out/deep.py make /tmp/deep 10000 && ulimit -n 1024 && "
        "preboot echo PREBOOT-DONE && python3 /out/deep.py check /tmp/deep 10000"
    )
    c = _run(boot.image, tree, script, timeout=180, files={"deep.py": deep})
    assert "[ignity/perms] /etc/ignity/perms/10-deep:1: /tmp/deep does not exist, skipped" in c.lines, c.output
    assert "PREBOOT-DONE" in c.lines and "DEEP-CHECK-OK" in c.lines, c.output
    assert len([line for line in c.lines if line.startswith("[ignity/")]) == 3, c.output  # the notice, stage 3's two


# --- devices, fifos, sockets ---------------------------------------------------------------------------


def test_devices_fifos_and_sockets_are_fixed_without_being_opened(boot, tree: Tree):
    _perms(tree, "10-vol", "/hv 1234:1234 0640 0750\n")
    built = boot.image.derive(
        "mkdir -p /hv/dev && mknod -m 600 /hv/dev/null c 1 3 && mknod -m 600 /hv/dev/disk b 7 200 && "
        "mkfifo -m 600 /hv/fifo && "
        "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('/hv/sock')\" && chmod 600 /hv/sock"
    )
    paths = ("/hv/dev/null", "/hv/dev/disk", "/hv/fifo", "/hv/sock")
    # A fifo with no writer: opened for reading, it would hang the boot (the hang guard is `wait`'s timeout).
    c = _run(built, tree, _stat_cmd(*paths, fmt="%u %g %a %F %t:%T") + " echo CMD-RAN", timeout=30)
    assert "CMD-RAN" in c.lines, c.output
    assert _stat(c, *paths) == {
        "/hv/dev/null": "1234 1234 640 character special file 1:3",
        "/hv/dev/disk": "1234 1234 640 block special file 7:c8",
        "/hv/fifo": "1234 1234 640 fifo 0:0",
        "/hv/sock": "1234 1234 640 socket 0:0",
    }, c.output
    assert _perms_lines(c) == [], c.output


# --- read-only file systems ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["read-only-root", "read-only-mount"])
def test_a_rule_on_a_read_only_file_system_is_one_warning_and_the_boot_goes_on(boot, tree: Tree, where: str):
    # /etc/ignity is a read-only bind mount in the harness, as a `:ro` volume is.
    path = "/srv/ro" if where == "read-only-root" else "/etc/ignity/init"
    _perms(tree, "10-ro", f"{path} 1234:1234 0640 0750\n/out false 0:0 0755 0755\n")
    tree.init("10-init", "echo init-ran")
    built = boot.image.derive("mkdir -p /srv/ro/sub && touch /srv/ro/f /srv/ro/sub/g")
    c = _run(built, tree, _stat_cmd(path, "/out") + " echo CMD-RAN; exit 3", readonly=where == "read-only-root")
    assert c.status == 3, c.output
    assert "init-ran" in c.lines and "CMD-RAN" in c.lines, c.output
    lines = _perms_lines(c)
    assert len(lines) == 1, c.output
    assert lines[0].startswith(f"[ignity/perms] /etc/ignity/perms/10-ro:1: {path}: "), lines
    assert lines[0].endswith(f"could not be changed, first {path}: Read-only file system"), lines
    assert _stat(c, "/out")["/out"] == "0 0 755"  # the next rule was applied
    assert not any("internal error" in line or "Traceback" in line for line in c.lines), c.output


# --- hard links -----------------------------------------------------------------------------------------------


def test_a_hard_link_to_a_file_outside_changes_nothing_there(boot, tree: Tree):
    # With fs.protected_hardlinks=1 the kernel refuses the link; with 0, Ignity leaves
    # multiply-linked files alone. Either way /etc/shadow stays root's.
    _perms(tree, "10-vol", "/hv 1234:1234 0666 0777\n")
    built = boot.image.derive("mkdir -p /hv && chown 1234:1234 /hv")
    script = (
        f"{ATTACKER} ln /etc/shadow /hv/shadow 2>/dev/null && echo LINKED || echo LINK-REFUSED; "
        "echo '/hv 1234:1234 0666 0777' | fix-perms; " + _stat_cmd("/etc/shadow")
    )
    c = _run(built, tree, script)
    assert _stat(c, "/etc/shadow") == {"/etc/shadow": "0 42 640"}, c.output
    if Path("/proc/sys/fs/protected_hardlinks").read_text().strip() == "1":
        assert "LINK-REFUSED" in c.lines, c.output
    else:
        assert any("with more than one hard link left as they are" in line for line in c.lines), c.output


def test_immutable_files_are_one_line_and_the_next_rule_runs(boot, tree: Tree):
    script = (
        "mkdir -p /tmp/imm/sub /tmp/other && touch /tmp/imm/a /tmp/imm/sub/b /tmp/imm/c /tmp/other/d && "
        "chattr +i /tmp/imm/a /tmp/imm/sub/b && "
        "printf '/tmp/imm 1234:1234 0640 0750\\n/tmp/other 1234:1234 0640 0750\\n' | fix-perms; echo EXIT $?; "
        + _stat_cmd("/tmp/imm", "/tmp/imm/a", "/tmp/imm/sub/b", "/tmp/imm/c", "/tmp/other/d")
    )
    c = _run(boot.image, tree, script)
    assert "EXIT 0" in c.lines, c.output
    lines = _perms_lines(c)
    assert len(lines) == 1, c.output
    assert lines[0].startswith("[ignity/perms] stdin:1: /tmp/imm: 2 entries could not be changed, first /tmp/imm/")
    assert lines[0].endswith(": Operation not permitted"), lines
    assert _stat(c, "/tmp/imm", "/tmp/imm/a", "/tmp/imm/sub/b", "/tmp/imm/c", "/tmp/other/d") == {
        "/tmp/imm": "1234 1234 750", "/tmp/imm/a": "0 0 644", "/tmp/imm/sub/b": "0 0 644",
        "/tmp/imm/c": "1234 1234 640", "/tmp/other/d": "1234 1234 640",
    }, c.output  # fmt: skip
