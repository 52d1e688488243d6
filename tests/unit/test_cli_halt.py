"""`ignity halt` asks whether its caller's service is wanted down only inside Ignity's own copies."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ignity import cli, paths, svfile

# s6 2.11's 35-byte status: stamps (24), pid (8), wait status (2), flags (1: wanted up = 4).
WANTED_UP, WANTED_DOWN = bytes(34) + b"\x04", bytes(34) + b"\x00"


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "services"
    root.mkdir()
    monkeypatch.setattr(paths, "SERVICES", str(root))
    monkeypatch.setattr(svfile, "old_layout", lambda svstat=None: False)
    return root


def status_in(d: Path, data: bytes) -> Path:
    (d / "supervise").mkdir(parents=True)
    (d / "supervise/status").write_bytes(data)
    return d


def test_a_service_copy_wanted_down_is_seen(services: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(status_in(services / "web", WANTED_DOWN))
    assert cli._caller_wanted_down() is True
    monkeypatch.chdir(status_in(services / "web/log", WANTED_UP))
    assert cli._caller_wanted_down() is False


def test_a_directory_outside_the_copies_is_never_read(tmp_path: Path, services: Path, monkeypatch) -> None:
    """A forged status elsewhere (another uid's directory) says nothing, even 'wanted down'."""
    monkeypatch.chdir(status_in(tmp_path / "elsewhere", WANTED_DOWN))
    assert cli._caller_wanted_down() is False


def test_a_fifo_for_a_status_never_blocks(services: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = services / "web"
    (d / "supervise").mkdir(parents=True)
    os.mkfifo(d / "supervise/status")
    monkeypatch.chdir(d)
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(cli._caller_wanted_down()), daemon=True)
    t.start()
    t.join(timeout=10)  # a hang guard: the open is O_NONBLOCK
    assert result == [False]
