"""restarts.py: the files' syntax, and the finish wrapper's decisions (run by /bin/sh and
busybox sh, with stand-ins for s6-svstat, s6-svc and ignity, as in test_services.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ignity import restarts, wrappers
from ignity.errors import IgnityError
from tests.unit.test_services import SHELLS, finish, service_dir, stubs

__all__ = ["stubs"]


@pytest.mark.parametrize(
    ("text", "expected"), [("1000", (1000, 1000)), ("0", (0, 0)), (" 500  8000\n", (500, 8000)), ("7 7", (7, 7))]
)
def test_parse_delay(text: str, expected: tuple[int, int]) -> None:
    assert restarts.parse_delay(text) == expected


@pytest.mark.parametrize("text", ["", "x", "-1", "1.5", "2 1", "1 2 3", str(2**31), "１"])
def test_parse_delay_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        restarts.parse_delay(text)


@pytest.mark.parametrize("text", ["", "5", "0 100", "5 0", "1001 10", "-1 10", "a b"])
def test_parse_limit_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        restarts.parse_limit(text)


def test_read_names_the_bad_file(tmp_path: Path) -> None:
    d = service_dir(tmp_path, "svc", restart_delay="9 3\n")
    with pytest.raises(IgnityError, match=r"^/etc/ignity/services/svc/restart-delay: MAX_MS 3 is less than FIRST_MS 9"):
        restarts.read(str(d), "svc", "1000", "0", False)


def test_essential_without_a_restart_file_is_never_restarted(tmp_path: Path) -> None:
    d = service_dir(tmp_path, "svc")
    assert restarts.read(str(d), "svc", "1000", "0", True).restart == "never"
    (d / "restart").write_text("always\n")
    assert restarts.read(str(d), "svc", "1000", "0", True).restart == "always"


def installed(tmp_path: Path, **files: str) -> Path:
    d = service_dir(tmp_path, "svc", **files)
    policy = restarts.read(str(d), "svc", "1000", "0", False)
    wrappers.install(str(d), "svc", False, True, None, policy)
    return d


@pytest.mark.parametrize("shell", SHELLS, ids=lambda argv: argv[0])
def test_delays_double_up_to_max(tmp_path: Path, stubs: Path, shell: list[str]) -> None:
    d = installed(tmp_path, restart_delay="1000 8000\n")
    delays = []
    for _ in range(6):
        assert finish(d, "3", "0", sh=shell) == 0
        _deaths, delay, _next = (d / ".ignity/restart").read_text().split()
        delays.append(int(delay))
        (d / ".ignity/restart").write_text("")  # as the run does once its wait is over
    assert delays == [1000, 2000, 4000, 8000, 8000, 8000]
    assert (d / ".ignity/deaths").read_text().split()[:2] == ["6", "6"]


def test_short_delays_are_rounded_up_to_s6s_second(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart_delay="100 400\n")
    finish(d, "1", "0")
    assert (d / ".ignity/restart").read_text().split()[1] == "1000"
    assert not (d / restarts.WAIT).exists()  # no delay beyond s6's own: the run does not wait
    assert "restart-wait" not in (d / "run").read_text()


def test_limit_gives_up_at_exactly_n(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart_limit="3 60000\n")
    assert [finish(d, "2", "0") for _ in range(3)] == [0, 0, 125]
    assert wrappers.failure(str(d)).startswith("given up after 3 exits in ")
    assert (d / ".ignity/restart").read_text() == ""


def test_a_run_killed_in_its_wait_is_no_death(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart_delay="5000\n", restart_limit="2 60000\n")
    assert finish(d, "1", "0") == 0  # a death: a start pending, 5 s
    assert finish(d, "256", "15") == 0  # the wait was ended (s6-svc -r): not counted, restarted now
    assert (d / ".ignity/restart").read_text() == ""
    assert not wrappers.failed_permanently(str(d))


def test_wanted_down_decides_nothing_and_cancels_a_pending_start(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart="never\n")
    (d / ".ignity/restart").write_text("1 5000 0\n")
    (d / "want-down").write_text("")
    out = subprocess.run(["/bin/sh", "./finish", "1", "0", "svc"], cwd=d, capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    assert (d / ".ignity/restart").read_text() == "" and not wrappers.failed_permanently(str(d))


def test_success_exit_codes_end_on_failure_and_never_as_done(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart="on-failure\n", success_exit_codes="0 3\n")
    assert finish(d, "2", "0") == 0 and not wrappers.done(str(d))  # not listed: restarted
    assert finish(d, "3", "0") == 125 and (d / ".ignity/done").read_text() == "exited 3\n"
    n = installed(tmp_path / "n", restart="never\n", success_exit_codes="4\n")
    assert finish(n, "0", "0") == 125 and wrappers.failure(str(n)) == "exited 0 (restart never)"
    s = installed(tmp_path / "s", restart="never\n", success_exit_codes="143\n")
    assert finish(s, "256", "15") == 125 and wrappers.failure(str(s)).startswith("crashed (signal TERM)")


def test_told_lines(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart="on-failure\n")
    first = subprocess.run(["/bin/sh", "./finish", "256", "11", "svc"], cwd=d, capture_output=True, text=True)
    assert first.stderr == "[ignity] svc crashed (signal SEGV): restarting in 1000 ms\n"
    done = subprocess.run(["/bin/sh", "./finish", "0", "0", "svc"], cwd=d, capture_output=True, text=True)
    assert done.returncode == 125 and done.stderr.startswith("[ignity] svc exited 0 (2nd time in ")
    assert done.stderr.endswith(": done (restart on-failure)\n") and wrappers.done(str(d))


def test_a_start_by_hand_after_a_give_up_begins_a_new_window(tmp_path: Path, stubs: Path) -> None:
    d = installed(tmp_path, restart_limit="2 60000\n")
    assert [finish(d, "2", "0") for _ in range(2)] == [0, 125]
    (d / ".ignity/failed").write_text("")  # what `ignity start` does, with s6-svc -u
    assert finish(d, "2", "0") == 0  # one death in the new window: restarted


def test_next_start_is_on_the_realtime_clock(tmp_path: Path, stubs: Path) -> None:
    import time

    d = installed(tmp_path, restart_delay="4000\n")
    before = time.time() * 1000
    finish(d, "1", "0")
    deaths, delay, next_ms = (d / ".ignity/restart").read_text().split()
    assert (deaths, delay) == ("1", "4000")
    assert before + 4000 - 50 < int(next_ms) < time.time() * 1000 + 4000 + 50
