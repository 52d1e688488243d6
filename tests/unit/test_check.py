"""check: `ignity check` on image trees built under tmp_path.

Every problem test starts from the same clean image (which checks clean) and
changes one thing, then asserts that exactly that problem, and nothing else,
is reported: a check that misses it, or reports something else, fails.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import check, config, envfile, perms  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402

ETC = "/etc/ignity"
ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 9  # what the kernel execs without a #! line
# Accounts of the image (not of this system: see test_perms_names_come_from_the_image).
IMAGE_USER = "ignity-check-user"
PASSWD = f"root:x:0:0:root:/root:/bin/sh\n{IMAGE_USER}:x:1000:1001::/nonexistent:/bin/false\n"
GROUP = f"root:x:0:\n{IMAGE_USER}:x:1001:\n"


class Image:
    """An image root: merged /usr (bin -> usr/bin), a few programs, accounts, a clean /etc/ignity."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.etc = root / "etc/ignity"
        for sub in check.SUBDIRS:
            (self.etc / sub).mkdir(parents=True)
        (root / "usr/bin").mkdir(parents=True)
        (root / "bin").symlink_to("usr/bin")
        for program in ("/usr/bin/sh", "/usr/bin/env", "/usr/bin/with-env", "/usr/bin/mawk"):
            self.program(program)
        self.write(root / "etc/passwd", PASSWD)
        self.write(root / "etc/group", GROUP)

    def write(self, path: Path, content: str | bytes, mode: int = 0o644) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)
        return path

    def program(self, path: str, mode: int = 0o755) -> Path:
        return self.write(self.root / path.lstrip("/"), ELF, mode)

    def file(self, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
        """A file under /etc/ignity."""
        return self.write(self.etc / rel, content, mode)

    def script(self, rel: str, body: str = "true", shebang: str = "#!/bin/sh", mode: int = 0o755) -> Path:
        return self.file(rel, f"{shebang}\n{body}\n", mode)

    def problems(self, environ: dict[str, str] | None = None) -> list[check.Problem]:
        return check.run(str(self.root), {} if environ is None else environ)


def clean(root: Path) -> Image:
    """A tree that uses every feature check looks at, correctly."""
    image = Image(root)
    image.file(
        "envs/10-base",
        "# settings\n\nAPP = production\nEMPTY=\nIGNITY_KILL_GRACETIME=2000\nIGNITY_SYNC_DISKS=\n",
    )
    image.file("envs/.hidden", "this is not an env file\r\n")  # dot files are ignored
    image.file(
        "perms/10-data",
        f"# data\n/var/lib/app {IMAGE_USER}:{IMAGE_USER} 0600 0700\n/srv true 1000 0644 0755\n"
        "/run/app {{USERMAP_UID}}:{{USERMAP_GID}} 0644 0755\n/opt false root 644 755\n",
    )
    image.script("init/10-setup")
    image.script("init/20-env", shebang="#!/usr/bin/env sh")
    image.script("init/30-env-s", shebang="#!/usr/bin/env -S sh -e")
    image.file("init/40-binary", ELF, 0o755)
    image.script("init/50-awk", shebang="#!/usr/bin/awk -f")
    # An absolute link inside the image is resolved inside the image (as Debian's alternatives).
    (root / "usr/bin/awk").symlink_to("/etc/alternatives/awk")
    (root / "etc/alternatives").mkdir()
    (root / "etc/alternatives/awk").symlink_to("/usr/bin/mawk")
    image.script("finalize/10-bye", shebang="#!/usr/bin/with-env sh")
    web = "services/web"
    image.script(f"{web}/run", shebang="#!/usr/bin/with-env sh")
    image.script(f"{web}/finish")
    image.file(f"{web}/down", "")
    image.file(f"{web}/notification-fd", "3\n")
    image.file(f"{web}/timeout-kill", "5000\n")
    image.file(f"{web}/timeout-finish", "0")
    image.file(f"{web}/max-death-tally", "4096\n")
    image.script(f"{web}/log/run")
    image.file(f"{web}/log/notification-fd", "4")
    # run as an absolute link to a binary elsewhere in the image
    image.program("/opt/app/bin/api")
    (image.etc / "services/api").mkdir()
    (image.etc / "services/api/run").symlink_to("/opt/app/bin/api")
    image.file("services/.gitkeep", "")
    return image


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return clean(tmp_path / "root")


def summary(problems: list[check.Problem]) -> list[tuple[str, str, int | None]]:
    return [(p.severity, p.path, p.line) for p in problems]


def only(problems: list[check.Problem], severity: str, path: str, line: int | None, text: str) -> check.Problem:
    """The one problem reported, which must be this one."""
    assert summary(problems) == [(severity, path, line)], problems
    assert text in problems[0].problem, problems[0]
    return problems[0]


def boot_message(error: Exception) -> str:
    return str(error)


@contextmanager
def no_hang(seconds: int = 10) -> Iterator[None]:
    """Turn a blocked read (a fifo opened for reading) into a failure rather than a hung run."""

    def fail(signum: int, frame: object) -> None:
        raise TimeoutError("check blocked: it opened a fifo")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- a clean tree ---------------------------------------------------------------


def test_clean_tree_has_no_problem(image: Image) -> None:
    assert image.problems() == []


def test_clean_tree_prints_nothing_and_exits_0(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(str(image.root), as_json=False) == 0
    assert capsys.readouterr() == ("", "")


def test_empty_tree_is_clean(tmp_path: Path) -> None:
    Image(tmp_path)
    assert check.run(str(tmp_path), {}) == []


def test_a_trailing_slash_on_root_changes_nothing(image: Image) -> None:
    image.script("init/10-setup", shebang="#!/bin/bash")
    assert summary(check.run(str(image.root) + "/", {})) == summary(image.problems()) != []


# --- scripts: init, finalize, run, finish ---------------------------------------


def test_script_not_executable(image: Image) -> None:
    image.script("init/10-setup", mode=0o644)
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", None, "not executable")
    assert f"chmod +x {ETC}/init/10-setup" in p.fix


@pytest.mark.parametrize("content", ["echo no shebang\n", "", " #!/bin/sh\n"], ids=["text", "empty", "indented"])
def test_script_without_shebang(image: Image, content: str) -> None:
    image.file("finalize/10-bye", content, 0o755)
    only(image.problems(), "error", f"{ETC}/finalize/10-bye", 1, "no #! line")


def test_interpreter_missing(image: Image) -> None:
    image.script("init/10-setup", shebang="#!/bin/bash")
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "interpreter /bin/bash does not exist")
    assert "install bash" in p.fix


def test_interpreter_is_looked_up_under_root_not_on_this_system(image: Image) -> None:
    assert os.path.exists(sys.executable)  # there on this system, not in the image
    image.script("init/10-setup", shebang=f"#!{sys.executable}")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, f"interpreter {sys.executable} does not exist")


