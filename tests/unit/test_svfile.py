"""svfile: s6-supervise's status file, in the three layouts of Debian 11, 12 and 13.

The bytes below were read off real supervisors (s6 2.10.0.2, 2.11.3.2,
2.13.1.0) with `od`, a service up, then after `s6-svc -d`; the last test
reads a live one of this machine's s6.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ignity import svfile

STAMPS = bytes.fromhex("400000006b0faa0017" + "72a33b" + "400000006b0faa0017651b97")


def _file(pid: int, flags: int, pgid: int | None = None, wstat: int = 0) -> bytes:
    pgid_bytes = b"" if pgid is None else pgid.to_bytes(8, "big")
    return STAMPS + pid.to_bytes(8, "big") + pgid_bytes + wstat.to_bytes(2, "big") + bytes([flags])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_file(8, 0x0C), True),  # 2.10 up: want (unused, always set) | wanted up
        (_file(0, 0x14, wstat=0x0F), False),  # 2.10 down: want | ready
        (_file(9, 0x14), False),  # 2.10 being stopped (ready from when it was up)
        (_file(8, 0x04), None),  # 2.11 up, not ready; or 2.10 wanted down, never ready: the version tells
        (_file(0, 0x08, wstat=0x0F), False),  # 2.11 down (ready)
        (_file(7, 0x00), False),  # 2.11 being stopped, not ready
        (_file(7, 0x04, pgid=7), True),  # 2.13 up
        (_file(0, 0x08, pgid=0, wstat=0x0F), False),  # 2.13 down
        (b"short", True),  # not a status file: as if nobody had told it
    ],
)
def test_flags_in_each_layout(data: bytes, expected: bool | None) -> None:
    assert svfile.flags_wanted_up(data) is expected


def _service(tmp_path: Path, data: bytes) -> str:
    (tmp_path / "supervise").mkdir()
    (tmp_path / "supervise" / "status").write_bytes(data)
    return str(tmp_path)


@pytest.mark.parametrize(("old", "expected"), [(True, False), (False, True)])
def test_bit_4_alone_is_read_by_the_s6_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: bool, expected: bool
) -> None:
    monkeypatch.setattr(svfile, "_old_layout", old)
    assert svfile.wanted_up(_service(tmp_path, _file(8, 0x04))) is expected


def test_the_version_is_read_off_s6_svstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for text, old in ((b"... up, down, throttled ...", True), (b"... up, down ...", False)):
        monkeypatch.setattr(svfile, "_old_layout", None)
        (tmp_path / "s6-svstat").write_bytes(text)
        assert svfile.old_layout(str(tmp_path / "s6-svstat")) is old


def test_a_missing_or_linked_status_file_is_an_error_never_followed(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        svfile.wanted_up(str(tmp_path))
    (tmp_path / "supervise").mkdir()
    target = tmp_path / "elsewhere"
    target.write_bytes(_file(9, 0x00))
    os.symlink(target, tmp_path / "supervise" / "status")
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        svfile.wanted_up(str(tmp_path))  # never followed


@pytest.mark.parametrize("kind", ["directory", "fifo", "fifo-with-writer", "socket"])
def test_read_owned_refuses_what_is_not_a_regular_file_without_blocking(tmp_path: Path, kind: str) -> None:
    """Issue 20: a directory made os.read raise (EISDIR) through PID 1; a fifo could block it."""
    import socket

    path = tmp_path / "status"
    writer = None
    if kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    else:
        os.mkfifo(path)
        if kind == "fifo-with-writer":
            reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            writer = os.open(path, os.O_WRONLY)
            os.close(reader)
    try:
        with pytest.raises(OSError) as raised:
            svfile.read_owned(str(path))
        assert kind == "socket" or "not a regular file" in str(raised.value)
    finally:
        if writer is not None:
            os.close(writer)


def test_read_owned_refuses_another_uids_file_and_bounds_the_read(tmp_path: Path) -> None:
    path = tmp_path / "status"
    path.write_bytes(b"x" * 1000)
    assert svfile.read_owned(str(path), 64) == b"x" * 64
    if os.geteuid() == 0:
        os.chown(path, 1000, 1000)
        with pytest.raises(OSError, match="owned by uid 1000"):
            svfile.read_owned(str(path))


def test_a_live_supervisor_of_this_machines_s6(tmp_path: Path) -> None:
    service = tmp_path / "svc"
    service.mkdir()
    up, told = tmp_path / "up", tmp_path / "told"
    os.mkfifo(up)
    os.mkfifo(told)
    # It says when it runs and when it gets its SIGTERM (s6-supervise acting on
    # `s6-svc -d`), then takes its time to go.
    (service / "run").write_text(
        f"#!/bin/sh\ntrap 'echo > {told}; exec sleep 0.5' TERM\necho > {up}\nsleep 100 & wait\n"
    )
    (service / "run").chmod(0o755)
    supervise = subprocess.Popen(["s6-supervise", str(service)])
    try:
        with open(up) as f:
            f.read()
        subprocess.run(["s6-svc", "-d", str(service)], check=True)
        with open(told) as f:  # the service got its SIGTERM (the status file may be rewritten just after)
            f.read()
        subprocess.run(["s6-svwait", "-d", "-t", "10000", str(service)], check=True)
        assert svfile.wanted_up(str(service)) is False
        subprocess.run(["s6-svc", "-u", str(service)], check=True)
        with open(up) as f:
            f.read()
        subprocess.run(["s6-svwait", "-u", "-t", "10000", str(service)], check=True)
        assert svfile.wanted_up(str(service)) is True
    finally:
        supervise.kill()
        supervise.wait()
        subprocess.run(["pkill", "-KILL", "-f", f"{service}/run"], check=False)
