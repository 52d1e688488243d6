"""The CMD's waiter chain (stage2.waiter_argv), run with the real execline programs.

The gate is what keeps a CMD from starting after a stop when its process is
forked after the CMD's group was signalled: every latch-taker makes CMD_GATE,
and the CMD's own process execs `exit` instead of the CMD when it finds it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ignity import paths, status, tools
from ignity.stages import stage2


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "CMD_GATE", str(tmp_path / "no-cmd"))
    monkeypatch.setattr(status, "CMD_PREFIX", f"{tmp_path}/cmd-status.")
    monkeypatch.setattr(status, "CMD_STARTED", str(tmp_path / "cmd-started"))
    monkeypatch.setattr(paths, "SCANDIR", str(tmp_path / "no-scandir"))  # s6-svscanctl fails: quiet
    return tmp_path


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    argv = stage2.waiter_argv(cmd)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def _statuses(state: Path) -> list[str]:
    return sorted(p.name for p in state.iterdir() if p.name.startswith("cmd-status."))


def test_without_the_gate_the_cmd_runs_and_its_status_is_the_files_name(state: Path):
    done = _run(["sh", "-c", 'echo "ran with $# words: $1|$2"; exit 7', "sh", "a b", ""])
    assert done.stdout == "ran with 2 words: a b|\n"
    assert _statuses(state) == ["cmd-status.7"]
    assert done.stderr == ""  # s6-svscanctl's complaint (no s6-svscan here) went into the status file


def test_a_cmd_killed_by_a_signal_is_recorded_as_256_plus_its_number(state: Path):
    _run(["sh", "-c", "kill -TERM $$"])
    assert _statuses(state) == ["cmd-status.271"]
    assert status.normalise(271) == 143


def test_with_the_gate_the_cmd_never_runs_and_its_status_is_0(state: Path):
    os.symlink(tools.find("exit"), paths.CMD_GATE)
    done = _run(["sh", "-c", "echo ran; exit 7"])
    assert "ran" not in done.stdout
    assert _statuses(state) == ["cmd-status.0"]


def test_a_cmd_that_cannot_be_executed_is_126_or_127_as_in_a_shell(state: Path):
    _run(["/nonexistent/program"])
    assert _statuses(state) == ["cmd-status.127"]
    not_executable = state / "plain-file"
    not_executable.write_text("")
    for p in state.glob("cmd-status.*"):
        p.unlink()
    _run([str(not_executable)])
    assert _statuses(state) == ["cmd-status.126"]


def test_the_gate_is_execd_with_exit_as_its_name_for_a_multicall_execline(state: Path):
    """A multicall execline (one binary for every command) finds `exit` by argv[0]. Seen with
    bash as the gate: with no script, it reads one from stdin, and $0 is its argv[0]."""
    os.symlink("/bin/bash", paths.CMD_GATE)
    argv = stage2.waiter_argv(["sh", "-c", "echo ran"])
    done = subprocess.run(argv, input='echo "argv0=$0"; exit 0\n', capture_output=True, text=True, timeout=30)
    assert done.stdout == "argv0=exit\n"
    assert _statuses(state) == ["cmd-status.0"]


def test_the_cmds_process_says_it_runs_with_every_signal_unblocked_and_closes_the_fd(state: Path):
    """Issue 20: a signal to the group before the CMD's process ran reached the waiter alone (which
    blocks them) and was lost. CMD_STARTED is made by the CMD's own process, unblocked, before the CMD."""
    import signal

    probe = f"ls /proc/self/fd {state}; exec grep -E '^SigBlk' /proc/self/status"
    argv = stage2.waiter_argv(["sh", "-c", probe])
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, stage2.WAITER_BLOCKED),
    )
    lines = done.stdout.split()
    assert lines[-2:] == ["SigBlk:", "0000000000000000"], done.stdout
    fds = lines[1 : lines.index(f"{state}:")]
    assert "9" not in fds, done.stdout  # fdclose 9: nothing of it leaks to the CMD
    assert "cmd-started" in lines, done.stdout
