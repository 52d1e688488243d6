"""Read-only root, non-root user, an unwritable /run/ignity, and a terminal."""

from __future__ import annotations

import signal
import time

from tests.tree import Tree, wait_up


def _full_tree(tree: Tree) -> None:
    tree.env("10-a", "FROM_FILE=yes\n")
    tree.init("10-init", 'echo "init as $(id -u) FROM_FILE=$FROM_FILE"', shebang="#!/usr/bin/with-env sh")
    tree.service("svc", "echo svc-up-as-$(id -u); exec sleep 100")
    tree.finalize("10-fin", "echo finalize-as-$(id -u)")


def test_read_only_root_with_only_run_ignity_writable(boot, tree: Tree):
    _full_tree(tree)
    c = boot("sh", "-c", "touch /etc/probe 2>/dev/null && echo root-writable; "
             + wait_up('svc', timeout_ms=5000) + "; exit 4", readonly=True)  # fmt: skip
    assert c.wait() == 4
    lines = c.lines
    assert "root-writable" not in lines
    assert "init as 0 FROM_FILE=yes" in lines and "svc-up-as-0" in lines and "finalize-as-0" in lines


def test_non_root_user_runs_the_whole_lifecycle(boot, tree: Tree):
    _full_tree(tree)
    c = boot("sh", "-c", wait_up('svc', timeout_ms=5000) + "; echo cmd-as-$(id -u); exit 5",
             user="1000:1000", run_tmpfs="mode=1777")  # fmt: skip
    assert c.wait() == 5
    lines = c.lines
    for expected in ("init as 1000 FROM_FILE=yes", "svc-up-as-1000", "cmd-as-1000", "finalize-as-1000"):
        assert expected in lines, c.output


def test_non_root_read_only_stops_on_sigterm(boot, tree: Tree):
    _full_tree(tree)
    c = boot(user="1000:1000", run_tmpfs="mode=1777", readonly=True)
    c.wait_for("svc-up-as-1000")
    sent = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert time.monotonic() - sent < 2
    assert "finalize-as-1000" in c.lines


def test_unwritable_run_ignity_is_one_clear_line(boot, tree: Tree):
    _full_tree(tree)
    c = boot("true", user="1000:1000", readonly=True, run_tmpfs=None)
    assert c.wait() == 1
    assert len(c.lines) == 1, c.output
    assert c.lines[0].startswith("[ignity/stage1] /run/ignity is not writable by uid 1000")
    assert "--tmpfs /run/ignity" in c.lines[0]


def test_interactive_cmd_on_a_terminal(boot, tree: Tree):
    tree.service("svc", "exec sleep 100")
    script = 'read line; echo "got: $line"; echo waiting; trap - INT; sleep 100'
    c = boot("bash", "-c", f"echo ready; {script}", tty=True)
    c.wait_for("ready")
    c.write(b"hello there\n")
    c.wait_for("got: hello there")
    c.wait_for("waiting")
    c.write(b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground process group, the CMD
    assert c.wait() == 130


def test_cmd_is_the_terminal_foreground_process_group(boot, tree: Tree):
    c = boot("sh", "-c", "ps_pgid=$(cut -d' ' -f5 /proc/$$/stat); tpgid=$(cut -d' ' -f8 /proc/$$/stat); "
             "echo pgid=$ps_pgid tpgid=$tpgid", tty=True)  # fmt: skip
    assert c.wait() == 0
    line = next(x for x in c.lines if x.startswith("pgid="))
    pgid, tpgid = (int(part.split("=")[1]) for part in line.split())
    assert pgid == tpgid and pgid != 1
