"""check: the rules added for issues #11, #13 and #14 (dependencies, Ignity's service files,
fifos and other special files, s6-overlay leftovers, BOMs) and the own "did you mean".

Same method as test_check.py: from the clean image, change one thing, and
assert that exactly that problem, and nothing else, is reported.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import check  # noqa: E402
from ignity.check import report, root  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402
from tests import docs  # noqa: E402
from tests.unit.test_check import ETC, Image, clean, no_hang, only, summary  # noqa: E402

SERVICES = f"{ETC}/services"


@pytest.fixture
def image(tmp_path: Path) -> Image:
    """The clean image plus a db service that web and api depend on, and Ignity's own service files."""
    image = clean(tmp_path / "root")
    image.script("services/db/run")
    image.file("services/web/dependencies.d/db", "")
    image.file("services/web/dependencies.d/.gitkeep", "ignored")
    image.file("services/api/dependencies.d/db", "")
    image.file("services/api/dependencies.d/web", "")
    (image.etc / "services/web/down").unlink()  # api depends on web: web must be started
    image.file("services/db/essential", "")
    image.file("services/db/keep-children", "")
    image.script("services/db/health", shebang="#!/usr/bin/env sh")
    image.file("services/db/health-interval", "10000\n")
    image.file("services/db/health-timeout", "5000")
    image.file("services/db/health-retries", "3\n")
    image.file("services/db/output-mode", "prefixed\n")
    assert image.problems() == []
    return image


# --- dependencies.d --------------------------------------------------------------------


def test_unknown_dependency_names_service_and_dependency(image: Image) -> None:
    image.file("services/web/dependencies.d/dbb", "")
    p = only(image.problems(), "error", f"{SERVICES}/web/dependencies.d/dbb", None, "web depends on dbb, which is not")
    assert p.fix == "did you mean db?"


def test_unknown_dependency_without_a_close_name(image: Image) -> None:
    image.file("services/web/dependencies.d/postgres", "")
    p = only(image.problems(), "error", f"{SERVICES}/web/dependencies.d/postgres", None, "not a service")
    assert "add the service postgres" in p.fix


def test_a_dot_service_is_no_dependency(image: Image) -> None:
    image.script("services/.old/run")
    image.file("services/web/dependencies.d/.old", "")  # a dot entry: skipped, as s6-rc does
    only(image.problems(), "warning", f"{SERVICES}/.old", None, "starts with a dot")


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        ({"db": ["web"]}, "db -> web -> db"),
        ({"x": ["y"], "y": ["z"], "z": ["x"]}, "x -> y -> z -> x"),
        ({"db": ["db"]}, "db -> db"),
    ],
    ids=["two", "three", "self"],
)
def test_a_cycle_is_named_whole(image: Image, edges: dict[str, list[str]], cycle: str) -> None:
    for name, deps in edges.items():
        if name not in ("db", "web"):
            image.script(f"services/{name}/run")
        for dep in deps:
            image.file(f"services/{name}/dependencies.d/{dep}", "")
    problems = image.problems()
    assert len(problems) == 1 and problems[0].severity == "error", problems
    assert f"dependency cycle: {cycle}:" in problems[0].problem
    assert problems[0].path.endswith("/dependencies.d")


def test_two_cycles_are_two_errors(image: Image) -> None:
    image.file("services/db/dependencies.d/db", "")
    for a, b in (("x", "y"), ("y", "x")):
        image.script(f"services/{a}/run")
        image.file(f"services/{a}/dependencies.d/{b}", "")
    found = sorted(p.problem.split(":")[1].strip() for p in image.problems())
    assert found == ["db -> db", "x -> y -> x"]


def test_dependency_on_a_down_service(image: Image) -> None:
    image.file("services/db/down", "")
    problems = image.problems()
    # api and web depend on db; api also on web, which has no down file
    assert summary(problems) == [("error", f"{SERVICES}/{name}/dependencies.d/db", None) for name in ("api", "web")]
    assert problems[0].problem.startswith("api depends on db, which has a down file: ")
    assert f"remove {SERVICES}/db/down" in problems[0].fix