def test_interpreter_only_in_the_image_is_found(image: Image) -> None:
    assert not os.path.exists("/opt/ignity-check/bin/interp")
    image.program("/opt/ignity-check/bin/interp")
    image.script("init/10-setup", shebang="#!/opt/ignity-check/bin/interp --flag")
    assert image.problems() == []


def test_absolute_link_to_a_file_of_this_system_is_not_followed_out_of_the_image(image: Image) -> None:
    (image.root / "usr/bin/python3").symlink_to(sys.executable)
    image.script("init/10-setup", shebang="#!/usr/bin/python3")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "interpreter /usr/bin/python3 is a dangling symbolic")


def test_link_loop_interpreter(image: Image) -> None:
    (image.root / "usr/bin/loop").symlink_to("/usr/bin/loop")
    image.script("init/10-setup", shebang="#!/usr/bin/loop")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "loop of symbolic links")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda image: image.program("/usr/bin/tool", 0o644), "is not executable"),
        (lambda image: (image.root / "usr/bin/tool").mkdir(), "is a directory"),
        (lambda image: (image.root / "usr/bin/tool").symlink_to("/nowhere"), "is a dangling symbolic link"),
    ],
    ids=["not-executable", "directory", "dangling"],
)
def test_interpreter_unusable(image: Image, make: Callable[[Image], object], why: str) -> None:
    make(image)
    image.script("init/10-setup", shebang="#!/usr/bin/tool")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, f"interpreter /usr/bin/tool {why}")


def test_interpreter_not_absolute(image: Image) -> None:
    image.script("init/10-setup", shebang="#!sh")
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "'sh' is not an absolute path")
    assert "#!/usr/bin/env sh" in p.fix


def test_shebang_without_interpreter(image: Image) -> None:
    image.script("init/10-setup", shebang="#!  ")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "names no interpreter")


