"""logs: reading s6-log logdirs in their safe order, the ring's merge, following across a
rotation, and what a logdir's owner cannot make it open (links, fifos, huge files)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import logs  # noqa: E402


def stamp(n: int) -> bytes:
    return f"2026-12-06 22:00:{n:02d}.000000000  ".encode()


def logdir(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    for name, data in files.items():
        (path / name).write_bytes(data)
    return path


def source(path: Path, stream: str = "stdout", stamped: bool = False) -> logs.Source:
    s = logs.Source("svc", stream, str(path), stamped)
    s.open()
    return s


def test_safe_reading_order(tmp_path: Path) -> None:
    d = logdir(
        tmp_path / "d",
        {
            "@400000006b15e77204922f79.s": b"c\n",
            "@400000006b15e77204922f78.s": b"a\nb\n",
            "@400000006b15e77204922f7a.u": b"d\n",
            "previous": b"e\n",
            "current": b"f\ng\n",
            "lock": b"",
            "state": b"",
        },
    )
    assert source(d).tail(1 << 20) == [b"a", b"b", b"c", b"d", b"e", b"f", b"g"]


def test_missing_logdir_is_empty(tmp_path: Path) -> None:
    assert source(tmp_path / "none").tail(100) == []


def test_ring_streams_are_merged_by_stamp_and_rendered(tmp_path: Path) -> None:
    out = logdir(tmp_path / "out", {"current": stamp(1) + b"one\n" + stamp(3) + b"three\n"})
    err = logdir(tmp_path / "err", {"current": stamp(2) + b"two\n"})
    found = [source(out, "stdout", True), source(err, "stderr", True)]
    assert list(logs.lines_of(found)) == [b"svc | one\n", b"svc ! two\n", b"svc | three\n"]
    assert [line for _, _, line in logs.last_lines(found, 1)] == [stamp(3) + b"three"]
    assert logs.last_lines(found, 0) == []


def test_a_linked_logdir_is_refused(tmp_path: Path) -> None:
    real = logdir(tmp_path / "real", {"current": b"secret\n"})
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(logs.LogsError, match="a link or not a directory: refused"):
        source(tmp_path / "link")


def test_links_fifos_and_directories_inside_are_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"root's secret\n")
    d = logdir(tmp_path / "d", {"@400000006b15e77204922f78.s": b"ok\n"})
    (d / "current").symlink_to(secret)
    os.mkfifo(d / "previous")  # opened, it would block a reader without O_NONBLOCK
    (d / "@400000006b15e77204922f79.s").mkdir()
    assert source(d).tail(1 << 20) == [b"ok"]


def test_reads_are_bounded(tmp_path: Path) -> None:
    d = logdir(tmp_path / "d", {"current": b"x" * 5000 + b"\n" + b"last\n"})
    assert source(d).tail(100) == [b"last"]


def test_follow_across_a_rotation(tmp_path: Path) -> None:
    d = logdir(tmp_path / "d", {"current": b"old\n"})
    s = source(d)
    s.start_following()
    with open(d / "current", "ab") as f:
        f.write(b"before rotation\npart")
    assert s.new_lines() == [b"before rotation"]
    with open(d / "current", "ab") as f:
        f.write(b"ial\n")
    os.rename(d / "current", d / "previous")
    (d / "current").write_bytes(b"after\n")
    assert s.new_lines() == [b"partial", b"after"]
    assert s.new_lines() == []
    s.close()


def test_follow_a_logdir_made_later(tmp_path: Path) -> None:
    s = source(tmp_path / "d")
    s.start_following()
    assert s.new_lines() == []
    logdir(tmp_path / "d", {"current": b"first\n"})
    assert s.new_lines() == [b"first"]


@pytest.mark.parametrize(
    ("script", "found"),
    [
        ("#!/bin/sh\nexec s6-log n10 s1000000 T /var/log/myapp\n", "/var/log/myapp"),
        ("#!/bin/sh\nexec /usr/bin/s6-log -b n2 ./main\n", "LOG/main"),
        ("#!/bin/execlineb -P\ns6-log t '/var/log/a b' # a comment /x\n", "/var/log/a"),
        ("#!/bin/sh\nexec cat > /dev/null\n", None),
        ("#!/bin/sh\nexec s6-log 1\n", None),
    ],
)
def test_logdir_of_an_own_log_run(tmp_path: Path, script: str, found: str | None) -> None:
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "run").write_text(script)
    expected = found.replace("LOG", str(tmp_path / "log")) if found else None
    assert logs.logdir_of(str(tmp_path / "log")) == expected


def service(root: Path, name: str, *parts: str) -> Path:
    d = root / name
    d.mkdir()
    (d / "run").write_text("#!/bin/sh\n")
    for part in parts:
        p = d / part
        if part.endswith("/"):
            p.mkdir(parents=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")
    return d


def test_sources_by_kind_of_service(tmp_path: Path) -> None:
    service(tmp_path, "ringed", "run.user", "log/format.awk", "log/ring/")
    service(tmp_path, "noring", "run.user", "log/format.awk")
    service(tmp_path, "raw")
    own = service(tmp_path, "own", "log/")
    (own / "log" / "run").write_text("exec s6-log /var/log/own\n")
    service(tmp_path, "ownnodir", "log/run")
    directory = str(tmp_path)
    assert [(s.stream, s.stamped) for s in logs.sources("ringed", directory)] == [("stdout", True), ("stderr", True)]
    assert [s.directory for s in logs.sources("own", directory)] == ["/var/log/own"]
    for name, message in [
        ("noring", "IGNITY_SERVICES_LOG_BYTES=0"),
        ("raw", "raw: output mode raw, Ignity keeps no log of it"),
        ("ownnodir", "names no s6-log directory"),
        ("nosuch", "nosuch: no such service"),
    ]:
        with pytest.raises(logs.LogsError, match=message):
            logs.sources(name, directory)
    assert "\n" not in logs.raw_hint("web")


def test_follow_a_ring_whose_directory_was_replaced(tmp_path: Path) -> None:
    d = logdir(tmp_path / "ring", {"current": stamp(1) + b"old\n"})
    s = source(d, stamped=True)
    s.start_following()
    with open(d / "current", "ab") as f:
        f.write(stamp(2) + b"last of the old\n")
    d.rename(tmp_path / ".old-ring")  # a reload moves the old copy aside...
    assert s.new_lines() == [stamp(2) + b"last of the old"]
    logdir(tmp_path / "ring", {"current": stamp(3) + b"new\n"})  # ...and the new logger starts
    assert s.new_lines() == [stamp(3) + b"new"]
    s.close()
