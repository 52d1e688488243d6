"""secrets: FILE__NAME=/path resolved to NAME = the file's content, and every way a file is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import secrets  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402

SECRET = b"s3cr3t-value-\xc3\xa9"


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    """Opening a fifo would block: a test that does fails after 10 s instead of hanging."""
    old = signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def resolve(**env: bytes | str) -> dict[bytes, bytes]:
    return secrets.resolve({k.encode(): v.encode() if isinstance(v, str) else v for k, v in env.items()})


def error(**env: bytes | str) -> str:
    with pytest.raises(IgnityError) as info:
        resolve(**env)
    return str(info.value)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_content_with_one_trailing_newline_removed(tmp_path: Path) -> None:
    f = write(tmp_path / "pw", SECRET + b"\n")
    assert resolve(FILE__DB_PASSWORD=str(f), OTHER="x") == {b"DB_PASSWORD": SECRET, b"OTHER": b"x"}


@pytest.mark.parametrize(
    ("data", "value"),
    [(b"a", b"a"), (b"a\n", b"a"), (b"a\n\n", b"a\n"), (b"a\r\n", b"a\r"), (b"", b""), (b"\n", b""),
     (b" spaced \n", b" spaced "), (b"two\nlines\n", b"two\nlines")],
)  # fmt: skip
def test_only_one_trailing_newline_is_removed(tmp_path: Path, data: bytes, value: bytes) -> None:
    f = write(tmp_path / "pw", data)
    assert resolve(FILE__X=str(f)) == {b"X": value}


def test_the_file_wins_over_a_value_set_directly(tmp_path: Path) -> None:
    f = write(tmp_path / "pw", b"from-file")
    assert resolve(X="direct", FILE__X=str(f)) == {b"X": b"from-file"}


def test_nothing_to_do_without_file_variables() -> None:
    assert resolve(A="1", FILE_X="not ours", XFILE__Y="nor this") == {b"A": b"1", b"FILE_X": b"not ours",
                                                                       b"XFILE__Y": b"nor this"}  # fmt: skip


def test_missing_file_names_variable_and_path(tmp_path: Path) -> None:
    msg = error(FILE__DB_PASSWORD=str(tmp_path / "nope"))
    assert msg == f"FILE__DB_PASSWORD={str(tmp_path / 'nope')!r}: no such file"


def test_directory_is_refused(tmp_path: Path) -> None:
    assert error(FILE__X=str(tmp_path)).endswith(": a directory, expected a file")
    assert error(FILE__X="/").endswith(": a directory, expected a file")


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "not a regular file" in error(FILE__X=str(fifo))


def test_device_is_refused(tmp_path: Path) -> None:
    assert "not a regular file" in error(FILE__X="/dev/null")
    assert "not a regular file" in error(FILE__X="/dev/zero")


def test_over_one_mib_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "big", b"x" * (secrets.MAX_BYTES + 1))
    assert error(FILE__X=str(f)).endswith("larger than 1 MiB (1048577 bytes)")


def test_over_the_kernel_limit_for_a_variable_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "big", b"x" * 200_000)
    assert "the kernel's limit" in error(FILE__X=str(f))
    ok = write(tmp_path / "ok", b"x" * (131072 - 3))
    assert resolve(FILE__X=str(ok))[b"X"] == b"x" * (131072 - 3)


def test_nul_byte_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "nul", b"a\0" + SECRET)
    msg = error(FILE__X=str(f))
    assert "NUL byte" in msg and SECRET.decode() not in msg


def test_relative_path_and_bad_names_are_refused(tmp_path: Path) -> None:
    assert error(FILE__X="relative/pw").endswith("not an absolute path (expected FILE__NAME=/path/to/file)")
    assert error(FILE__X="").endswith("not an absolute path (expected FILE__NAME=/path/to/file)")
    f = write(tmp_path / "pw", b"x")
    assert "not a valid variable name" in error(FILE__1X=str(f))
    assert "not a valid variable name" in error(FILE__=str(f))


def test_unreadable_file_is_refused() -> None:
    d = Path(tempfile.mkdtemp())  # pytest's own tmp_path is under a directory only root can enter
    d.chmod(0o755)
    f = write(d / "pw", SECRET)
    f.chmod(0)
    # As a user that cannot read it (root reads any file): in a child that drops to uid 65534.
    code = (
        f"import os, sys; sys.path.insert(0, {SRC!r}); os.setgid(65534); os.setuid(65534)\n"
        "from ignity import secrets\nfrom ignity.errors import IgnityError\n"
        f"try: secrets.resolve({{b'FILE__X': {str(f).encode()!r}}})\n"
        "except IgnityError as e: print(e)\n"
    )
    if os.geteuid() != 0:
        code = code.replace("os.setgid(65534); os.setuid(65534)", "pass")
    try:
        done = subprocess.run(["/usr/bin/python3", "-I", "-c", code], capture_output=True, text=True)
    finally:
        f.unlink()
        d.rmdir()
    assert done.stdout == f"FILE__X={str(f)!r}: cannot read: Permission denied\n", done.stderr


def test_root_links_are_followed_like_a_kubernetes_secret_volume(tmp_path: Path) -> None:
    # kubelet's layout: NAME -> ..data/NAME, ..data -> ..2024_01_01_00_00_00.1/
    real = tmp_path / "..2024_01_01_00_00_00.1"
    real.mkdir()
    write(real / "password", SECRET + b"\n")
    (tmp_path / "..data").symlink_to(real.name)
    (tmp_path / "password").symlink_to("..data/password")
    assert resolve(FILE__P=str(tmp_path / "password")) == {b"P": SECRET}
    # .. and . inside the path and inside a link.
    (tmp_path / "up").symlink_to(f"../{tmp_path.name}/./password")
    assert resolve(FILE__P=f"{tmp_path}/./{real.name}/../up") == {b"P": SECRET}
    (tmp_path / "abs").symlink_to(tmp_path / "password")
    assert resolve(FILE__P=str(tmp_path / "abs")) == {b"P": SECRET}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a link to another uid")
def test_a_link_owned_by_another_uid_is_not_followed(tmp_path: Path) -> None:
    target = write(tmp_path / "root-only", SECRET)
    target.chmod(0o600)
    link = tmp_path / "volume-link"
    link.symlink_to(target)
    os.lchown(link, 1000, 1000)
    msg = error(FILE__P=str(link))
    assert msg.endswith("'volume-link' is a symbolic link owned by uid 1000: only links owned by root "
                        "(or by the user Ignity runs as) are followed")  # fmt: skip
    # Also as a directory on the way.
    d = tmp_path / "dir"
    d.mkdir()
    dlink = tmp_path / "dirlink"
    dlink.symlink_to(d)
    os.lchown(dlink, 1000, 1000)
    write(d / "pw", SECRET)
    assert "symbolic link owned by uid 1000" in error(FILE__P=str(dlink / "pw"))


def test_link_loops_and_dangling_links(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    assert error(FILE__P=str(tmp_path / "a")).endswith("too many levels of symbolic links")
    (tmp_path / "dangling").symlink_to("nowhere")
    assert error(FILE__P=str(tmp_path / "dangling")).endswith("no such file")
    f = write(tmp_path / "file", b"x")
    assert error(FILE__P=f"{f}/below").endswith("a component of the path is not a directory")


def test_unexport_removes_file_variables_only() -> None:
    environ = {"FILE__A": "/x", "A": "1", "FILE_B": "2"}
    secrets.unexport(environ)
    assert environ == {"A": "1", "FILE_B": "2"}


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=3000))
def test_any_content_round_trips_or_fails_without_showing_it(tmp_path: Path, content: bytes) -> None:
    f = write(tmp_path / "pw", content)
    if b"\0" in content:
        with pytest.raises(IgnityError) as info:
            resolve(FILE__X=str(f))
        shown = str(info.value)
        assert str(f) in shown and "FILE__X" in shown
        stripped = content.replace(b"\0", b"").strip()
        assert len(stripped) < 4 or stripped.decode("utf-8", "replace") not in shown
    else:
        expected = content[:-1] if content.endswith(b"\n") else content
        assert resolve(FILE__X=str(f)) == {b"X": expected}
