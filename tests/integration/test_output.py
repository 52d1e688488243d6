"""Service output in raw, prefixed and json modes (IGNITY_SERVICES_OUTPUT, output-mode files), as PID 1."""

from __future__ import annotations

import json
import re
import signal

import pytest

from tests.tree import Tree, wait_up

WIDTH = len("database")
PREFIXED = re.compile(r"^(?P<name>[a-z]+ *) (?P<sep>[|!]) (?P<message>.*)$")
STREAM = {"|": "stdout", "!": "stderr"}


def attribute(line: str, mode: str) -> tuple[str, str, str] | None:
    """(service, stream, message) of a formatted line; None for the CMD's and Ignity's own lines."""
    if mode == "json":
        if not line.startswith("{"):
            return None
        obj = json.loads(line)
        assert set(obj) <= {"time", "service", "stream", "message", "partial", "encoding"}, obj
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", obj["time"]), obj
        return obj["service"], obj["stream"], obj["message"]
    m = PREFIXED.match(line)
    if m is None:
        return None
    return m["name"].rstrip(), STREAM[m["sep"]], m["message"]


def chatty(tree: Tree, name: str, lines: int, pad: str = "") -> None:
    tree.service(name, f"i=0; while [ $i -lt {lines} ]; do echo \"{name} out $i {pad}\"; echo \"{name} err $i\" >&2; "
                 f"i=$((i+1)); done; echo \"{name} done\"; exec sleep 1000")  # fmt: skip


def _done(mode: str, name: str) -> str:
    if mode == "json":
        return f'"service": "{name}", "stream": "stdout", "message": "{name} done"'
    return f"{name.ljust(WIDTH)} | {name} done" if mode == "prefixed" else f"{name} done"


@pytest.mark.parametrize("mode", ["raw", "prefixed", "json"])
def test_two_services_and_a_cmd_every_line_attributed(boot, tree: Tree, mode: str):
    chatty(tree, "web", 50)
    chatty(tree, "database", 50)
    c = boot("sh", "-c", "echo cmd says hello; echo cmd err >&2; exec sleep 1000", env={"IGNITY_SERVICES_OUTPUT": mode})
    for name in ("web", "database"):
        c.wait_for(_done(mode, name))
    c.wait_for("cmd err")  # the CMD runs: a stop before it starts would be status 0
    c.kill(signal.SIGTERM)
    assert c.wait() == 128 + signal.SIGTERM
    assert "cmd says hello" in c.lines and "cmd err" in c.lines  # the CMD's output is never formatted
    if mode == "raw":
        for name in ("web", "database"):
            assert [line for line in c.lines if line.startswith(f"{name} out ")] == [
                f"{name} out {i} " for i in range(50)
            ]
        return
    seen: dict[tuple[str, str], list[str]] = {}
    for line in c.lines:
        got = attribute(line, mode)
        if got is None:
            assert line.startswith(("[ignity/", "cmd ")), line
            continue
        service, stream, message = got
        seen.setdefault((service, stream), []).append(message)
        if mode == "prefixed":  # names padded to one width, like Compose
            assert line[WIDTH : WIDTH + 3] in (" | ", " ! "), line
    for name in ("web", "database"):
        assert seen[(name, "stdout")] == [f"{name} out {i} " for i in range(50)] + [f"{name} done"]
        assert seen[(name, "stderr")] == [f"{name} err {i}" for i in range(50)]


@pytest.mark.parametrize("mode", ["prefixed", "json"])
def test_no_interleaving_inside_a_line_under_load(boot, tree: Tree, mode: str):
    pad = "x" * 150
    chatty(tree, "web", 20000, pad)
    chatty(tree, "database", 20000, pad)
    c = boot("sleep", "1000", env={"IGNITY_SERVICES_OUTPUT": mode})
    for name in ("web", "database"):
        c.wait_for(_done(mode, name), timeout=120)
    c.kill(signal.SIGTERM)
    assert c.wait() == 128 + signal.SIGTERM
    seen: dict[tuple[str, str], list[str]] = {}
    for line in c.lines:
        got = attribute(line, mode)  # json.loads: every json line is valid, whole
        if got is None:
            assert line.startswith("[ignity/"), line[:200]
            continue
        seen.setdefault(got[:2], []).append(got[2])
    for name in ("web", "database"):
        assert seen[(name, "stdout")] == [f"{name} out {i} {pad}" for i in range(20000)] + [f"{name} done"]
        assert seen[(name, "stderr")] == [f"{name} err {i}" for i in range(20000)]