def test_env_program_missing_from_the_image_path(image: Image) -> None:
    assert any(os.path.exists(f"{d}/ls") for d in check.PATH)  # found on this system's PATH
    image.script("init/20-env", shebang="#!/usr/bin/env ls")
    p = only(image.problems(), "error", f"{ETC}/init/20-env", 1, "ls (run by env) is not on PATH")
    assert "install ls" in p.fix


@pytest.mark.parametrize("directory", check.PATH)
def test_env_program_found_in_every_standard_path_directory(image: Image, directory: str) -> None:
    image.program(f"{directory}/ignity-check-prog")
    image.script("init/10-setup", shebang="#!/usr/bin/env ignity-check-prog")
    assert image.problems() == []


def test_env_program_outside_the_standard_path(image: Image) -> None:
    image.program("/opt/bin/prog")
    image.script("init/10-setup", shebang="#!/usr/bin/env prog")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "prog (run by env) is not on PATH")


def test_env_program_by_absolute_path(image: Image) -> None:
    image.script("init/10-setup", shebang="#!/usr/bin/env /opt/bin/prog")
    only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "/opt/bin/prog (run by env) does not exist")
    image.program("/opt/bin/prog")
    assert image.problems() == []


def test_env_with_options_gets_them_as_one_program_name(image: Image) -> None:
    image.script("init/10-setup", shebang="#!/usr/bin/env sh -e")
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "env gets 'sh -e' as one program name")
    assert "#!/usr/bin/env -S sh -e" in p.fix


def test_env_dash_s_program_missing(image: Image) -> None:
    image.script("init/30-env-s", shebang="#!/usr/bin/env -S bash -e")
    only(image.problems(), "error", f"{ETC}/init/30-env-s", 1, "bash (run by env) is not on PATH")


def test_env_without_program(image: Image) -> None:
    image.script("init/20-env", shebang="#!/usr/bin/env")
    only(image.problems(), "error", f"{ETC}/init/20-env", 1, "names no program")


def test_with_env_with_options_gets_them_as_one_program_name(image: Image) -> None:
    image.program("/usr/bin/execlineb")
    image.script("services/web/run", shebang="#!/usr/bin/with-env execlineb -P")
    only(image.problems(), "error", f"{ETC}/services/web/run", 1, "with-env gets 'execlineb -P' as one program")


def test_with_env_program_missing(image: Image) -> None:
    image.script("finalize/10-bye", shebang="#!/usr/bin/with-env bash")
    only(image.problems(), "error", f"{ETC}/finalize/10-bye", 1, "bash (run by with-env) is not on PATH")


def test_with_env_not_installed(image: Image) -> None:
    (image.root / "usr/bin/with-env").unlink()
    problems = image.problems()
    assert summary(problems) == [
        ("error", f"{ETC}/finalize/10-bye", 1),
        ("error", f"{ETC}/services/web/run", 1),
    ]
    assert all("ignity install" in p.fix for p in problems)


def test_crlf_shebang(image: Image) -> None:
    image.file("init/10-setup", b"#!/bin/sh\r\necho hi\r\n", 0o755)
    p = only(image.problems(), "error", f"{ETC}/init/10-setup", 1, "the #! line ends with a carriage return")
    assert "dos2unix" in p.fix


def test_crlf_after_the_shebang(image: Image) -> None:
    image.file("init/10-setup", b"#!/bin/sh\necho one\necho two\r\n", 0o755)
    only(image.problems(), "error", f"{ETC}/init/10-setup", 3, "carriage return")


def test_crlf_in_a_binary_is_not_a_problem(image: Image) -> None:
    image.file("init/40-binary", ELF + b"\r\n", 0o755)
    assert image.problems() == []


def test_script_is_a_directory(image: Image) -> None:
    (image.etc / "init/15-dir").mkdir()
    only(image.problems(), "error", f"{ETC}/init/15-dir", None, "is a directory")


def test_script_is_a_dangling_link(image: Image) -> None:
    (image.etc / "init/15-link").symlink_to("/usr/local/bin/setup")
    only(image.problems(), "error", f"{ETC}/init/15-link", None, "dangling symbolic link")


def test_script_is_a_fifo(image: Image) -> None:
    os.mkfifo(image.etc / "finalize/15-fifo")
    with no_hang():
        problems = image.problems()
    only(problems, "error", f"{ETC}/finalize/15-fifo", None, "is a fifo, expected a regular file")


def test_problems_come_in_byte_order_of_names(image: Image) -> None:
    for name in ("a-late", "Z-early", "10-setup", "9-after-10"):
        image.script(f"init/{name}", mode=0o644)
    assert [p.path.rpartition("/")[2] for p in image.problems()] == ["10-setup", "9-after-10", "Z-early", "a-late"]


