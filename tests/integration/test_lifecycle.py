"""The lifecycle of SPEC.md as a user sees it: output, exit status, order."""

from __future__ import annotations

import signal

from tests.tree import Tree, wait_up

WITH_ENV = "#!/usr/bin/with-env sh"


def supervised(service: str) -> str:
    """Shell: until s6-supervise runs on SERVICE (a bounded poll, hang guard 10 s).

    A `down` service sends no event to wait for: s6-svok is the only way to know
    s6-svscan has started its supervisor.
    """
    return f"for i in $(seq 1000); do s6-svok /run/ignity/services-state/{service} && break; sleep 0.01; done; "


def test_env_files_load_in_order_and_container_env_wins(boot, tree: Tree):
    tree.env("10-base", "A=from-10\nB=from-10\nC=from-10\n")
    tree.env("20-layer", "B=from-20\nC=from-20\n")
    tree.env(".hidden", "A=hidden\n")
    tree.init("10-show", 'echo "init A=$A B=$B C=$C"', shebang=WITH_ENV)
    tree.service("svc", 'echo "service A=$A B=$B C=$C"; exec sleep 100', shebang=WITH_ENV)
    c = boot("sh", "-c", 'echo "cmd A=$A B=$B C=$C"', env={"C": "from-container"})
    assert c.wait() == 0
    assert "init A=from-10 B=from-20 C=from-container" in c.lines
    assert "cmd A=from-10 B=from-20 C=from-container" in c.lines


def test_init_scripts_run_in_name_order_before_services_and_cmd(boot, tree: Tree):
    for name in ("30-c", "10-a", "20-b"):
        tree.init(name, f"echo init {name} >> /out/log")
    tree.service("svc", "echo service >> /out/log; exec sleep 100")
    c = boot("sh", "-c", "echo cmd >> /out/log")
    assert c.wait() == 0
    log = (c.out / "log").read_text().split("\n")
    assert log[:3] == ["init 10-a", "init 20-b", "init 30-c"]
    assert "cmd" in log


def test_failing_init_script_stops_startup_with_its_status(boot, tree: Tree):
    tree.init("10-ok", "echo ok >> /out/log")
    tree.init("20-bad", "echo bad >> /out/log; exit 7")
    tree.init("30-never", "echo never >> /out/log")
    tree.service("svc", "echo service >> /out/log; exec sleep 100")
    tree.finalize("10-fin", "echo finalize >> /out/log")
    c = boot("sh", "-c", "echo cmd >> /out/log")
    assert c.wait() == 7
    assert (c.out / "log").read_text().split() == ["ok", "bad", "finalize"]
    assert any("/etc/ignity/init/20-bad exited 7" in line for line in c.lines)


def test_init_script_that_cannot_run_is_found_before_anything_starts(boot, tree: Tree):
    p = tree.init("10-noexec", "echo hi")
    p.chmod(0o644)
    tree.service("svc", "echo svc-started; exec sleep 100")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 1
    assert c.lines[0].startswith("[ignity/check] error: /etc/ignity/init/10-noexec: is not executable — chmod +x")
    assert "svc-started" not in c.lines and "cmd-ran" not in c.lines


def test_init_script_that_cannot_run_at_run_time_gives_126(boot, tree: Tree):
    # Valid at boot; an earlier init script takes the execute bit off its run-time copy.
    tree.init("10-break", "chmod -x /run/ignity/init/20-victim")
    tree.init("20-victim", "echo never")
    c = boot("echo", "cmd-ran")
    assert c.wait() == 126
    assert any("/etc/ignity/init/20-victim: cannot run: Permission denied" in line for line in c.lines), c.output
    assert "never" not in c.lines and "cmd-ran" not in c.lines


def test_cmd_exit_statuses(boot, tree: Tree):
    for cmd, expected in ((["true"], 0), (["sh", "-c", "exit 3"], 3), (["sh", "-c", "exit 130"], 130),
                          (["sh", "-c", "kill -USR1 $$"], 128 + signal.SIGUSR1),
                          (["sh", "-c", "kill -KILL $$"], 128 + signal.SIGKILL),
                          (["/no/such/program"], 127)):  # fmt: skip
        c = boot(*cmd)
        assert c.wait() == expected, (cmd, c.output)


def test_cmd_arguments_reach_the_cmd_exactly(boot, tree: Tree):
    words = ["", " lead", "tail ", "a b", "{", "}", "$HOME", "${?}", '"q"', "new\nline", "-g", "--"]
    c = boot("python3", "-c", "import sys, json; print('ARGS', json.dumps(sys.argv[1:]))", *words)
    assert c.wait() == 0
    import json

    line = next(line for line in c.lines if line.startswith("ARGS "))
    assert json.loads(line[5:]) == words


