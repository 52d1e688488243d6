"""The generated run/finish wrappers (run by /bin/sh with
stand-ins for s6-svstat and ignity), health settings and the failure messages."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ignity import health, services, tools, wrappers
from ignity.errors import IgnityError


def service_dir(root: Path, name: str, *deps: str, **files: str) -> Path:
    d = root / name
    (d / "dependencies.d").mkdir(parents=True)
    (d / "run").write_text("#!/bin/sh\nexec sleep 100\n")
    (d / "run").chmod(0o755)
    for dep in deps:
        (d / "dependencies.d" / dep).write_text("")
    for fname, content in files.items():
        (d / fname.replace("_", "-")).write_text(content)
    return d


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[Path]:
    """s6-svstat says "true" (wanted up) unless ./want-down exists; ignity records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "s6-svstat").write_text("#!/bin/sh\nif [ -e want-down ]; then echo false; else echo true; fi\n")
    (bin_dir / "ignity").write_text('#!/bin/sh\necho "$@" >> halted\n')
    (bin_dir / "s6-svc").write_text('#!/bin/sh\necho "$@" >> svc\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    saved = dict(tools._cache)
    tools._cache["\0s6-svstat"] = str(bin_dir / "s6-svstat")
    tools._cache["\0ignity"] = str(bin_dir / "ignity")
    tools._cache["\0s6-svc"] = str(bin_dir / "s6-svc")
    yield bin_dir
    tools._cache.clear()
    tools._cache.update(saved)


def installed(tmp_path: Path, essential: bool = False, clean: bool = True, finish: str | None = None) -> Path:
    d = service_dir(tmp_path, "svc")
    if finish is not None:
        (d / "finish").write_text(f'#!/bin/sh\necho "finish $*" >> finished\n{finish}\n')
        (d / "finish").chmod(0o755)
    wrappers.install(str(d), "svc", essential, clean, None)
    return d


# The wrappers are /bin/sh scripts: Debian's dash, and busybox ash as on Alpine.
SHELLS = [["/bin/sh"]] + ([["busybox", "sh"]] if shutil.which("busybox") else [])


@pytest.fixture(params=SHELLS, ids=lambda argv: argv[0])
def shell(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


def finish(d: Path, *args: str, sh: list[str] | None = None) -> int:
    return subprocess.run([*(sh or ["/bin/sh"]), "./finish", *args, "svc"], cwd=d, check=False).returncode


def test_a_shell_run_gets_its_lines_after_the_shebang_and_finish_moves(tmp_path: Path, stubs: Path):
    d = installed(tmp_path, finish="exit 0")
    assert (d / "run").read_text() == "#!/bin/sh\necho $$ > .ignity/pgid  # added by Ignity\nexec sleep 100\n"
    assert not (d / ".ignity/run").exists()
    assert (d / "finish").read_text().startswith("#!/bin/sh\n# Written by Ignity")
    assert finish(d, "3", "0") == 0
    assert (d / "finished").read_text() == "finish 3 0 svc\n"


@pytest.mark.parametrize(
    ("shebang", "wrapped"),
    [("#!/usr/bin/with-env bash", False), ("#!/usr/bin/env sh", False), ("#!/bin/sh -e", False),
     ("#!/bin/execlineb -P", True), ("#!/usr/bin/python3", True), ("\x7fELF", True)],
)  # fmt: skip
def test_run_other_than_a_shell_script_is_wrapped(tmp_path: Path, stubs: Path, shebang: str, wrapped: bool):
    d = service_dir(tmp_path, "svc")
    (d / "run").write_text(f"{shebang}\nbody\n")
    wrappers.install(str(d), "svc", False, True, None)
    assert (d / ".ignity/run").exists() == wrapped
    run = (d / "run").read_text()
    assert run.startswith("#!/bin/sh\n# Written by Ignity") == wrapped
    assert os.access(d / "run", os.X_OK) or not wrapped


def test_a_relative_link_as_run_still_points_at_its_target(tmp_path: Path, stubs: Path):
    d = tmp_path / "svc"
    d.mkdir()
    (tmp_path / "shared-run").write_text("#!/bin/sh\n")
    (d / "run").symlink_to("../shared-run")
    wrappers.install(str(d), "svc", False, True, None)
    assert (d / ".ignity/run").resolve() == (tmp_path / "shared-run").resolve()


def test_reserved_name_is_an_error(tmp_path: Path, stubs: Path):
    d = service_dir(tmp_path, "svc")
    (d / ".ignity").mkdir()
    with pytest.raises(IgnityError, match=r"/etc/ignity/services/svc/\.ignity: a name Ignity reserves"):
        wrappers.install(str(d), "svc", False, True, None)


@pytest.mark.parametrize(("args", "status"), [(("3", "0"), "3"), (("256", "9"), "137"), (("0", "0"), "0")])
def test_essential_finish_halts_with_the_exit_status_and_stays_down(tmp_path: Path, stubs: Path, shell, args, status):
    d = installed(tmp_path, essential=True)
    assert finish(d, *args, sh=shell) == 0
    assert (d / "halted").read_text() == f"halt {status}\n"
    assert (d / "svc").read_text() == "-d .\n"  # not restarted meanwhile
    assert not wrappers.failed_permanently(str(d))


def test_essential_finish_asked_to_stop_does_not_halt(tmp_path: Path, stubs: Path):
    d = installed(tmp_path, essential=True, finish="exit 0")
    (d / "want-down").write_text("")
    assert finish(d, "256", "15") == 0
    assert not (d / "halted").exists() and not (d / "svc").exists()
    assert (d / "finished").exists()  # the author's finish ran first


def test_finish_125_while_wanted_up_is_recorded_and_stopped_is_not(tmp_path: Path, stubs: Path):
    d = installed(tmp_path, finish="exit 125")
    assert finish(d, "1", "0") == 125
    assert wrappers.failed_permanently(str(d))
    assert wrappers.failure(str(d)) == "finish exited 125"
    d = installed(tmp_path / "other", finish="exit 125")
    (d / "want-down").write_text("")
    assert finish(d, "1", "0") == 125
    assert not wrappers.failed_permanently(str(d))


def test_finish_kills_what_the_dead_service_left_in_its_group(tmp_path: Path, stubs: Path, shell: list[str]):
    d = installed(tmp_path)
    child = subprocess.Popen(["sleep", "100"], process_group=0)
    (d / ".ignity/pgid").write_text(f"{child.pid}\n")
    assert finish(d, "256", "9", sh=shell) == 0
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert (d / ".ignity/pgid").read_text() == ""  # not killed twice


def test_keep_children_finish_kills_nothing(tmp_path: Path, stubs: Path):
    d = installed(tmp_path, clean=False)
    assert "kill -s KILL" not in (d / "finish").read_text()
    assert "pgid" not in (d / "run").read_text()


def test_run_wrapper_records_its_pid_and_execs_the_author_run(tmp_path: Path, stubs: Path):
    d = service_dir(tmp_path, "svc")
    (d / "run").write_text("#!/usr/bin/python3\nimport os, sys; print(os.getpid(), *sys.argv[1:])\n")
    (d / "run").chmod(0o755)
    wrappers.install(str(d), "svc", False, True, None)
    out = subprocess.run(["./run", "svc"], cwd=d, capture_output=True, text=True, check=True).stdout
    pid, arg = out.split()
    assert (d / ".ignity/pgid").read_text().strip() == pid and arg == "svc"
    assert os.path.exists(d / ".ignity/failed")


# -- health settings ------------------------------------------------------------------


def test_health_settings_default_and_override(tmp_path: Path):
    d = service_dir(tmp_path, "svc", health_interval="250\n")
    assert health.settings(str(d), "svc") == {"health-interval": 250, "health-retries": 3, "health-timeout": 5000}


@pytest.mark.parametrize("text", ["", "abc", "0", "-1", "1.5", "10ms"])
def test_bad_health_setting_names_the_file(tmp_path: Path, text: str):
    d = service_dir(tmp_path, "svc", health_timeout=text)
    with pytest.raises(IgnityError, match=r"^/etc/ignity/services/svc/health-timeout: .* is not a positive whole"):
        health.settings(str(d), "svc")


@settings(deadline=None)  # files on a shared, loaded machine: no per-example time limit
@given(st.text(alphabet="0123456789 \n-a.", max_size=8))
def test_health_settings_accept_exactly_positive_integers(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "health-retries").write_text(text)
        stripped = text.strip()
        valid = stripped.isdigit() and int(stripped) > 0
        try:
            value = health.settings(tmp, "svc")["health-retries"]
        except IgnityError:
            assert not valid
        else:
            assert valid and value == int(stripped)


def test_health_state_is_read_back(tmp_path: Path):
    d = service_dir(tmp_path, "svc", health="#!/bin/sh\n")
    assert health.read(str(tmp_path / "nothing")) is None
    (d / ".ignity").mkdir()
    (d / ".ignity/health").write_text("failing 2\n")
    (d / ".ignity/health-last").write_text("exit 1: refused\n")
    (d / ".ignity/health-restarts").write_text("\n\n")
    h = health.read(str(d))
    assert h is not None
    assert (h.state, h.failures, h.last_failure, h.restarts) == ("failing", 2, "exit 1: refused", 2)


# -- the start-up failure message ------------------------------------------------------


def test_failure_names_the_chain_that_waits(tmp_path: Path):
    found = {}
    for name, deps in {"db": [], "cache": ["db"], "web": ["cache"], "other": []}.items():
        s = services.Service(name, str(tmp_path / name), False, True)
        s.deps = deps
        found[name] = s
    message = services._why(found, "db", services.TIMED_OUT, {"cache", "web"}, {"other"}, 500)
    assert message == (
        "db not ready within IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME=500 ms "
        "(waiting: web -> cache -> db): start-up stopped"
    )


def test_health_loop_is_valid_sh_for_every_shell(tmp_path: Path, stubs: Path, shell: list[str]):
    d = service_dir(tmp_path, "svc", health="#!/bin/sh\n", health_interval="50")
    for essential in (False, True):
        script = tmp_path / "loop"
        script.write_text(health.loop_script(str(d), "svc", True, essential))
        assert subprocess.run([*shell, "-n", str(script)], check=False).returncode == 0
        assert "interval=0.050" in script.read_text()
        assert not any(w in script.read_text() for w in (" mv ", " sleep ", "$(sleep", " tail ")), "by absolute path"


@pytest.mark.parametrize("pgid", ["1", "0", "-1", "1 2", "x"])
def test_finish_never_kills_a_pgid_that_is_not_a_group(tmp_path: Path, stubs: Path, pgid: str):
    d = installed(tmp_path)
    (d / ".ignity/pgid").write_text(f"{pgid}\n")
    text = (d / "finish").read_text().replace("kill -KILL", "echo would kill >> killed; :")
    (d / "finish").write_text(text)
    assert finish(d, "0", "0") == 0
    assert not (d / "killed").exists()


def test_a_long_failure_line_is_cut(tmp_path: Path):
    d = service_dir(tmp_path, "svc", health="#!/bin/sh\n")
    (d / ".ignity").mkdir()
    (d / ".ignity/health-last").write_text("x" * 5000 + "\n")
    h = health.read(str(d))
    assert h is not None and h.last_failure == "x" * health.LAST_MAX + "..."


def test_a_failure_line_carries_no_terminal_escape(tmp_path: Path):
    # A health check prints what it likes; ignity status shows it to the operator's terminal.
    d = service_dir(tmp_path, "svc", health="#!/bin/sh\n")
    (d / ".ignity").mkdir()
    (d / ".ignity/health").write_text("\x1b]0;x\x07 1\n")
    (d / ".ignity/health-last").write_text("exit 1: \x1b[2J\x1b]52;c;cm0gLXJm\x07gone\rok\n")
    h = health.read(str(d))
    assert h is not None and h.state == "?"
    assert h.last_failure == "exit 1: ?[2J?]52;c;cm0gLXJm?gone?ok"