@pytest.mark.parametrize("mode", ["prefixed", "json"])
def test_lines_written_during_stop_are_present(boot, tree: Tree, mode: str):
    tree.service("web", "trap 'echo last-words; echo last-err >&2; exit 0' TERM; echo first-words; "
                 "while :; do sleep 0.05; done")  # fmt: skip
    c = boot("sleep", "1000", env={"IGNITY_SERVICES_OUTPUT": mode})
    c.wait_for("first-words")
    c.kill(signal.SIGTERM)
    # 143: the CMD had started and got the stop; 0: the stop came before it started.
    assert c.wait() in (0, 128 + signal.SIGTERM)
    got = sorted(g for g in (attribute(line, mode) for line in c.lines) if g)
    assert got == [("web", "stderr", "last-err"), ("web", "stdout", "first-words"), ("web", "stdout", "last-words")]


# A 100 KiB line, then every byte but newline and NUL, then a NUL between two words.
BIG = "python3 -c \"import sys; sys.stdout.buffer.write(b'L' * 102400 + b'\\n' + bytes(range(1, 10)) + " \
      "bytes(range(11, 256)) + b'\\n' + b'before\\0after\\n'); sys.stdout.flush()\""  # fmt: skip
BINARY = bytes(range(1, 10)) + bytes(range(11, 256))


def test_json_long_line_and_binary_bytes_pass_through(boot, tree: Tree):
    tree.service("web", BIG + "; echo web done; exec sleep 1000")
    c = boot("sleep", "1000", env={"IGNITY_SERVICES_OUTPUT": "json"})
    c.wait_for("web done")
    c.kill(signal.SIGTERM)
    c.wait()
    messages: list[bytes] = []
    current = b""
    for line in c.lines:
        if not line.startswith("{"):
            continue
        assert len(line.encode()) <= 4000
        obj = json.loads(line)
        current += obj["message"].encode("latin-1" if obj.get("encoding") == "latin-1" else "utf-8")
        if not obj.get("partial"):
            messages.append(current)
            current = b""
    # A NUL ends a line, as in s6-log.
    assert messages == [b"L" * 102400, BINARY, b"before", b"after", b"web done"]


def test_prefixed_long_line_and_binary_bytes_pass_through(boot, tree: Tree):
    tree.service("web", BIG + "; echo web done; exec sleep 1000")
    c = boot("sleep", "1000", env={"IGNITY_SERVICES_OUTPUT": "prefixed"})
    c.wait_for("web | web done")
    c.kill(signal.SIGTERM)
    c.wait()
    pieces = [line[len("web | ") :] for line in c.lines if line.startswith("web | ")]
    assert all(len(p.encode()) < 4000 for p in pieces)
    assert "".join(pieces[:-4]) == "L" * 102400
    assert pieces[-4:] == [BINARY.decode("utf-8", "replace"), "before", "after", "web done"]


def test_output_mode_file_overrides_the_setting(boot, tree: Tree):
    tree.service("web", "echo web-line; exec sleep 1000", output_mode="json\n")
    tree.service("db", "echo db-line; exec sleep 1000", output_mode="raw")
    tree.service("cache", "echo cache-line; exec sleep 1000")
    c = boot(
        "sh", "-c", wait_up("web", "db", "cache") + "; exec sleep 1000", env={"IGNITY_SERVICES_OUTPUT": "prefixed"}
    )
    c.wait_for("cache | cache-line")  # the only prefixed one: its name sets the width
    c.wait_for('"service": "web", "stream": "stdout", "message": "web-line"')
    c.wait_for("db-line")
    assert "db-line" in c.lines
    c.kill(signal.SIGTERM)
    c.wait()