def test_dependency_entry_not_empty(image: Image) -> None:
    image.file("services/web/dependencies.d/db", "db\n")
    only(image.problems(), "error", f"{SERVICES}/web/dependencies.d/db", None, "is not empty")


def test_dependency_entry_is_a_directory(image: Image) -> None:
    (image.etc / "services/web/dependencies.d/db").unlink()
    (image.etc / "services/web/dependencies.d/db").mkdir()
    only(image.problems(), "error", f"{SERVICES}/web/dependencies.d/db", None, "is a directory, expected an empty")


def test_dependencies_d_is_a_file(image: Image) -> None:
    for entry in (image.etc / "services/api/dependencies.d").iterdir():
        entry.unlink()
    (image.etc / "services/api/dependencies.d").rmdir()
    image.file("services/api/dependencies.d", "db\n")
    only(image.problems(), "error", f"{SERVICES}/api/dependencies.d", None, "is a regular file, expected a directory")


def test_a_service_that_is_no_directory_is_no_dependency(image: Image) -> None:
    image.file("services/cache", "")
    image.file("services/web/dependencies.d/cache", "")
    problems = image.problems()
    assert summary(problems) == [
        ("error", f"{SERVICES}/cache", None),
        ("error", f"{SERVICES}/web/dependencies.d/cache", None),
    ]


# --- essential, keep-children, health*, output-mode --------------------------------------


def test_essential_not_empty_is_a_warning(image: Image) -> None:
    image.file("services/db/essential", "yes\n")
    only(image.problems(), "warning", f"{SERVICES}/db/essential", None, "not empty")


@pytest.mark.parametrize("name", ["essential", "keep-children"])
def test_marker_file_is_a_directory(image: Image, name: str) -> None:
    (image.etc / f"services/db/{name}").unlink()
    (image.etc / f"services/db/{name}").mkdir()
    p = only(image.problems(), "error", f"{SERVICES}/db/{name}", None, "is a directory, expected an empty regular")
    assert f"touch {SERVICES}/db/{name}" in p.fix


def test_keep_children_may_have_content(image: Image) -> None:
    image.file("services/db/keep-children", "nginx forks its workers\n")
    assert image.problems() == []


@pytest.mark.parametrize(
    ("content", "shebang", "mode", "line", "problem"),
    [
        ("true", "#!/bin/sh", 0o644, None, "is not executable"),
        ("true", "#!/bin/bash", 0o755, 1, "interpreter /bin/bash does not exist"),
        ("true", "", 0o755, 1, "no #! line"),
    ],
    ids=["not-executable", "no-interpreter", "no-shebang"],
)
def test_health_is_checked_like_run(
    image: Image, content: str, shebang: str, mode: int, line: int | None, problem: str
) -> None:
    image.file("services/db/health", f"{shebang}\n{content}\n" if shebang else f"{content}\n", mode)
    only(image.problems(), "error", f"{SERVICES}/db/health", line, problem)


def test_health_crlf(image: Image) -> None:
    image.file("services/db/health", b"#!/bin/sh\r\ntrue\r\n", 0o755)
    only(image.problems(), "error", f"{SERVICES}/db/health", 1, "carriage return")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("health-interval", "0\n", "health-interval is 0, out of range"),
        ("health-interval", f"{2**31}\n", "out of range"),
        ("health-interval", "10s\n", "not a whole number"),
        ("health-timeout", "0", "out of range"),
        ("health-timeout", "-1", "not a whole number"),
        ("health-retries", "0\n", "health-retries is 0, out of range"),
        ("health-retries", "1001\n", "out of range"),
        ("health-retries", "three", "not a whole number"),
    ],
)
def test_health_numbers_malformed(image: Image, name: str, content: str, problem: str) -> None:
    image.file(f"services/db/{name}", content)
    only(image.problems(), "error", f"{SERVICES}/db/{name}", 1, problem)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("health-interval", "1"),
        ("health-interval", f"{2**31 - 1}\n"),
        ("health-timeout", "1\n"),
        ("health-retries", "1000"),
    ],
)
def test_health_numbers_accepted(image: Image, name: str, content: str) -> None:
    image.file(f"services/db/{name}", content)
    assert image.problems() == []