def test_dot_scripts_are_ignored(image: Image) -> None:
    image.file("init/.notes", "not a script")
    assert image.problems() == []


def test_service_run_not_executable(image: Image) -> None:
    image.script("services/web/run", mode=0o644)
    only(image.problems(), "error", f"{ETC}/services/web/run", None, "not executable")


def test_service_finish_bad_interpreter(image: Image) -> None:
    image.script("services/web/finish", shebang="#!/bin/zsh")
    only(image.problems(), "error", f"{ETC}/services/web/finish", 1, "interpreter /bin/zsh does not exist")


def test_logger_run_without_shebang(image: Image) -> None:
    image.file("services/web/log/run", "s6-log /var/log/web\n", 0o755)
    only(image.problems(), "error", f"{ETC}/services/web/log/run", 1, "no #! line")


def test_logger_finish_crlf(image: Image) -> None:
    image.file("services/web/log/finish", b"#!/bin/sh\r\n", 0o755)
    only(image.problems(), "error", f"{ETC}/services/web/log/finish", 1, "carriage return")


# --- service directories ------------------------------------------------------------


def test_service_without_run(image: Image) -> None:
    (image.etc / "services/web/run").unlink()
    p = only(image.problems(), "error", f"{ETC}/services/web", None, "no run file")
    assert f"{ETC}/services/web/run" in p.fix


def test_service_with_a_dangling_run_link(image: Image) -> None:
    (image.etc / "services/web/run").unlink()
    (image.etc / "services/web/run").symlink_to("/opt/app/bin/missing")
    only(image.problems(), "error", f"{ETC}/services/web/run", None, "dangling symbolic link")


def test_services_entry_not_a_directory(image: Image) -> None:
    image.script("services/worker")
    p = only(image.problems(), "error", f"{ETC}/services/worker", None, "not a directory")
    assert f"{ETC}/services/worker/run" in p.fix


def test_logger_without_run(image: Image) -> None:
    (image.etc / "services/web/log/run").unlink()
    only(image.problems(), "error", f"{ETC}/services/web/log", None, "no run file")


def test_logger_not_a_directory(image: Image) -> None:
    image.file("services/api/log", "")
    only(image.problems(), "error", f"{ETC}/services/api/log", None, "not a directory")


def test_log_of_a_logger_is_not_a_service(image: Image) -> None:
    image.file("services/web/log/log", "")  # s6 does not read it: not checked
    assert image.problems() == []


def test_service_name_with_a_leading_dot(image: Image) -> None:
    image.script("services/.old/run")
    p = only(image.problems(), "warning", f"{ETC}/services/.old", None, "starts with a dot")
    assert "rename" in p.fix


def test_service_name_with_a_newline(image: Image) -> None:
    image.script("services/we\nb/run")
    only(image.problems(), "error", f"{ETC}/services/we\\nb", None, "contains a newline")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a/b", "contains '/'"),
        ("a\nb", "contains a newline"),
        ("x" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),
        ("x" * 255, None),
        ("web-1.2_x", None),
    ],
    ids=["slash", "newline", "256-bytes", "256-utf8-bytes", "255-bytes", "ok"],
)
def test_service_name_problem(name: str, problem: str | None) -> None:
    found = check.service_name_problem(name)
    assert found == problem if problem is None else (found is not None and problem in found)


def test_down_not_a_regular_file(image: Image) -> None:
    (image.etc / "services/web/down").unlink()
    (image.etc / "services/web/down").mkdir()
    p = only(image.problems(), "error", f"{ETC}/services/web/down", None, "is a directory, expected an empty regular")
    assert "touch" in p.fix


