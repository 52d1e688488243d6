"""Stage 1 and 2: settings, waiting for services, and what stays resident."""

from __future__ import annotations

import signal
import time

import pytest

from tests.tree import Tree, wait_up


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IGNITY_KILL_GRACETIME", "abc"),
        ("IGNITY_SERVICES_GRACETIME", "-1"),
        ("IGNITY_CMD_WAIT_FOR_SERVICES", "yes"),
        ("IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME", "1.5"),
        ("IGNITY_KILL_FINALIZE_MAXTIME", "5s"),
        ("IGNITY_SKIP_PERMS", "2"),
        ("IGNITY_SYNC_DISKS", "true"),
        ("IGNITY_VERBOSITY", "9"),
    ],
)
def test_invalid_setting_is_a_one_line_startup_error(boot, tree: Tree, name: str, value: str):
    tree.init("10-never", "echo init-ran")
    c = boot("echo", "cmd-ran", env={name: value})
    assert c.wait() == 1
    assert c.lines == [f"[ignity/stage1] {name}={value!r}: " + c.lines[0].split(": ", 1)[1]]
    assert "Traceback" not in c.output and "init-ran" not in c.output


def test_invalid_setting_in_an_env_file_is_an_error(boot, tree: Tree):
    tree.env("10-settings", "IGNITY_KILL_GRACETIME=soon\n")
    c = boot("true")
    assert c.wait() == 1
    assert "IGNITY_KILL_GRACETIME='soon'" in c.output


def test_malformed_env_file_names_file_and_line(boot, tree: Tree):
    tree.env("10-bad", "A=1\n# comment\nthis is not a variable\n")
    tree.init("10-never", "echo init-ran")
    c = boot("true")
    assert c.wait() == 1
    assert c.lines == ["[ignity/stage1] /etc/ignity/envs/10-bad:3: expected NAME=VALUE, got 'this is not a variable'"]


def test_wait_for_services_waits_for_late_readiness(boot, tree: Tree):
    tree.service("late", "sleep 0.8; echo >&3; echo late-ready >> /out/log; exec sleep 100",
                 notification_fd="3\n")  # fmt: skip
    tree.service("plain", "echo plain-up >> /out/log; exec sleep 100")
    tree.service("off", "exec sleep 100", down="")
    c = boot("sh", "-c", "echo cmd-started >> /out/log; s6-svstat -o ready /run/ignity/services-state/late",
             env={"IGNITY_CMD_WAIT_FOR_SERVICES": "1"})  # fmt: skip
    assert c.wait() == 0
    log = (c.out / "log").read_text().split()
    assert log.index("late-ready") < log.index("cmd-started")
    assert "true" in c.lines


def test_without_waiting_the_cmd_does_not_wait_for_readiness(boot, tree: Tree):
    tree.service("late", "sleep 10; echo >&3; exec sleep 100", notification_fd="3\n")
    # Not yet supervised, maybe, when the CMD starts (a busy machine): status once it is up.
    c = boot("sh", "-c", wait_up("late") + " && s6-svstat -o ready /run/ignity/services-state/late")
    assert c.wait() == 0, c.output
    assert "false" in c.lines


def test_wait_for_services_fails_past_its_maxtime(boot, tree: Tree):
    tree.service("never", "exec sleep 100", notification_fd="3\n")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran", env={"IGNITY_CMD_WAIT_FOR_SERVICES": "1",
                                     "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "500"})  # fmt: skip
    started = time.monotonic()
    assert c.wait() == 1
    assert time.monotonic() - started < 3
    assert "cmd-ran" not in c.lines and "finalize-ran" in c.lines
    assert any("never (not ready)" in line and "MAXTIME=500 ms" in line for line in c.lines)


def test_no_python_stays_resident(boot, tree: Tree):
    tree.service("a", "exec sleep 100")
    tree.service("b", "exec sleep 100")
    lister = (
        "import os\n"
        "for p in sorted(os.listdir('/proc'), key=lambda x: int(x) if x.isdigit() else 0):\n"
        "    if p.isdigit() and int(p) != os.getpid():\n"
        "        try: print('PROC', p, open(f'/proc/{p}/comm').read().strip(), "
        "open(f'/proc/{p}/cmdline','rb').read().replace(b'\\0', b' ').decode().strip())\n"
        "        except OSError: pass\n"
    )
    c = boot("sh", "-c", wait_up('a', 'b', timeout_ms=5000) + "; "
             f"exec python3 -c \"{lister}\"",
             env={"IGNITY_CMD_WAIT_FOR_SERVICES": "1"})  # fmt: skip
    assert c.wait() == 0
    # s6-ftrigrd is the short-lived helper of s6-svwait and s6-ftrig-listen: it may still be exiting.
    procs = [p for p in (line.split(" ", 3) for line in c.lines if line.startswith("PROC ")) if p[2] != "s6-ftrigrd"]
    by_comm = sorted(p[2] for p in procs)
    assert procs[0][1:3] == ["1", "s6-svscan"]
    # The init machinery: s6-svscan, two s6-supervise, the execline waiter; then the services.
    assert by_comm == sorted(["s6-svscan", "s6-supervise", "s6-supervise", "foreground", "sleep", "sleep"]), procs
    assert not any(p[2].startswith("python") for p in procs), procs


def test_sigterm_during_init_scripts_runs_stage3(boot, tree: Tree):
    tree.init("10-long", "echo init-long-started; exec sleep 100")
    tree.service("svc", "echo svc-started; exec sleep 100")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran")
    c.wait_for("init-long-started")
    started = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert time.monotonic() - started < 2
    assert "finalize-ran" in c.lines
    assert "svc-started" not in c.lines and "cmd-ran" not in c.lines


def test_sigterm_during_the_service_wait_runs_stage3(boot, tree: Tree):
    tree.service("never", "echo never-started; exec sleep 100", notification_fd="3\n")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran", env={"IGNITY_CMD_WAIT_FOR_SERVICES": "1",
                                     "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": "0"})  # fmt: skip
    c.wait_for("never-started")
    started = c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert time.monotonic() - started < 2
    assert "finalize-ran" in c.lines and "cmd-ran" not in c.lines


def test_boot_time_check_warns_of_a_misspelt_setting_and_boots(boot, tree: Tree):
    tree.env("10-typo", "IGNITY_KILL_GRACETIM=100\n")
    c = boot("echo", "cmd-ran", env={"IGNITY_SERVICES_GRACETIM": "1"})
    assert c.wait() == 0
    assert "cmd-ran" in c.lines
    warnings = [line for line in c.lines if line.startswith("[ignity/check] warning: ")]
    assert any("IGNITY_KILL_GRACETIM" in w and "did you mean IGNITY_KILL_GRACETIME?" in w for w in warnings), c.output
    assert any("IGNITY_SERVICES_GRACETIM" in w and "did you mean IGNITY_SERVICES_GRACETIME?" in w for w in warnings)


def test_boot_time_check_errors_stop_before_anything_starts(boot, tree: Tree):
    p = tree.root / "init" / "10-dos"
    p.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    p.chmod(0o755)
    tree.service("svc", "echo svc-started; exec sleep 100")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 1
    assert c.lines[-1] == "[ignity/stage1] 1 error(s) in /etc/ignity (listed above): nothing started"
    assert not {"svc-started", "cmd-ran", "finalize-ran"} & set(c.lines)
