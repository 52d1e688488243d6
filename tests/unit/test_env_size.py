"""Whether the merged environment fits in one exec (issue #20 point 4): envfile's limit, its
message, and `ignity check`'s rule on the env files."""

from __future__ import annotations

import errno
import resource
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import check, envfile  # noqa: E402
from ignity.check import envs  # noqa: E402
from ignity.check.context import Context  # noqa: E402
from tests.unit.test_check import ETC, Image, clean, only  # noqa: E402

TRUE = "/bin/true"


def sized(total: int, prefix: bytes = b"V") -> dict[bytes, bytes]:
    """Variables whose exec_size is exactly `total` (100 kB values, and one for the rest)."""
    env: dict[bytes, bytes] = {}
    while envfile.exec_size(env) + envfile.MAX_VARIABLE < total:
        env[prefix + b"%05d" % len(env)] = b"x" * 100_000
    last = prefix + b"_LAST"
    env[last] = b"y" * (total - envfile.exec_size(env) - len(last) - 2 - envfile.POINTER)
    assert envfile.exec_size(env) == total
    return env


def exec_error(env: dict[bytes, bytes]) -> int:
    try:
        subprocess.run([TRUE], env=env, check=True)
    except OSError as e:
        return e.errno or -1
    return 0


# --- the limit is the kernel's ------------------------------------------------


def test_exec_size_and_limit_are_the_kernels_to_the_byte() -> None:
    """What fits by envfile's count runs; one byte more is E2BIG (the file name is copied too)."""
    room = envfile.exec_limit() - envfile.argv_size([TRUE]) - len(TRUE) - 1
    assert exec_error(sized(room)) == 0
    assert exec_error(sized(room + 1)) == errno.E2BIG


CHILD = f"""
import errno, resource, subprocess, sys
sys.path[:0] = [{SRC!r}, {str(Path(__file__).resolve().parents[2])!r}]
from ignity import envfile
from tests.unit.test_env_size import exec_error, sized, TRUE
room = envfile.exec_limit() - envfile.argv_size([TRUE]) - len(TRUE) - 1
print(envfile.exec_limit(), exec_error(sized(room)), exec_error(sized(room + 1)) == errno.E2BIG)
"""


@pytest.mark.parametrize(
    ("stack", "limit"),
    [
        (256 << 10, envfile.EXEC_FLOOR),  # a small stack still gets 32 pages
        (1 << 20, 256 << 10),  # a quarter of the stack
        (64 << 20, envfile.EXEC_CAP),  # capped at 3/4 of 8 MiB
        (resource.RLIM_INFINITY, envfile.EXEC_CAP),  # ulimit -s unlimited: sysconf's ARG_MAX is huge
    ],
    ids=["256KiB", "1MiB", "64MiB", "unlimited"],
)
def test_exec_limit_follows_the_stack_limit_as_the_kernel_does(stack: int, limit: int) -> None:
    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    if hard != resource.RLIM_INFINITY and (stack == resource.RLIM_INFINITY or stack > hard):
        pytest.skip("the hard stack limit is lower")

    def set_stack() -> None:
        resource.setrlimit(resource.RLIMIT_STACK, (stack, hard))

    done = subprocess.run([sys.executable, "-c", CHILD], preexec_fn=set_stack, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(limit), "0", "True"]


# --- the message ----------------------------------------------------------------


def test_an_environment_that_fits_with_the_room_for_arguments_is_fine() -> None:
    limit = 1 << 20
    assert envfile.too_large(sized(limit - envfile.ARGV_ROOM), {}, limit=limit) is None
    assert envfile.too_large(sized(limit - envfile.ARGV_ROOM + 1), {}, limit=limit) is not None
    cmd = ["sh", "-c", "x" * 1000]
    assert envfile.too_large(sized(limit - envfile.ARGV_ROOM - envfile.argv_size(cmd)), {}, cmd, limit) is None
    assert envfile.too_large(sized(limit - envfile.ARGV_ROOM - envfile.argv_size(cmd) + 1), {}, cmd, limit)


def test_the_message_names_size_limit_and_every_source() -> None:
    files = sized(600_000, b"F")
    bigger = sized(900_000, b"G")
    secrets = {b"TOKEN": b"s" * 100_000}
    container = sized(300_000, b"C")
    env = {**files, **bigger, **secrets, **container}
    origin = {
        **dict.fromkeys(files, "/etc/ignity/envs/10-a"),
        **dict.fromkeys(bigger, "/etc/ignity/envs/20-b"),
        b"TOKEN": envfile.SECRETS,
    }
    message = envfile.too_large(env, origin, ["app", "--flag"], limit=1 << 20)
    assert message is not None and "\n" not in message
    assert message.startswith(f"the environment is too large to pass to programs: {len(env)} variables, 1.8 MiB (")
    assert "(2 env files 1.4 MiB, largest /etc/ignity/envs/20-b 878.9 KiB; " in message
    assert "; secret files (FILE__*) 97.7 KiB; the container's environment 293.0 KiB)" in message
    assert "over the 1.0 MiB one exec takes for environment and arguments" in message
    assert "less 32.0 KiB kept for arguments and the CMD's 27 bytes — make the env files smaller" in message