def test_down_in_the_logger_checked_too(image: Image) -> None:
    (image.etc / "services/web/log/down").mkdir()
    only(image.problems(), "error", f"{ETC}/services/web/log/down", None, "is a directory, expected an empty")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("notification-fd", "0\n", "notification-fd is 0: fds 0, 1 and 2"),
        ("notification-fd", "1", "notification-fd is 1: fds 0, 1 and 2"),
        ("notification-fd", "2\n", "notification-fd is 2: fds 0, 1 and 2"),
        ("notification-fd", "three\n", "not a whole number"),
        ("notification-fd", "", "not a whole number"),
        ("notification-fd", "3\n\n", "not a whole number"),
        ("notification-fd", " 3\n", "not a whole number"),
        ("timeout-kill", "-5\n", "not a whole number"),
        ("timeout-kill", "5s\n", "not a whole number"),
        ("timeout-kill", f"{2**32}\n", "out of range"),
        ("timeout-finish", "1.5", "not a whole number"),
        ("timeout-finish", "100\r\n", "not a whole number"),
        ("max-death-tally", "4097\n", "max-death-tally is 4097, out of range"),
        ("max-death-tally", "-1", "not a whole number"),
    ],
)
def test_control_file_malformed(image: Image, name: str, content: str, problem: str) -> None:
    image.file(f"services/web/{name}", content)
    p = only(image.problems(), "error", f"{ETC}/services/web/{name}", 1, problem)
    if "\r" in content:
        assert "dos2unix" in p.fix


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notification-fd", "3"),
        ("notification-fd", "255\n"),
        ("timeout-kill", "0\n"),
        ("timeout-kill", f"{2**32 - 1}"),
        ("timeout-finish", "007\n"),
        ("max-death-tally", "0"),
    ],
)
def test_control_file_accepted(image: Image, name: str, content: str) -> None:
    image.file(f"services/api/{name}", content)
    assert image.problems() == []


def test_control_file_in_the_logger(image: Image) -> None:
    image.file("services/web/log/timeout-kill", "soon\n")
    only(image.problems(), "error", f"{ETC}/services/web/log/timeout-kill", 1, "not a whole number")


def test_control_file_is_a_directory(image: Image) -> None:
    (image.etc / "services/api/timeout-finish").mkdir()
    only(image.problems(), "error", f"{ETC}/services/api/timeout-finish", None, "is a directory, expected a regular")


# --- env files ---------------------------------------------------------------------------


def test_env_file_every_bad_line_with_the_boot_message(image: Image) -> None:
    text = b"GOOD=1\nnot a line\n9BAD=x\n  # fine\nALSO_GOOD = 2\n"
    image.file("envs/20-app", text)
    problems = image.problems()
    assert summary(problems) == [("error", f"{ETC}/envs/20-app", 2), ("error", f"{ETC}/envs/20-app", 3)]
    # The boot stops at the first bad line, with this very text.
    with pytest.raises(IgnityError) as boot:
        envfile.parse(text, f"{ETC}/envs/20-app")
    assert f"{problems[0].path}:{problems[0].line}: {problems[0].problem}" == boot_message(boot.value)
    assert "NAME=VALUE" in problems[0].fix


def test_env_file_crlf_is_one_problem(image: Image) -> None:
    text = b"A=1\r\nB=2\r\nC=3\r\n"
    image.file("envs/20-app", text)
    p = only(image.problems(), "error", f"{ETC}/envs/20-app", 1, "carriage return")
    with pytest.raises(IgnityError) as boot:
        envfile.parse(text, f"{ETC}/envs/20-app")
    assert str(p).startswith(boot_message(boot.value))


def test_env_file_is_a_directory(image: Image) -> None:
    (image.etc / "envs/20-app").mkdir()
    only(image.problems(), "error", f"{ETC}/envs/20-app", None, "is a directory, expected an env file")


@pytest.mark.parametrize("kind", ["envs", "perms"])
def test_env_or_perms_file_is_a_fifo(image: Image, kind: str) -> None:
    os.mkfifo(image.etc / kind / "20-app")  # reading it would hang the boot
    with no_hang():
        problems = image.problems()
    only(problems, "error", f"{ETC}/{kind}/20-app", None, "is a fifo, expected a regular file")


# --- perms files --------------------------------------------------------------------------


def test_perms_every_bad_line_with_the_boot_message(image: Image) -> None:
    text = "/data 0:0 0644\n/data 0:0 0644 0755\n/data 0:0 999 0755\nrelative 0:0 0644 0755\n/x maybe 0:0 644 755\n"
    image.file("perms/20-app", text)
    problems = image.problems()
    shown = f"{ETC}/perms/20-app"
    assert summary(problems) == [("error", shown, 1), ("error", shown, 3), ("error", shown, 4), ("error", shown, 5)]
    for p in problems:
        line = text.split("\n")[p.line - 1] if p.line else ""
        with pytest.raises(IgnityError) as boot:
            perms.parse("\n" * (p.line - 1 if p.line else 0) + line, shown, check.PERMS_VARIABLES)
        assert f"{p.path}:{p.line}: {p.problem}" == boot_message(boot.value)
        assert "PATH UID:GID FMODE DMODE" in p.fix


