"""Bugs found in review, each kept fixed by a test."""

from __future__ import annotations

from tests.tree import Tree, wait_up


def test_a_stop_racing_the_service_start_is_not_a_failed_start(boot, tree: Tree):
    # The init script stops the container and waits until s6-svscan has handed PID 1 to
    # stage 3, so that stage 2 then finds no s6-svscan to start the services with.
    tree.init("10-stop", 'kill -TERM 1; while [ "$(cat /proc/1/comm)" = s6-svscan ]; do :; done; exit 0')
    tree.service("svc", "exec sleep 100")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 0, c.output
    assert "finalize-ran" in c.lines and "cmd-ran" not in c.lines
    assert not [line for line in c.lines if line.startswith("[ignity/stage2]")], c.output


def test_halt_without_the_rights_is_one_line(boot, tree: Tree):
    c = boot("sh", "-c", "s6-setuidgid nobody ignity halt 4; echo halt=$?")
    assert c.wait() == 0
    assert "halt=1" in c.lines
    assert any(
        line.startswith("[ignity/halt] uid 65534 cannot stop the container") and line.endswith("nothing recorded")
        for line in c.lines
    ), c.output
    assert "Traceback" not in c.output


def test_services_and_s6_ignore_no_signal(boot, tree: Tree):
    tree.service("svc", "grep SigIgn /proc/self/status | sed 's/^/svc /'; exec sleep 100")
    script = "s6-svwait -u -t 5000 /run/ignity/services-state/svc 2>/dev/null; grep SigIgn /proc/1/status"
    c = boot("sh", "-c", "for i in $(seq 1000); do s6-svok /run/ignity/services-state/svc && break; "
             f"sleep 0.01; done; {script}")  # fmt: skip
    assert c.wait() == 0
    assert "svc SigIgn:\t0000000000000000" in c.lines, c.output
    assert "SigIgn:\t0000000000000000" in c.lines, c.output


def test_only_the_cmd_reads_the_terminal(boot, tree: Tree):
    # Issue #11: services and finalize scripts get /dev/null as stdin; they write to the terminal.
    tree.finalize("10-tty", "readlink /proc/self/fd/0 | sed 's/^/finalize-stdin /'; [ -t 1 ] && echo finalize-tty-out")
    tree.service("svc", "readlink /proc/self/fd/0 | sed 's/^/svc-stdin /'; exec sleep 100")
    c = boot("sh", "-c", "[ -t 0 ] && echo cmd-has-tty; " + wait_up("svc"), tty=True)
    assert c.wait() == 0
    assert "cmd-has-tty" in c.lines and "svc-stdin /dev/null" in c.lines, c.output
    assert "finalize-stdin /dev/null" in c.lines and "finalize-tty-out" in c.lines, c.output


def test_with_retries_kills_what_an_attempt_started(boot, tree: Tree):
    script = (
        "with-retries -n 0 -t 300 sh -c 'sleep 30 & echo $! > /tmp/child; wait'; echo status=$?; "
        # Killed: gone, or a zombie PID 1 has not reaped yet.
        "grep -qs '^State:[[:space:]]*[^Z]' /proc/$(cat /tmp/child)/status && echo child-alive || echo child-gone"
    )
    c = boot("sh", "-c", script)
    assert c.wait() == 0
    assert "status=137" in c.lines and "child-gone" in c.lines, c.output