@pytest.mark.parametrize(
    ("origin", "fix"),
    [
        ({}, "pass less in the container's environment"),
        ({b"TOKEN": envfile.SECRETS}, "use fewer or smaller secret files"),
        ({b"TOKEN": "/etc/ignity/envs/10-x"}, "make the env files smaller"),
    ],
)
def test_the_fix_names_the_largest_source(origin: dict[bytes, str], fix: str) -> None:
    env = {b"SMALL": b"1", b"TOKEN": b"s" * 120_000}
    message = envfile.too_large(env, origin, limit=envfile.EXEC_FLOOR)
    assert message is not None and f" — {fix} " in message


def test_merge_records_which_file_each_variable_comes_from(tmp_path: Path) -> None:
    a, b = tmp_path / "10-a", tmp_path / "20-b"
    a.write_bytes(b"A=1\nB=1\nC=1\n")
    b.write_bytes(b"B=2\n")
    origin: dict[bytes, str] = {}
    merged = envfile.merge([str(a), str(b)], {b"C": b"env", b"D": b"env"}, origin)
    assert merged == {b"A": b"1", b"B": b"2", b"C": b"env", b"D": b"env"}
    assert origin == {b"A": str(a), b"B": str(b)}  # C and D are the container's


def test_a_variable_is_at_most_the_kernels_string_limit() -> None:
    name = b"BIG"
    exact = name + b"=" + b"x" * (envfile.MAX_VARIABLE - len(name) - 2)
    assert envfile.parse(exact, "f") == {name: b"x" * (envfile.MAX_VARIABLE - len(name) - 2)}
    assert exec_error({name: exact[4:]}) == 0  # the kernel takes it
    with pytest.raises(Exception, match=r"^f:1: BIG is 131068 bytes long; a variable can hold at most 131067"):
        envfile.parse(exact + b"x", "f")
    assert exec_error({name: exact[4:] + b"x"}) == errno.E2BIG


# --- ignity check ---------------------------------------------------------------


@pytest.fixture
def image(tmp_path: Path) -> Image:
    return clean(tmp_path / "root")


def env_file(env: dict[bytes, bytes]) -> bytes:
    return b"".join(k + b"=" + v + b"\n" for k, v in env.items())


def test_check_reports_env_files_too_large_for_exec(image: Image, capsys: pytest.CaptureFixture[str]) -> None:
    image.file("envs/20-big", env_file(sized(envfile.exec_limit())))
    p = only(image.problems(), "error", f"{ETC}/envs", None, "the environment is too large to pass to programs")
    assert f"(2 env files 2.0 MiB, largest {ETC}/envs/20-big 2.0 MiB)" in p.problem
    assert p.fix.startswith("make the env files smaller")
    assert check.main(str(image.root), as_json=False) == 1
    assert f"error: {ETC}/envs: the environment is too large" in capsys.readouterr().out


def test_check_warns_when_env_files_take_over_half_the_room(image: Image) -> None:
    room = envfile.exec_limit() - envfile.ARGV_ROOM
    image.file("envs/20-big", env_file(sized(room // 2 + 1)))
    only(image.problems(), "warning", f"{ETC}/envs", None, "the env files set ")
    image.file("envs/20-big", env_file(sized(room // 2 - 100)))  # 10-base is in too
    assert image.problems() == []


def test_check_of_this_system_counts_its_environment_too(tmp_path: Path) -> None:
    """Live (no --root), the environment of `ignity check` is the container's, or the build's."""
    room = envfile.exec_limit() - envfile.ARGV_ROOM
    files = sized(room // 3, b"F")
    environ = {k.decode(): v.decode() for k, v in sized(room - room // 3 + 1, b"C").items()}
    ctx = Context(str(tmp_path), environ, live=True)
    envs.size(ctx, files, dict.fromkeys(files, f"{ETC}/envs/10-a"))
    assert [(p.severity, p.path) for p in ctx.problems] == [("error", f"{ETC}/envs")]
    assert "the container's environment" in ctx.problems[0].problem
    ctx = Context(str(tmp_path), environ, live=False)
    envs.size(ctx, files, dict.fromkeys(files, f"{ETC}/envs/10-a"))
    assert ctx.problems == []
