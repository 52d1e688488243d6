"""What Ignity prints (one prefix, stderr, verbosity levels) and services' own output and loggers."""

from __future__ import annotations

import re
import signal

from tests.tree import Tree, wait_up

PREFIX = re.compile(r"^\[ignity/[a-z0-9-]+\] ")


def _ours(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[ignity")]


def test_every_ignity_line_has_the_prefix_at_debug_level(boot, tree: Tree):
    tree.env("10-a", "A=1\n")
    tree.init("10-init", "echo init-out")
    tree.service("svc", "echo svc-out; exec sleep 100")
    tree.finalize("10-fin", "echo fin-out")
    c = boot("sh", "-c", wait_up('svc', timeout_ms=5000) + "; echo cmd-out",
             env={"IGNITY_VERBOSITY": "2"})  # fmt: skip
    assert c.wait() == 0
    ours = _ours(c.lines)
    assert len(ours) >= 8
    assert all(PREFIX.match(line) for line in ours), ours
    phases = {line.split("]")[0] + "]" for line in ours}
    assert {"[ignity/stage1]", "[ignity/stage2]", "[ignity/stage3]"} <= phases
    # Debug lines say how long each step took.
    assert any(re.search(r"init script 10-init: exited 0 after \d+ ms", line) for line in ours)
    # Everything else is the programs' own output, unchanged.
    assert {"init-out", "svc-out", "fin-out", "cmd-out"} <= set(c.lines)


def test_default_verbosity_says_only_start_of_stop_and_exit(boot, tree: Tree):
    tree.service("svc", "exec sleep 100")
    c = boot("true")
    assert c.wait() == 0
    assert [line.split(" after ")[0] for line in _ours(c.lines)] == [
        "[ignity/stage3] stopping",
        "[ignity/stage3] exiting with status 0",
    ]


def test_verbosity_0_prints_errors_only(boot, tree: Tree):
    tree.service("svc", "exec sleep 100")
    c = boot("true", env={"IGNITY_VERBOSITY": "0"})
    assert c.wait() == 0
    assert _ours(c.lines) == []
    tree.init("10-fail", "exit 3")
    c = boot("true", env={"IGNITY_VERBOSITY": "0"})
    assert c.wait() == 3
    assert _ours(c.lines) == ["[ignity/stage2] /etc/ignity/init/10-fail exited 3: start-up stopped"]


def test_ignity_messages_go_to_stderr_and_service_output_is_untouched(boot, tree: Tree):
    tree.service("talker", "printf 'raw\\tbytes \\033[1mbold\\033[0m\\n'; echo to-stderr >&2; exec sleep 100")
    script = "exec 3>&1; " + wait_up("talker", timeout_ms=5000) + "; ignity halt 9 2>/out/halt.err 1>/out/halt.out"
    c = boot("sh", "-c", script)
    assert c.wait() == 9
    assert "raw\tbytes \x1b[1mbold\x1b[0m" in c.lines and "to-stderr" in c.lines
    assert (c.out / "halt.out").read_text() == ""


def test_s6_log_logger_writes_rotated_files(boot, tree: Tree):
    # A logged service: its stdout goes to s6-log, which keeps 3 archives of at most 4096 bytes.
    svc = tree.service("chatty", "i=0; while [ $i -lt 400 ]; do echo \"line $i of chatty output\"; i=$((i+1)); done; "
                       "echo done-writing; exec sleep 1000")  # fmt: skip
    (svc / "log").mkdir()
    (svc / "log" / "run").write_text("#!/bin/sh\nexec s6-log n3 s4096 T /out/logs\n")
    (svc / "log" / "run").chmod(0o755)
    script = (
        # Bounded poll (hang guard 10 s) for the logger to have rotated at least twice.
        "for i in $(seq 1000); do [ $(ls /out/logs | grep -c '^@') -ge 2 ] && break; sleep 0.01; done; ls /out/logs"
    )
    c = boot("sh", "-c", script)
    assert c.wait() == 0
    logs = c.out / "logs"
    archives = sorted(p for p in logs.iterdir() if p.name.startswith("@"))
    assert 2 <= len(archives) <= 3
    # s6-log rotates once the current file has reached the size; it writes what it has read in one go,
    # so an archive can be larger than s4096 under a burst: only the count (n3) is a bound.
    text = "".join(p.read_text() for p in archives) + (logs / "current").read_text()
    assert "line 0 of chatty output" not in text or len(archives) < 3  # the oldest may be gone
    assert "line 399 of chatty output" in text
    # s6-log T: each line starts with an ISO 8601 timestamp.
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+  line", archives[-1].read_text())
    # The logged service's output does not reach the container's stdout.
    assert not any("of chatty output" in line for line in c.lines)


def test_a_logger_drains_before_the_container_exits(boot, tree: Tree):
    svc = tree.service("writer", "trap 'echo last-words; exit 0' TERM; echo first-words; "
                       "while :; do sleep 0.05; done")  # fmt: skip
    (svc / "log").mkdir()
    (svc / "log" / "run").write_text("#!/bin/sh\nexec s6-log /out/logs\n")
    (svc / "log" / "run").chmod(0o755)
    # The CMD says when the logger has written the first line (bounded poll, hang guard 10 s).
    c = boot("sh", "-c", "for i in $(seq 1000); do grep -q first-words /out/logs/current 2>/dev/null && break; "
             "sleep 0.01; done; echo logged; exec sleep 1000")  # fmt: skip
    c.wait_for("logged")
    c.kill(signal.SIGTERM)
    assert c.wait() == 128 + signal.SIGTERM
    assert (c.out / "logs" / "current").read_text().split() == ["first-words", "last-words"]