def test_perms_unknown_placeholder(image: Image) -> None:
    image.file("perms/20-app", "/data {{APP_UID}}:0 0644 0755\n")
    only(image.problems(), "error", f"{ETC}/perms/20-app", 1, "unknown placeholder '{{APP_UID}}'")


def test_perms_unknown_user_under_root_is_a_warning(image: Image) -> None:
    image.file("perms/20-app", "# x\n/data nosuchuser:0 0644 0755\n")
    p = only(image.problems(), "warning", f"{ETC}/perms/20-app", 2, "no user named 'nosuchuser' in this image")
    assert str(image.root) in p.fix


def test_perms_unknown_group_under_root_is_a_warning(image: Image) -> None:
    image.file("perms/20-app", "/data true 0:nosuchgroup 0644 0755\n")
    only(image.problems(), "warning", f"{ETC}/perms/20-app", 1, "no group named 'nosuchgroup' in this image")


def test_perms_unknown_names_on_the_live_system_are_errors(image: Image) -> None:
    image.file("perms/20-app", "/data nosuchuser:nosuchgroup 0644 0755\n")
    problems = check._Checker(str(image.root), {}, live=True).all()
    assert summary(problems) == [("error", f"{ETC}/perms/20-app", 1)] * 2


def test_perms_names_come_from_the_image(image: Image) -> None:
    image_users = {line.split(":")[0] for line in PASSWD.splitlines()}
    host_only = next((p.pw_name for p in pwd.getpwall() if p.pw_name not in image_users), None)
    if host_only is None:
        pytest.skip("this system has no user the image lacks")
    with pytest.raises(KeyError):
        pwd.getpwnam(IMAGE_USER)  # the clean tree's user is the image's only
    image.file("perms/20-app", f"/data {host_only} 0644 0755\n")
    only(image.problems(), "warning", f"{ETC}/perms/20-app", 1, f"no user named {host_only!r}")


def test_perms_user_only_takes_the_group_from_the_image(image: Image) -> None:
    image.file("perms/20-app", f"/data {IMAGE_USER} 0644 0755\n/data 1000 0644 0755\n/data 4242 0644 0755\n")
    only(image.problems(), "warning", f"{ETC}/perms/20-app", 3, "uid 4242 has no entry")


def test_perms_without_passwd_under_root(image: Image) -> None:
    (image.root / "etc/passwd").unlink()
    (image.root / "etc/group").unlink()
    problems = image.problems()
    # user and group of line 2, the group of uid 1000 (line 3), user root (line 5)
    assert summary(problems) == [("warning", f"{ETC}/perms/10-data", n) for n in (2, 2, 3, 5)]


@pytest.mark.parametrize("where", ["env-file", "environment"])
def test_perms_mapped_user_need_not_exist_yet(image: Image, where: str) -> None:
    image.file("perms/20-app", "/data svc:svc 0644 0755\n")
    assert len(image.problems()) == 2  # user and group
    environ = {}
    if where == "env-file":
        image.file("envs/20-user", "USER=svc\n")
    else:
        environ = {"USER": "svc"}
    assert image.problems(environ) == []


def test_perms_is_a_directory(image: Image) -> None:
    (image.etc / "perms/20-app").mkdir()
    only(image.problems(), "error", f"{ETC}/perms/20-app", None, "is a directory, expected a perms file")


# --- IGNITY_* variables ------------------------------------------------------------------


def test_env_file_typo_of_a_known_variable(image: Image) -> None:
    image.file("envs/20-app", "A=1\nIGNITY_KILL_GRACETIM=100\n")
    p = only(image.problems(), "warning", f"{ETC}/envs/20-app", 2, "unknown variable IGNITY_KILL_GRACETIM")
    assert p.fix == "did you mean IGNITY_KILL_GRACETIME?"


def test_env_file_unknown_variable_without_a_close_one(image: Image) -> None:
    image.file("envs/20-app", "IGNITY_COLOUR=blue\n")
    p = only(image.problems(), "warning", f"{ETC}/envs/20-app", 1, "unknown variable IGNITY_COLOUR")
    assert "did you mean" not in p.fix


@pytest.mark.parametrize(("name", "value"), [("IGNITY_KILL_GRACETIME", "3s"), ("IGNITY_VERBOSITY", "3")])
def test_env_file_invalid_value(image: Image, name: str, value: str) -> None:
    image.file("envs/20-app", f"# x\n{name}={value}\n")
    p = only(image.problems(), "error", f"{ETC}/envs/20-app", 2, f"{name}='{value}'")
    with pytest.raises(IgnityError) as boot:
        config.from_env({name: value})
    assert p.problem == boot_message(boot.value)
    assert f"({config.KNOWN[name][0]})" in p.fix