def test_a_service_with_its_own_logger_is_left_alone(boot, tree: Tree):
    svc = tree.service("logged", "echo to-my-logger; exec sleep 1000", output_mode="json")
    (svc / "log").mkdir()
    (svc / "log" / "run").write_text("#!/bin/sh\nexec s6-log /out/logs\n")
    (svc / "log" / "run").chmod(0o755)
    c = boot("sh", "-c", "for i in $(seq 1000); do grep -q to-my-logger /out/logs/current 2>/dev/null && break; "
             "sleep 0.01; done; echo logged", env={"IGNITY_SERVICES_OUTPUT": "json"})  # fmt: skip
    assert c.wait() == 0
    assert "logged" in c.lines
    assert not any("to-my-logger" in line for line in c.lines)


@pytest.mark.parametrize(("content", "shown"), [("jsn\n", "'jsn'"), ("json\n\n", "'json\\n'"), ("", "''")])
def test_a_bad_output_mode_file_stops_the_start_up(boot, tree: Tree, content: str, shown: str):
    tree.service("web", "echo web-started; exec sleep 1000", output_mode=content)
    c = boot("echo", "cmd-ran")
    assert c.wait() == 1
    # The boot-time check finds it before anything starts (stage 2 would too).
    assert any(
        line.startswith("[ignity/check] error: /etc/ignity/services/web/output-mode") and "raw, prefixed, json" in line
        for line in c.lines
    ), c.output
    assert "web-started" not in c.lines and "cmd-ran" not in c.lines


def test_a_bad_setting_is_one_line_at_boot(boot, tree: Tree):
    tree.service("web", "echo web-started; exec sleep 1000")
    c = boot("echo", "cmd-ran", env={"IGNITY_SERVICES_OUTPUT": "pretty"})
    assert c.wait() == 1
    assert c.lines == [
        "[ignity/stage1] IGNITY_SERVICES_OUTPUT='pretty': not a valid value, expected raw, prefixed or json"
    ]


def test_stderr_of_every_instance_of_a_restarting_service(boot, tree: Tree):
    tree.service("flappy", 'echo "instance $$ err" >&2; echo "instance $$ out"; exit 1')
    c = boot("sleep", "1000", env={"IGNITY_SERVICES_OUTPUT": "prefixed"})
    c.wait_for_count("flappy ! instance", 2)
    c.wait_for_count("flappy | instance", 2)
    c.kill(signal.SIGTERM)
    c.wait()


def test_no_python_stays_resident(boot, tree: Tree):
    chatty(tree, "web", 3)
    c = boot("sh", "-c", wait_up("web") + "; sleep 0.2; cat /proc/[0-9]*/comm | sort | uniq -c",
             env={"IGNITY_SERVICES_OUTPUT": "json"})  # fmt: skip
    assert c.wait() == 0
    comms = [line.split()[-1] for line in c.lines if re.match(r"^\s+\d+ \S+$", line)]
    assert "s6-log" in comms and any("awk" in name for name in comms), c.output
    assert not any(name.startswith("python") for name in comms), comms


@pytest.mark.parametrize("mode", ["prefixed", "json"])
def test_non_root_on_a_read_only_root(boot, tree: Tree, mode: str):
    chatty(tree, "web", 5)
    c = boot("sh", "-c", wait_up("web") + "; echo cmd-ready; exec sleep 1000", env={"IGNITY_SERVICES_OUTPUT": mode},
             user="1000:1000", run_tmpfs="mode=1777", readonly=True)  # fmt: skip
    c.wait_for("web done")
    c.wait_for("web err 4")
    c.wait_for("cmd-ready")  # a stop before the CMD starts is status 0, not the CMD's 143
    c.kill(signal.SIGTERM)
    assert c.wait() == 128 + signal.SIGTERM
    got = [attribute(line, mode) for line in c.lines]
    assert ("web", "stderr", "web err 4") in got and ("web", "stdout", "web out 4 ") in got
