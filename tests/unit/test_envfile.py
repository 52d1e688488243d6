"""envfile: the env file format of SPEC.md ("Env file format") and the merge order."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import envfile  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402

NAME_RE = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")

# --- strategies ---------------------------------------------------------------

_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_REST = _FIRST + "0123456789"

names = st.builds(
    lambda first, rest: (first + rest).encode(),
    st.sampled_from(_FIRST),
    st.text(alphabet=_REST, max_size=12),
)
# Any byte but newline and NUL; not starting with a blank (leading blanks after
# `=` are dropped by the format, so they cannot round-trip), not ending with CR
# (a CRLF line is an error).
values = (
    st.binary(max_size=40)
    .map(lambda b: b.replace(b"\n", b"").replace(b"\0", b""))
    .filter(lambda b: not b.startswith((b" ", b"\t")) and not b.endswith(b"\r"))
)
blanks = st.text(alphabet=" \t", max_size=3).map(str.encode)


def parse(text: bytes, source: str = "envs/10-test") -> dict[bytes, bytes]:
    return envfile.parse(text, source)


def parse_error(text: bytes, source: str = "envs/10-test") -> str:
    with pytest.raises(IgnityError) as info:
        envfile.parse(text, source)
    return str(info.value)


# --- parse: valid input -------------------------------------------------------


def test_simple_lines() -> None:
    assert parse(b"FOO=bar\nBAZ=qux\n_UNDER_9=x\n") == {
        b"FOO": b"bar",
        b"BAZ": b"qux",
        b"_UNDER_9": b"x",
    }


def test_empty_input_gives_nothing() -> None:
    assert parse(b"") == {}
    assert parse(b"\n\n\n") == {}


def test_last_line_without_newline() -> None:
    assert parse(b"A=1\nB=2") == {b"A": b"1", b"B": b"2"}


def test_comments_and_blank_lines_are_skipped() -> None:
    text = b"# a comment\n\n   \n\t\n  # indented comment\n\t#tab comment\n#X=1\nA=1\n \t \n"
    assert parse(text) == {b"A": b"1"}


def test_comment_line_may_hold_anything() -> None:
    # A comment is skipped whatever follows the `#`, even a malformed assignment.
    assert parse(b"# 1BAD NAME = ???\n#=\nOK=yes\n") == {b"OK": b"yes"}


def test_spaces_and_tabs_around_name_and_equals_are_dropped() -> None:
    text = b"  FOO=a\n\tBAR\t=b\n BAZ =  c\n\t QUX \t=\t d\nEND= \t e\n"
    assert parse(text) == {
        b"FOO": b"a",
        b"BAR": b"b",
        b"BAZ": b"c",
        b"QUX": b"d",
        b"END": b"e",
    }


@pytest.mark.parametrize(
    "value",
    [
        b'"double quoted"',
        b"'single quoted'",
        b'"unterminated',
        b"$HOME",
        b"${HOME:-x}",
        b"$(echo hi)",
        b"`echo hi`",
        b"a=b=c",
        b"=",
        b"==x==",
        b"trailing spaces   ",
        b"trailing tab\t",
        b"inner  \t  blanks",
        b"# not a comment",
        b"value # not a comment either",
        b"back\\slash\\n",
        b"caf\xc3\xa9 \xe2\x9c\x93",
        b"\xff\xfe\x80 not utf-8",
        b"",
    ],
)
def test_value_is_taken_literally(value: bytes) -> None:
    assert parse(b"NAME=" + value + b"\n") == {b"NAME": value}
    # Same with blanks around `=`: only the leading blanks of the value go.
    assert parse(b" NAME \t= \t" + value + b"\n") == {b"NAME": value}


def test_empty_values() -> None:
    assert parse(b"A=\nB =\nC= \t\n") == {b"A": b"", b"B": b"", b"C": b""}


@pytest.mark.parametrize("data", [b"A=1\r\nB=two words\r\n", b"A=1\n\r\n", b"A=x\r"])
def test_crlf_line_endings_are_an_error(data: bytes) -> None:
    with pytest.raises(IgnityError, match=r"^src:\d+: line ends with a carriage return"):
        parse(data, "src")


def test_cr_inside_a_value_is_kept() -> None:
    assert parse(b"A=x\ry\n") == {b"A": b"x\ry"}


def test_value_over_the_kernel_limit_is_an_error() -> None:
    with pytest.raises(IgnityError, match=r"^src:2: BIG is 140000 bytes long"):
        parse(b"A=1\nBIG=" + b"x" * 140000 + b"\n", "src")


def test_last_assignment_wins() -> None:
    assert parse(b"A=1\nB=x\nA=2\nA=3\n") == {b"A": b"3", b"B": b"x"}


def test_names_are_case_sensitive() -> None:
    assert parse(b"foo=1\nFOO=2\n") == {b"foo": b"1", b"FOO": b"2"}


# --- parse: errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"1FOO=x",
        b"9=x",
        b"FOO-BAR=x",
        b"FOO.BAR=x",
        b"FOO BAR=x",
        b"export FOO=x",
        b"=x",
        b"  =x",
        b"F\xc3\xa9=x",
        b"$FOO=x",
        b"FOO\r=x",
        b"FOO\x0b=x",
    ],
)
def test_invalid_name_is_an_error(line: bytes) -> None:
    message = parse_error(b"OK=1\n" + line + b"\n", source="envs/20-bad")
    assert message.startswith("envs/20-bad:2: ")
    assert "invalid variable name" in message


@pytest.mark.parametrize("line", [b"FOO", b"FOO bar", b"  just words  ", b"FOO:bar"])
def test_line_without_equals_is_an_error(line: bytes) -> None:
    message = parse_error(line + b"\n", source="/etc/ignity/envs/30-x")
    assert message.startswith("/etc/ignity/envs/30-x:1: ")
    assert "expected NAME=VALUE" in message


def test_error_names_source_and_line_number() -> None:
    text = b"# header\n\nA=1\n  # more\nB=2\nthis is wrong\nC=3\n"
    message = parse_error(text, source="some/file")
    assert message.startswith("some/file:6: ")
    assert "this is wrong" in message


def test_first_error_is_reported() -> None:
    message = parse_error(b"A=1\nbad one\nbad two\n", source="f")
    assert message.startswith("f:2: ")
    assert "bad one" in message


def test_nul_byte_is_an_error() -> None:
    message = parse_error(b"A=1\nB=x\0y\n", source="f")
    assert message.startswith("f:2: ")
    assert "NUL" in message


def test_long_bad_line_is_shortened_in_message() -> None:
    message = parse_error(b"x" * 500 + b"\n", source="f")
    assert message.startswith("f:1: ")
    assert len(message) < 200


# --- parse: properties --------------------------------------------------------


@given(st.lists(st.tuples(names, values), max_size=20))
def test_rendered_lines_parse_back(pairs: list[tuple[bytes, bytes]]) -> None:
    text = b"".join(name + b"=" + value + b"\n" for name, value in pairs)
    assert parse(text) == dict(pairs)  # dict(): the last of a repeated name wins


@given(st.dictionaries(names, values, max_size=20))
def test_rendered_dict_parses_back(env: dict[bytes, bytes]) -> None:
    text = b"".join(name + b"=" + value + b"\n" for name, value in env.items())
    assert parse(text) == env


@given(st.lists(st.tuples(blanks, names, blanks, blanks, values), max_size=10))
def test_blanks_around_name_and_equals_do_not_change_result(
    lines: list[tuple[bytes, bytes, bytes, bytes, bytes]],
) -> None:
    text = b"".join(a + n + b + b"=" + c + v + b"\n" for a, n, b, c, v in lines)
    assert parse(text) == {n: v for _, n, _, _, v in lines}


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_ignity_error(data: bytes) -> None:
    try:
        result = envfile.parse(data, "fuzz")
    except IgnityError as e:
        assert str(e).startswith("fuzz:")
        return
    for name, value in result.items():
        assert NAME_RE.match(name)
        assert b"\n" not in value
        assert b"\0" not in value


# --- read_file, env_files, merge ----------------------------------------------


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_read_file_errors_name_the_path(tmp_path: Path) -> None:
    path = write(tmp_path / "10-env", b"A=1\nnope\n")
    with pytest.raises(IgnityError, match=re.escape(f"{path}:2: ")):
        envfile.read_file(path)


def test_read_file_on_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IgnityError, match="is a directory"):
        envfile.read_file(str(tmp_path))


def test_read_file_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IgnityError, match="cannot read"):
        envfile.read_file(str(tmp_path / "missing"))


def test_env_files_in_byte_order_without_dot_files(tmp_path: Path) -> None:
    for name in ["20-b", "10-a", ".hidden", "9-x", "Z", "a", "10-A"]:
        (tmp_path / name).write_bytes(b"")
    found = [Path(p).name for p in envfile.env_files(str(tmp_path))]
    assert found == ["10-A", "10-a", "20-b", "9-x", "Z", "a"]


def test_env_files_missing_directory_is_empty(tmp_path: Path) -> None:
    assert envfile.env_files(str(tmp_path / "nope")) == []


def test_merge_later_files_override_earlier(tmp_path: Path) -> None:
    a = write(tmp_path / "10-a", b"A=from-a\nB=from-a\nC=from-a\n")
    b = write(tmp_path / "20-b", b"B=from-b\nC=from-b\n")
    c = write(tmp_path / "30-c", b"C=from-c\nD=from-c\n")
    assert envfile.merge([a, b, c], {}) == {
        b"A": b"from-a",
        b"B": b"from-b",
        b"C": b"from-c",
        b"D": b"from-c",
    }
    # The order given is the order applied, whatever the names.
    assert envfile.merge([c, b, a], {}) == {
        b"A": b"from-a",
        b"B": b"from-a",
        b"C": b"from-a",
        b"D": b"from-c",
    }


def test_merge_environ_overrides_every_file(tmp_path: Path) -> None:
    a = write(tmp_path / "10-a", b"A=file\nB=file\nEMPTY=file\n")
    b = write(tmp_path / "20-b", b"B=file2\n")
    environ = {b"B": b"env", b"EMPTY": b"", b"ONLY_ENV": b"x", b"weird-name": b"\xff"}
    assert envfile.merge([a, b], environ) == {
        b"A": b"file",
        b"B": b"env",
        b"EMPTY": b"",
        b"ONLY_ENV": b"x",
        b"weird-name": b"\xff",
    }


def test_merge_without_files_is_environ(tmp_path: Path) -> None:
    environ = {b"X": b"1"}
    merged = envfile.merge([], environ)
    assert merged == {b"X": b"1"}
    merged[b"Y"] = b"2"
    assert environ == {b"X": b"1"}  # the caller's mapping is not modified


def test_merge_stops_at_a_bad_file(tmp_path: Path) -> None:
    a = write(tmp_path / "10-a", b"A=1\n")
    bad = write(tmp_path / "20-bad", b"A=2\n\n1X=3\n")
    with pytest.raises(IgnityError, match=re.escape(f"{bad}:3: ")):
        envfile.merge([a, bad], {})


@settings(deadline=None)  # touches the filesystem: no timing assumption
@given(
    st.lists(st.dictionaries(names, values, max_size=5), max_size=5),
    st.dictionaries(names, values, max_size=5),
)
def test_merge_is_ordered_update(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[dict[bytes, bytes]],
    environ: dict[bytes, bytes],
) -> None:
    directory = tmp_path_factory.mktemp("merge")
    paths = []
    expected: dict[bytes, bytes] = {}
    for i, env in enumerate(files):
        text = b"".join(n + b"=" + v + b"\n" for n, v in env.items())
        paths.append(write(directory / f"{i:02d}", text))
        expected.update(env)
    expected.update(environ)
    assert envfile.merge(paths, environ) == expected