def test_environment_typo(image: Image) -> None:
    p = only(image.problems({"IGNITY_SERVICE_GRACETIME": "1"}), "warning", "environment", None, "unknown variable")
    assert p.fix == "did you mean IGNITY_SERVICES_GRACETIME?"


def test_environment_invalid_value(image: Image) -> None:
    only(image.problems({"IGNITY_SYNC_DISKS": "yes", "PATH": "/bin"}), "error", "environment", None, "'yes'")


def test_environment_valid_values(image: Image) -> None:
    assert image.problems({"IGNITY_SYNC_DISKS": "1", "IGNITY_KILL_GRACETIME": "", "HOME": "/"}) == []


def test_environment_is_read_only_for_this_system(image: Image, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("IGNITY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IGNITY_KILL_GRACETIM", "1")
    assert check.run(str(image.root)) == []  # another image's tree: this environment is not its
    live = [p for p in check.run("/") if p.path == "environment"]
    assert summary(live) == [("warning", "environment", None)]
    assert summary([p for p in check.run("") if p.path == "environment"]) == summary(live)


# --- the tree itself -----------------------------------------------------------------------


def test_unknown_entry_in_etc_ignity(image: Image) -> None:
    (image.etc / "service").mkdir()
    p = only(image.problems(), "warning", f"{ETC}/service", None, "unknown entry")
    assert p.fix == "did you mean services?"


def test_subdirectory_not_a_directory(image: Image) -> None:
    for child in (image.etc / "envs").iterdir():
        child.unlink()
    (image.etc / "envs").rmdir()
    image.file("envs", "A=1\n")
    only(image.problems(), "error", f"{ETC}/envs", None, "not a directory")


def test_no_etc_ignity(tmp_path: Path) -> None:
    p = only(check.run(str(tmp_path), {}), "warning", ETC, None, "does not exist")
    assert "ignity install" in p.fix


def test_etc_ignity_as_a_link_inside_the_image(tmp_path: Path) -> None:
    image = clean(tmp_path / "root")
    (image.root / "etc/ignity").rename(image.root / "srv-ignity")
    (image.root / "etc/ignity").symlink_to("/srv-ignity")
    image.etc = image.root / "srv-ignity"
    assert image.problems() == []
    image.script("init/10-setup", mode=0o644)  # through the link
    only(image.problems(), "error", f"{ETC}/init/10-setup", None, "not executable")


def test_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    only(check.run(str(tmp_path / "nope"), {}), "error", str(tmp_path / "nope"), None, "no such directory")
    assert check.main(str(tmp_path / "nope"), as_json=False) == 1
    assert "no such directory" in capsys.readouterr().out


# --- output ------------------------------------------------------------------------------


def test_problem_text() -> None:
    assert str(check.Problem("error", "/a", 3, "bad", "fix it")) == "/a:3: bad — fix it"
    assert str(check.Problem("warning", "/a", None, "odd", "look")) == "/a: odd — look"
    assert str(check.Problem("error", "/a", None, "bad")) == "/a: bad"


def broken(image: Image) -> None:
    """One warning, then two errors, in walk order."""
    image.file("envs/20-app", "IGNITY_SYNC_DISK=1\n")
    image.script("init/10-setup", mode=0o644)
    image.file("services/web/notification-fd", "1\n")


def test_text_output_errors_first_then_warnings(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    broken(image)
    assert check.main(str(image.root), as_json=False) == 1
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["error", "error", "warning"]
    assert lines[0] == f"error: {ETC}/init/10-setup: is not executable — chmod +x {ETC}/init/10-setup"
    assert lines[1].startswith(f"error: {ETC}/services/web/notification-fd:1: notification-fd is 1: ")
    assert lines[2] == (
        f"warning: {ETC}/envs/20-app:1: unknown variable IGNITY_SYNC_DISK: Ignity ignores it"
        " — did you mean IGNITY_SYNC_DISKS?"
    )


def test_warnings_alone_exit_0(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    image.file("envs/20-app", "IGNITY_SYNC_DISK=1\n")
    assert check.main(str(image.root), as_json=False) == 0
    assert capsys.readouterr().out.startswith(f"warning: {ETC}/envs/20-app:1: ")


def test_json_output(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    broken(image)
    assert check.main(str(image.root), as_json=True) == 1
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["errors", "warnings"]
    assert report["errors"] == [
        {
            "path": f"{ETC}/init/10-setup",
            "line": None,
            "problem": "is not executable",
            "fix": f"chmod +x {ETC}/init/10-setup",
        },
        {
            "path": f"{ETC}/services/web/notification-fd",
            "line": 1,
            "problem": report["errors"][1]["problem"],
            "fix": report["errors"][1]["fix"],
        },
    ]
    assert report["errors"][1]["problem"].startswith("notification-fd is 1")
    assert [(w["path"], w["line"], w["fix"]) for w in report["warnings"]] == [
        (f"{ETC}/envs/20-app", 1, "did you mean IGNITY_SYNC_DISKS?")
    ]


def test_json_output_clean(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(str(image.root), as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == {"errors": [], "warnings": []}


def test_output_survives_undecodable_names(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    name = os.fsdecode(b"10-\xff")
    image.script(f"init/{name}", mode=0o644)
    assert check.main(str(image.root), as_json=False) == 1
    assert f"{ETC}/init/10-\\udcff: is not executable" in capsys.readouterr().out
    assert check.main(str(image.root), as_json=True) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["path"] == f"{ETC}/init/10-\\udcff"


# --- stage 1's use -------------------------------------------------------------------------


BootOn = Callable[[Image], list[tuple[str, bool]]]


@pytest.fixture
def boot_on(monkeypatch: pytest.MonkeyPatch) -> BootOn:
    """at_boot checks "/": point its checker at an image under tmp_path instead."""
    real = check._Checker
    seen: list[tuple[str, bool]] = []

    def on_image(image: Image) -> list[tuple[str, bool]]:
        def make(root: str, environ: object, live: bool, with_perms: bool | None = True) -> check._Checker:
            seen.append((root, live))
            return real(str(image.root), {}, live, with_perms)

        monkeypatch.setattr(check, "_Checker", make)
        return seen

    return on_image


def test_at_boot(image: Image, boot_on: BootOn, capfd: pytest.CaptureFixture[str]) -> None:
    seen = boot_on(image)
    image.file("envs/20-app", "IGNITY_SYNC_DISK=1\n")
    check.at_boot({})  # warnings do not stop the boot
    assert seen == [("", True)]
    assert capfd.readouterr().err == f"[ignity/check] warning: {ETC}/envs/20-app:1: " + (
        "unknown variable IGNITY_SYNC_DISK: Ignity ignores it — did you mean IGNITY_SYNC_DISKS?\n"
    )
    image.script("init/10-setup", mode=0o644)
    with pytest.raises(IgnityError, match=r"1 error\(s\) in /etc/ignity"):
        check.at_boot({})
    assert f"[ignity/check] error: {ETC}/init/10-setup: is not executable" in capfd.readouterr().err


def test_at_boot_skip_perms(image: Image, boot_on: BootOn, capfd: pytest.CaptureFixture[str]) -> None:
    boot_on(image)
    image.file("perms/20-app", "/data 0:0 0644\n")
    with pytest.raises(IgnityError, match=r"1 error\(s\)"):
        check.at_boot({})
    assert f"error: {ETC}/perms/20-app:1: " in capfd.readouterr().err
    check.at_boot({}, skip_perms=True)  # the boot does not read them
    assert capfd.readouterr().err == ""


# --- property: s6's number files --------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NUMBER_FILES = {"notification-fd": (3, 2**32 - 1), "timeout-kill": (0, 2**32 - 1), "max-death-tally": (0, 4096)}


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(_NUMBER_FILES)),
    st.one_of(
        st.binary(max_size=24),
        st.integers(min_value=0, max_value=2**33).map(lambda n: str(n).encode()),
        st.integers(min_value=0, max_value=5000).map(lambda n: f"{n}\n".encode()),
    ),
)
def test_number_files_are_accepted_exactly_when_s6_would_take_them(name: str, content: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        image = clean(Path(tmp) / "root")
        image.file(f"services/web/{name}", content)
        found = [p for p in image.problems() if p.path == f"/etc/ignity/services/web/{name}"]
    text = content[:-1] if content.endswith(b"\n") else content
    low, high = _NUMBER_FILES[name]
    valid = text.isdigit() and low <= int(text) <= high
    assert (found == []) is valid, (content, [str(p) for p in found])
    assert all(p.severity == "error" and p.line == 1 for p in found)