def test_service_restarts_after_it_dies(boot, tree: Tree):
    tree.service("flaky", "echo started >> /out/starts; n=$(wc -l < /out/starts); "
                 "if [ $n -lt 3 ]; then exit 1; fi; echo third-start; exec sleep 100")  # fmt: skip
    c = boot()
    c.wait_for("third-start", timeout=15)
    c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert (c.out / "starts").read_text().count("started") == 3


def test_down_service_stays_down_until_started(boot, tree: Tree):
    tree.service("lazy", "echo lazy-started; exec sleep 100", down="")
    tree.service("eager", "echo eager-started; exec sleep 100")
    script = (
        supervised("eager")
        + wait_up("eager", timeout_ms=10000)
        + "; "
        + supervised("lazy")
        + "s6-svstat -o up /run/ignity/services-state/lazy; "
        "rm /run/ignity/services-state/lazy/down; s6-svc -u /run/ignity/services-state/lazy; "
        + wait_up("lazy", timeout_ms=10000)
        + " && s6-svstat -o up /run/ignity/services-state/lazy"
    )
    c = boot("sh", "-c", script)
    assert c.wait() == 0
    lines = c.lines
    assert lines.count("false") == 1 and lines.count("true") == 1
    assert lines.index("false") < lines.index("lazy-started") < lines.index("true")


def test_init_script_can_mark_a_service_down(boot, tree: Tree):
    tree.init("10-disable", "touch /run/ignity/services/optional/down")
    tree.service("optional", "echo optional-started; exec sleep 100")
    c = boot("sh", "-c", supervised("optional") + "s6-svstat -o up /run/ignity/services-state/optional")
    assert c.wait() == 0
    assert "false" in c.lines
    assert "optional-started" not in c.lines


def test_finalize_scripts_run_in_order_at_shutdown(boot, tree: Tree):
    for name in ("20-b", "10-a", "30-c"):
        tree.finalize(name, f"echo finalize {name} >> /out/log")
    c = boot("sh", "-c", "echo cmd >> /out/log")
    assert c.wait() == 0
    assert (c.out / "log").read_text().split("\n")[:4] == ["cmd", "finalize 10-a", "finalize 20-b", "finalize 30-c"]


def test_no_cmd_runs_until_sigterm(boot, tree: Tree):
    tree.service("svc", "echo svc-up; exec sleep 100")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot()
    c.wait_for("svc-up")
    c.kill(signal.SIGTERM)
    assert c.wait() == 0
    assert "finalize-ran" in c.lines


def test_sigint_to_pid1_stops_the_container(boot, tree: Tree):
    tree.service("svc", "echo svc-up; exec sleep 100")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot()
    c.wait_for("svc-up")
    c.kill(signal.SIGINT)
    assert c.wait() == 0
    assert "finalize-ran" in c.lines


def test_sigterm_while_cmd_runs_gives_the_cmds_status(boot, tree: Tree):
    tree.service("svc", "exec sleep 100")
    c = boot("sh", "-c", "echo cmd-up; exec sleep 100")
    c.wait_for("cmd-up")
    c.kill(signal.SIGTERM)
    assert c.wait() == 128 + signal.SIGTERM


def test_cmd_that_handles_sigterm_exits_with_its_own_status(boot, tree: Tree):
    c = boot("sh", "-c", "trap 'echo got-term; exit 42' TERM; echo cmd-up; while :; do sleep 0.05; done")
    c.wait_for("cmd-up")
    c.kill(signal.SIGTERM)
    assert c.wait() == 42
    assert "got-term" in c.lines


def test_service_finish_can_stop_the_container_with_svscanctl(boot, tree: Tree):
    tree.service("oneshot", "echo oneshot-ran; exit 0",
                 finish="#!/bin/sh\ns6-svscanctl -t /run/ignity/services-state\n")  # fmt: skip
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot()
    assert c.wait(timeout=20) == 0
    assert "oneshot-ran" in c.lines and "finalize-ran" in c.lines


def test_ignity_halt_sets_the_exit_status(boot, tree: Tree):
    tree.service("worker", "echo worker-ran; exit 5",
                 finish='#!/bin/sh\nexec ignity halt "$1"\n')  # fmt: skip
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot()
    assert c.wait(timeout=20) == 5
    assert "finalize-ran" in c.lines


def test_ignity_halt_wins_over_the_cmd_killed_at_shutdown(boot, tree: Tree):
    tree.service("worker", "s6-svwait -u /run/ignity/services-state/worker >/dev/null 2>&1; exit 9",
                 finish="#!/bin/sh\nexec ignity halt 9\n")  # fmt: skip
    c = boot("sleep", "100")
    assert c.wait(timeout=20) == 9