@pytest.mark.parametrize("mode", ["raw", "prefixed\n", "json\n"])
def test_output_mode_accepted(image: Image, mode: str) -> None:
    image.file("services/db/output-mode", mode)
    assert image.problems() == []


@pytest.mark.parametrize("mode", ["Raw\n", "raw prefixed\n", "", "json\n\n", "raw\r\n"])
def test_output_mode_malformed(image: Image, mode: str) -> None:
    image.file("services/db/output-mode", mode)
    p = only(image.problems(), "error", f"{SERVICES}/db/output-mode", 1, "not one of the modes")
    assert ("dos2unix" if "\r" in mode else "raw, prefixed, json") in p.fix


def test_ignity_files_in_a_logger_are_not_read(image: Image) -> None:
    image.file("services/web/log/output-mode", "loud\n")  # a logger's output-mode means nothing: not checked
    image.file("services/web/log/health-retries", "many\n")
    assert image.problems() == []


# --- fifos, devices, sockets (issue #11 point 6) -----------------------------------------


def socket_at(path: Path) -> None:
    """A unix socket at `path` (bound in a short directory, then moved: sun_path is 108 bytes)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.bind(f"{short}/s")
            os.rename(f"{short}/s", path)
        finally:
            s.close()


def device_at(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs root")


@pytest.mark.parametrize(
    ("rel", "make", "what"),
    [
        ("envs/20-x", os.mkfifo, "is a fifo, expected a regular file"),
        ("perms/20-x", socket_at, "is a socket, expected a regular file"),
        ("init/20-x", device_at, "is a character device, expected a regular file"),
        ("services/web/run", os.mkfifo, "is a fifo, expected a regular file"),
        ("services/web/data/deep/x", os.mkfifo, "is a fifo, expected a regular file"),
        ("services/web/timeout-kill", os.mkfifo, "is a fifo, expected a regular file"),
        ("services/db/output-mode", os.mkfifo, "is a fifo, expected a regular file"),
        ("services/web/dependencies.d/db", os.mkfifo, "is a fifo, expected a regular file"),
        ("services/worker", os.mkfifo, "is a fifo, expected a directory"),
        ("services/web/log", os.mkfifo, "is a fifo, expected a directory"),
        ("envs", os.mkfifo, "is a fifo, expected a directory"),
        ("unknown", os.mkfifo, "is a fifo, expected a directory"),
    ],
)
def test_special_file_is_one_line_and_never_opened(image: Image, rel: str, make: object, what: str) -> None:
    target = image.etc / rel
    if target.is_dir():
        for child in sorted(target.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
        target.rmdir()
    elif target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    assert callable(make)
    make(target)
    with no_hang():
        problems = image.problems()
    shown = f"{ETC}/{rel}"
    mine = [p for p in problems if p.path == shown]
    assert [p.problem for p in mine] == [what], problems
    if rel == "services/web/log":
        assert problems == mine  # not also "log is not a directory"


def test_a_link_to_a_fifo_says_so(image: Image) -> None:
    os.mkfifo(image.root / "srv-fifo")
    (image.etc / "envs/20-x").symlink_to("/srv-fifo")
    with no_hang():
        only(image.problems(), "error", f"{ETC}/envs/20-x", None, "is a symbolic link to a fifo, expected a regular")


def test_a_link_to_a_directory_deep_in_a_service_is_not_walked(image: Image) -> None:
    (image.root / "dev").mkdir()
    os.mkfifo(image.root / "dev/fifo")
    (image.etc / "services/web/data").mkdir()
    (image.etc / "services/web/data/root").symlink_to("/")  # stage 2 copies it as a link: never read
    with no_hang():
        assert image.problems() == []
    (image.etc / "services/linked").symlink_to("/dev")  # a service directory: followed, as stage 2 does
    with no_hang():
        problems = image.problems()
    assert [(p.path, p.problem) for p in problems if p.path.endswith("/fifo")] == [
        (f"{SERVICES}/linked/fifo", "is a fifo, expected a regular file")
    ]


def test_every_special_file_is_reported(image: Image) -> None:
    for rel in ("envs/1", "envs/2", "perms/1", "finalize/1", "services/db/x"):
        os.mkfifo(image.etc / rel)
    with no_hang():
        problems = image.problems()
    assert sorted(p.path for p in problems) == sorted(
        f"{ETC}/{rel}" for rel in ("envs/1", "envs/2", "perms/1", "finalize/1", "services/db/x")
    )


def test_at_boot_stops_on_a_fifo_without_opening_it(image: Image, capfd: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(image.etc / "envs/10-x")
    real = check._Checker
    check._Checker = lambda root, environ, live, with_perms=True: real(str(image.root), {}, live, with_perms)  # type: ignore[assignment,misc]
    try:
        with no_hang(), pytest.raises(IgnityError, match=r"1 error\(s\)"):
            check.at_boot({})
    finally:
        check._Checker = real  # type: ignore[misc]
    assert f"error: {ETC}/envs/10-x: is a fifo, expected a regular file" in capfd.readouterr().err


def test_special_at_boot_reports_only_special_files(image: Image, capfd: pytest.CaptureFixture[str]) -> None:
    image.file("envs/20-app", "not a line\n")  # not special_at_boot's business
    real = check._Checker
    check._Checker = lambda root, environ, live, with_perms=None: real(str(image.root), {}, live, with_perms)  # type: ignore[assignment,misc]
    try:
        check.special_at_boot()
        assert capfd.readouterr().err == ""
        os.mkfifo(image.etc / "envs/10-x")
        with no_hang(), pytest.raises(IgnityError, match=r"^1 error\(s\) in /etc/ignity"):
            check.special_at_boot()
    finally:
        check._Checker = real  # type: ignore[misc]
    err = capfd.readouterr().err
    assert err == f"[ignity/check] error: {ETC}/envs/10-x: is a fifo, expected a regular file — {special_fix()}\n"


def special_fix() -> str:
    from ignity.check import special

    return special.FIX


def test_root_view_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    (tmp_path / "link").symlink_to("f")
    view = root.Root(str(tmp_path))
    with no_hang():
        assert view.read("/f", 10) == "is a fifo, expected a regular file"
        assert view.read("/link", 10) == "is a fifo, expected a regular file"
    assert root.kind(view.stat("/link").st_mode) == "a fifo"  # type: ignore[union-attr]
    assert view.is_link("/link") and not view.is_link("/f")


# --- BOM ----------------------------------------------------------------------------------


def test_a_bom_is_named_as_a_bom(image: Image) -> None:
    image.file("init/10-setup", b"\xef\xbb\xbf#!/bin/sh\ntrue\n", 0o755)
    p = only(
        image.problems(), "error", f"{ETC}/init/10-setup", 1, "starts with a UTF-8 byte order mark (BOM): remove it"
    )
    assert "no #! line" not in p.problem


def test_a_bom_in_an_env_file(image: Image) -> None:
    image.file("envs/20-app", b"\xef\xbb\xbfA=1\nB=2\n")
    only(image.problems(), "error", f"{ETC}/envs/20-app", 1, "byte order mark")


# --- s6-overlay leftovers (issue #14 point 3) -----------------------------------------------


@pytest.mark.parametrize(
    ("rel", "equivalent"),
    [
        ("etc/services.d/web/run", "/etc/ignity/services/NAME/"),
        ("etc/cont-init.d/10-setup", "/etc/ignity/init/"),
        ("etc/cont-finish.d/10-bye", "/etc/ignity/finalize/"),
        ("etc/fix-attrs.d/01-data", "/etc/ignity/perms/"),
        ("etc/s6-overlay/scripts/setup", "Ignity reads only /etc/ignity"),
        ("etc/s6-overlay/user-bundles.d/user/type", "Ignity reads only /etc/ignity"),
    ],
)
def test_s6_overlay_directory_is_one_warning(image: Image, rel: str, equivalent: str) -> None:
    image.write(image.root / rel, "#!/bin/sh\ntrue\n", 0o755)
    parts = rel.split("/")
    path = "/" + "/".join(parts[:3] if parts[1] == "s6-overlay" else parts[:2])
    p = only(image.problems(), "warning", path, None, "Ignity does not read")
    assert equivalent in p.fix


def test_empty_s6_overlay_directories_are_fine(image: Image) -> None:
    for rel in ("etc/services.d", "etc/cont-init.d", "etc/s6-overlay/s6-rc.d"):
        (image.root / rel).mkdir(parents=True)
    image.write(image.root / "etc/s6-overlay/s6-rc.d/.empty", "")  # as s6-overlay v3 ships it
    assert image.problems() == []


def test_s6_rc_d_names_its_definitions_by_type(image: Image) -> None:
    rc = image.root / "etc/s6-overlay/s6-rc.d"
    for name, kind in (("web", "longrun"), ("db", "longrun"), ("init-db", "oneshot"), ("user", "bundle")):
        image.write(rc / name / "type", f"{kind}\n")
    p = only(image.problems(), "warning", "/etc/s6-overlay/s6-rc.d", None, "s6-rc service definitions")
    assert "(bundle: user; longrun: db, web; oneshot: init-db)" in p.problem
    assert "longruns become /etc/ignity/services/NAME" in p.fix and "bundles have no equivalent" in p.fix


def test_with_contenv_shebang_missing_is_an_error_naming_with_env(image: Image) -> None:
    image.script("init/10-setup", shebang="#!/command/with-contenv bash")
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "with-contenv is s6-overlay's")
    assert "use #!/usr/bin/with-env bash" in p.fix


def test_with_contenv_shebang_present_is_a_warning(image: Image) -> None:
    image.program("/usr/bin/with-contenv")
    image.script("services/web/run", shebang="#!/usr/bin/with-contenv")
    p = only(image.problems(), "warning", f"{SERVICES}/web/run", 1, "with-contenv is s6-overlay's")
    assert "use #!/usr/bin/with-env sh" in p.fix


def test_with_contenv_through_env(image: Image) -> None:
    image.script("init/10-setup", shebang="#!/usr/bin/env with-contenv")
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "with-contenv is not on PATH in the image")
    assert "with-env sh" in p.fix
    image.program("/usr/bin/with-contenv")
    only(image.problems(), "warning", f"{ETC}/init/10-setup", 1, "with-contenv is s6-overlay's")


@pytest.mark.parametrize(
    ("body", "what", "fix"),
    [
        ("s6-svscanctl -t /var/run/s6/services", "uses /var/run/s6/services, s6-overlay v2's scan", "ignity halt CODE"),
        ("s6-svscanctl -t /run/s6/services/", "uses /run/s6/services/, s6-overlay v2's scan", "ignity halt CODE"),
        ("s6-svc -d /run/service/web", "uses /run/service/web, s6-overlay v3's scan", "/run/ignity/services-state"),
        ("/run/s6/basedir/bin/halt", "s6-overlay v3's halt", "ignity halt CODE"),
        ("echo 3 > /run/s6-linux-init-container-results/exitcode", "exit code file", "ignity halt CODE"),
        ("s6-envdir /var/run/s6/container_environment env", "saved environment", "with-env"),
        ('cat "/run/s6/container_environment/HOME"', "saved environment", "with-env"),
        ("ls /run/s6/basedir", "run-time state", "no equivalent"),
        ("/command/s6-svc -u .", "uses /command/s6-svc, s6-overlay's program directory", "by name"),
    ],
)
def test_s6_overlay_paths_in_scripts(image: Image, body: str, what: str, fix: str) -> None:
    image.script("services/web/finish", body=f"# stop\n{body}")
    p = only(image.problems(), "warning", f"{SERVICES}/web/finish", 3, what)
    assert fix in p.fix


@pytest.mark.parametrize(
    "body",
    ["ls /run/services-x", "cat /srv/run/s6/x", "echo /var/run/s6x", "ls /run/ignity/services-state", "a/command/b"],
)
def test_paths_that_only_look_like_s6_overlay_ones(image: Image, body: str) -> None:
    image.script("init/10-setup", body=body)
    assert image.problems() == []


def test_one_warning_per_kind_of_path_per_script(image: Image) -> None:
    stop = "s6-svscanctl -t /var/run/s6/services"
    body = f"{stop}\n{stop}\ncat /run/s6/container_environment/A"
    image.script("init/10-setup", body=body)
    assert summary(image.problems()) == [("warning", f"{ETC}/init/10-setup", 2), ("warning", f"{ETC}/init/10-setup", 4)]


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("S6_KILL_GRACETIME", "use IGNITY_KILL_GRACETIME"),
        ("S6_KILL_FINISH_MAXTIME", "use IGNITY_KILL_FINALIZE_MAXTIME"),
        ("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", "use IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME"),
        ("S6_CMD_RECEIVE_SIGNALS", "use IGNITY_CMD_RECEIVE_SIGNALS"),
        ("S6_LOGGING", "No equivalent: give a service a log/ directory"),
        ("S6_BEHAVIOUR_IF_STAGE2_FAILS", "No equivalent"),
        ("S6_SOMETHING_NEW", "No equivalent"),
    ],
)
def test_s6_variables_in_an_env_file(image: Image, name: str, fix: str) -> None:
    image.file("envs/20-app", f"A=1\n{name}=2\n")
    p = only(image.problems(), "warning", f"{ETC}/envs/20-app", 2, f"{name} is an s6-overlay setting")
    assert p.fix.startswith(fix)


def test_s6_variables_in_the_environment(image: Image) -> None:
    problems = image.problems({"S6_VERBOSITY": "1", "S6_KEEP_ENV": "1", "HOME": "/"})
    assert summary(problems) == [("warning", "environment", None)] * 2
    assert [p.problem.split()[0] for p in problems] == ["S6_KEEP_ENV", "S6_VERBOSITY"]
    assert problems[1].fix.startswith("use IGNITY_VERBOSITY")


def test_every_variable_of_the_docs_is_mapped() -> None:
    from ignity.check import migration

    section = docs.page("from-s6-overlay")
    for name in migration.VARIABLES:
        if name != "S6_KILL_FINALIZE_MAXTIME":  # the brief's name for S6_KILL_FINISH_MAXTIME
            assert f"`{name}`" in section, name


# --- did you mean ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "choices", "expected"),
    [
        ("IGNITY_KILL_GRACETIM", ["IGNITY_KILL_GRACETIME", "IGNITY_SERVICES_GRACETIME"], "IGNITY_KILL_GRACETIME"),
        (
            "IGNITY_SERVICE_GRACETIME",
            ["IGNITY_KILL_GRACETIME", "IGNITY_SERVICES_GRACETIME"],
            "IGNITY_SERVICES_GRACETIME",
        ),
        ("IGNITY_SYNC_DISK", ["IGNITY_SYNC_DISKS", "IGNITY_SKIP_PERMS"], "IGNITY_SYNC_DISKS"),
        ("IGNITY_COLOUR", ["IGNITY_VERBOSITY", "IGNITY_SYNC_DISKS"], None),
        ("service", list(check.SUBDIRS), "services"),
        ("inti", list(check.SUBDIRS), "init"),
        ("logs", list(check.SUBDIRS), None),
    ],
)
def test_did_you_mean(word: str, choices: list[str], expected: str | None) -> None:
    assert report.did_you_mean(word, choices) == expected


words = st.text(alphabet="abcde_", max_size=10)


@given(words, words)
@settings(max_examples=300, deadline=None)
def test_distance_is_a_distance(a: str, b: str) -> None:
    d = report.distance(a, b)
    assert d == report.distance(b, a)
    assert (d == 0) == (a == b)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))


@given(words, st.integers(min_value=0, max_value=9), st.sampled_from("abcdez"))
@settings(max_examples=300, deadline=None)
def test_one_edit_is_distance_one_at_most(a: str, at: int, c: str) -> None:
    at = min(at, len(a))
    for b in (a[:at] + c + a[at:], a[:at] + a[at + 1 :], a[:at] + c + a[at + 1 :]):
        assert report.distance(a, b) <= 1
    if len(a) >= 2 and at + 1 < len(a):
        swapped = a[:at] + a[at + 1] + a[at] + a[at + 2 :]
        assert report.distance(a, swapped) <= 1


@given(words, st.lists(words, max_size=6))
@settings(max_examples=300, deadline=None)
def test_did_you_mean_gives_a_closest_choice(word: str, choices: list[str]) -> None:
    found = report.did_you_mean(word, choices)
    if found is not None:
        assert found in choices
        assert report.distance(word, found) == min(report.distance(word, c) for c in choices)


# --- at_boot takes IGNITY_SKIP_PERMS as the boot does --------------------------------------


@pytest.mark.parametrize(
    ("env_file", "environ", "skipped"),
    [
        ("IGNITY_SKIP_PERMS=1\n", {}, True),
        ("IGNITY_SKIP_PERMS=1\n", {"IGNITY_SKIP_PERMS": "0"}, False),  # the environment wins, as in envfile.merge
        ("IGNITY_SKIP_PERMS=0\n", {"IGNITY_SKIP_PERMS": "1"}, True),
        ("", {}, False),
    ],
)
def test_at_boot_reads_skip_perms_itself(
    image: Image, capfd: pytest.CaptureFixture[str], env_file: str, environ: dict[str, str], skipped: bool
) -> None:
    """So stage 1 can call at_boot(os.environ) before it reads any env file."""
    image.file("envs/05-skip", env_file)
    image.file("perms/20-app", "/data 0:0 0644\n")  # a bad line: an error unless perms are skipped
    real = check._Checker
    check._Checker = lambda root, env, live, with_perms=None: real(str(image.root), env, live, with_perms)  # type: ignore[assignment,misc]
    try:
        if skipped:
            check.at_boot(environ)
        else:
            with pytest.raises(IgnityError, match=r"1 error\(s\)"):
                check.at_boot(environ)
    finally:
        check._Checker = real  # type: ignore[misc]
    assert (f"{ETC}/perms/20-app:1" in capfd.readouterr().err) is not skipped


# --- restart policies and down-signal (docs/restarts.md) -------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("restart", "always\n"),
        ("restart", "on-failure"),
        ("restart", "never\n"),
        ("restart-delay", "500\n"),
        ("restart-delay", "1000 30000\n"),
        ("restart-delay", "0 0"),
        ("restart-limit", "5 60000\n"),
        ("restart-limit", "0\n"),
        ("success-exit-codes", "0 3\n"),
        ("success-exit-codes", "2"),
        ("down-signal", "SIGQUIT\n"),
        ("down-signal", "HUP"),
        ("down-signal", "2\n"),
    ],
)
def test_restart_files_well_formed(image: Image, name: str, content: str) -> None:
    image.file(f"services/db/{name}", content)
    assert image.problems() == []


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("restart", "sometimes\n", "restart: 'sometimes' is not a restart policy"),
        ("restart", "\n", "restart: '' is not a restart policy"),
        ("restart", "always\nnever\n", "more than one line"),
        ("restart-delay", "1s\n", "restart-delay: '1s' is not a whole number of milliseconds"),
        ("restart-delay", "-100\n", "'-100' is not a whole number"),
        ("restart-delay", "2000 1000\n", "MAX_MS 1000 is less than FIRST_MS 2000"),
        ("restart-delay", "1 2 3\n", "3 numbers, expected FIRST_MS or FIRST_MS MAX_MS"),
        ("restart-delay", "\n", "0 numbers"),
        ("restart-delay", f"{2**31}\n", "too large"),
        ("restart-limit", "5\n", "1 numbers, expected N WINDOW_MS"),
        ("restart-limit", "-1 60000\n", "'-1' is not a whole number"),
        ("restart-limit", "0 60000\n", "N is 0, expected 1 to 1000"),
        ("restart-limit", "5 0\n", "WINDOW_MS is 0"),
        ("restart-limit", "five 60000\n", "'five' is not a whole number"),
        ("success-exit-codes", "\n", "no exit status"),
        ("success-exit-codes", "0 256\n", "256 is not an exit status"),
        ("success-exit-codes", "0,3\n", "'0,3' is not a whole number"),
        ("down-signal", "SIGFOO\n", "down-signal is 'SIGFOO', not a signal"),
    ],
)
def test_restart_files_malformed(image: Image, name: str, content: str, problem: str) -> None:
    image.file(f"services/db/{name}", content)
    p = only(image.problems(), "error", f"{SERVICES}/db/{name}", 1, problem)
    assert p.fix


def test_restart_file_crlf(image: Image) -> None:
    image.file("services/db/restart-delay", "1000\r\n")
    p = only(image.problems(), "error", f"{SERVICES}/db/restart-delay", 1, "restart-delay")
    assert "carriage return" in p.fix or "CR" in p.fix or "line ending" in p.fix.lower(), p
