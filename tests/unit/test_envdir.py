"""envdir: what `write` stores comes back byte for byte through the real s6-envdir.

The read-back is the with-env chain of install.with_env_script, run with an
empty environment: s6-envdir -I -fnL DIR s6-envdir -I EMPTYDIR env -0.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import envdir  # noqa: E402

S6_ENVDIR = "/usr/bin/s6-envdir"
ENV = "/usr/bin/env"

pytestmark = pytest.mark.skipif(not os.access(S6_ENVDIR, os.X_OK), reason="s6-envdir not installed")


def read_back(directory: Path, empty_dir: Path) -> dict[bytes, bytes]:
    """The environment a program started by with-env sees, as NAME -> VALUE."""
    argv = [S6_ENVDIR, "-I", "-fnL", str(directory), S6_ENVDIR, "-I", str(empty_dir), ENV, "-0"]
    out = subprocess.run(argv, env={}, capture_output=True, check=True).stdout
    assert out == b"" or out.endswith(b"\0")
    result: dict[bytes, bytes] = {}
    for record in out.split(b"\0")[:-1]:
        name, sep, value = record.partition(b"=")
        assert sep, record
        assert name not in result, name
        result[name] = value
    return result


def dirs(base: Path) -> tuple[Path, Path]:
    """The layout of paths.py: the empty-value dir is a dot-dir inside the envdir."""
    directory = base / "envs"
    return directory, directory / ".empty"


def round_trip(base: Path, env: dict[bytes, bytes]) -> dict[bytes, bytes]:
    directory, empty_dir = dirs(base)
    assert envdir.write(env, str(directory), str(empty_dir)) == []
    return read_back(directory, empty_dir)


def tree(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*")}


# --- examples -----------------------------------------------------------------

CASES = {
    "plain": b"hello",
    "empty": b"",
    "one newline": b"\n",
    "two newlines": b"\n\n",
    "inner newline": b"line1\nline2",
    "trailing newline": b"line1\nline2\n",
    "leading newline": b"\nafter",
    "newlines and blanks": b" \n\t\n ",
    "trailing spaces": b"value   ",
    "trailing tab": b"value\t",
    "only spaces": b"   ",
    "only tab": b"\t",
    "leading spaces": b"   value",
    "cr": b"value\r",
    "crlf": b"a\r\nb\r\n",
    "exactly 4096": b"x" * 4096,
    "4097": b"y" * 4097,
    "long with newlines": (b"0123456789abcdef\n" * 600) + b"tail",
    "100k": bytes(range(1, 256)) * 400,
    "utf-8": "café ✓ 日本語 🎉".encode(),
    "not utf-8": b"\xff\xfe\x80\xc3(\xa0\xa1",
    "all bytes but nul": bytes(range(1, 256)),
    "equals": b"a=b==c=",
    "shell chars": b"$HOME `x` $(y) 'q' \"d\" \\ * ? ~",
    "dot start": b".hidden-looking value",
}


@pytest.mark.parametrize("value", list(CASES.values()), ids=list(CASES))
def test_single_value_round_trips(tmp_path: Path, value: bytes) -> None:
    assert round_trip(tmp_path, {b"VAR": value}) == {b"VAR": value}


def test_all_values_together_round_trip(tmp_path: Path) -> None:
    env = {f"V_{i}".encode(): value for i, value in enumerate(CASES.values())}
    env[b"EMPTY_TOO"] = b""
    assert round_trip(tmp_path, env) == env


def test_storable_names_that_are_not_identifiers_round_trip(tmp_path: Path) -> None:
    env = {
        b"my-var": b"1",
        b"1ABC": b"2",
        b"a.b": b"3",
        b"\xff\xfe": b"4",
        b"sp ace": b"",
        b"x..": b"5",
    }
    assert round_trip(tmp_path, env) == env


def test_empty_values_go_to_the_empty_dir(tmp_path: Path) -> None:
    directory, empty_dir = dirs(tmp_path)
    assert envdir.write({b"SET": b"v\n", b"EMPTY": b""}, str(directory), str(empty_dir)) == []
    assert (directory / "SET").read_bytes() == b"v\n"
    assert not (directory / "EMPTY").exists()
    assert (empty_dir / "EMPTY").read_bytes() == b"\n"
    assert not (empty_dir / "SET").exists()


def test_write_creates_private_directories_and_files(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b" / "envs"
    empty_dir = tmp_path / "elsewhere" / "empty"
    assert envdir.write({b"S": b"secret", b"E": b""}, str(directory), str(empty_dir)) == []
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(empty_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "S").stat().st_mode) == 0o600
    assert stat.S_IMODE((empty_dir / "E").stat().st_mode) == 0o600
    assert read_back(directory, empty_dir) == {b"S": b"secret", b"E": b""}


def test_write_into_existing_directories_overwrites(tmp_path: Path) -> None:
    directory, empty_dir = dirs(tmp_path)
    envdir.write({b"A": b"a long first value\n"}, str(directory), str(empty_dir))
    assert envdir.write({b"A": b"short"}, str(directory), str(empty_dir)) == []
    assert read_back(directory, empty_dir) == {b"A": b"short"}


def test_empty_env_reads_back_empty(tmp_path: Path) -> None:
    assert round_trip(tmp_path, {}) == {}


@pytest.mark.parametrize(
    "name",
    [
        b"a/b",
        b"../ESCAPE",
        b"/abs",
        b"sub/",
        b".hidden",
        b".",
        b"..",
        b".empty",
        b"A=B",
        b"=x",
        b"",
        b"X\0Y",
    ],
)
def test_unstorable_name_is_skipped(tmp_path: Path, name: bytes) -> None:
    directory, empty_dir = dirs(tmp_path)
    env = {b"BEFORE": b"1", name: b"value", b"AFTER": b""}
    assert envdir.write(env, str(directory), str(empty_dir)) == [name]
    assert tree(tmp_path) == {"envs", "envs/BEFORE", "envs/.empty", "envs/.empty/AFTER"}
    assert read_back(directory, empty_dir) == {b"BEFORE": b"1", b"AFTER": b""}


def test_skipped_names_are_all_returned_in_order(tmp_path: Path) -> None:
    directory, empty_dir = dirs(tmp_path)
    env = {b"../up": b"x", b"OK": b"1", b".dot": b"", b"A=B": b"y", b"x/y": b"", b"OK2": b""}
    assert envdir.write(env, str(directory), str(empty_dir)) == [b"../up", b".dot", b"A=B", b"x/y"]
    assert not (tmp_path / "up").exists()
    assert tree(tmp_path) == {"envs", "envs/OK", "envs/.empty", "envs/.empty/OK2"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (b"PATH", True),
        (b"my-var", True),
        (b"x.y", True),
        (b"", False),
        (b".x", False),
        (b"a/b", False),
        (b"a=b", False),
        (b"a\0b", False),
    ],
)
def test_storable(name: bytes, expected: bool) -> None:
    assert envdir.storable(name) is expected


def test_name_longer_than_name_max_is_skipped(tmp_path: Path) -> None:
    directory, empty_dir = dirs(tmp_path)
    long_name = b"A" * 300
    assert envdir.write({long_name: b"v", b"OK": b"1"}, str(directory), str(empty_dir)) == [long_name]
    assert read_back(directory, empty_dir) == {b"OK": b"1"}


# --- property -----------------------------------------------------------------

_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_REST = _FIRST + "0123456789"
names = st.builds(
    lambda first, rest: (first + rest).encode(),
    st.sampled_from(_FIRST),
    st.text(alphabet=_REST, max_size=15),
)
values = st.one_of(
    st.binary(max_size=64),
    st.binary(min_size=4000, max_size=5000),
    st.sampled_from([b"", b"\n", b" ", b"\t", b"x\n", b"x \t\n\n"]),
).map(lambda b: b.replace(b"\0", b"\x01"))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(names, values, max_size=12))
def test_any_environment_round_trips(env: dict[bytes, bytes]) -> None:
    with tempfile.TemporaryDirectory() as base:
        assert round_trip(Path(base), env) == env


def test_write_never_follows_a_link(tmp_path: Path) -> None:
    """SECURITY.md: root's writes never follow links (a variable's file, or the directory itself)."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"victim\n")
    d, e = tmp_path / "envs", tmp_path / "empty"
    d.mkdir()
    (d / "PATH").symlink_to(victim)
    with pytest.raises(OSError) as info:
        envdir.write({b"PATH": b"/evil"}, str(d), str(e))
    assert info.value.errno == errno.ELOOP
    (tmp_path / "linked").symlink_to(d)
    with pytest.raises(OSError) as info:
        envdir.write({b"A": b"1"}, str(tmp_path / "linked"), str(e))
    assert info.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert victim.read_bytes() == b"victim\n"
