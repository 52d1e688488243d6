"""config (SPEC.md "Variables"), plus the small parsers status.normalise and with-retries."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import config, status  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402
from ignity.helpers import with_retries  # noqa: E402

MS_MAX = 2**31 - 1

# The defaults of SPEC.md "Variables" (IGNITY_VERBOSITY is Ignity's own, default 1).
SPEC_DEFAULTS = {
    "IGNITY_CMD_FORWARD_SIGNALS": 1,
    "IGNITY_CMD_RECEIVE_SIGNALS": 0,
    "IGNITY_CMD_WAIT_FOR_SERVICES": 0,
    "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": 5000,
    "IGNITY_KILL_FINALIZE_MAXTIME": 5000,
    "IGNITY_SERVICES_GRACETIME": 5000,
    "IGNITY_KILL_GRACETIME": 3000,
    "IGNITY_SKIP_PERMS": 0,
    "IGNITY_SYNC_DISKS": 0,
    "IGNITY_VERBOSITY": 1,
    "IGNITY_SERVICES_OUTPUT": "raw",
    "IGNITY_SERVICES_RESTART_DELAY": "1000",
    "IGNITY_SERVICES_RESTART_LIMIT": "0",
    "IGNITY_SERVICES_LOG_BYTES": 65536,
}
MS_VARS = [
    "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME",
    "IGNITY_KILL_FINALIZE_MAXTIME",
    "IGNITY_SERVICES_GRACETIME",
    "IGNITY_KILL_GRACETIME",
]
BOOL_VARS = [
    "IGNITY_CMD_FORWARD_SIGNALS",
    "IGNITY_CMD_RECEIVE_SIGNALS",
    "IGNITY_CMD_WAIT_FOR_SERVICES",
    "IGNITY_SKIP_PERMS",
    "IGNITY_SYNC_DISKS",
]
ALL_VARS = [*BOOL_VARS, *MS_VARS, "IGNITY_VERBOSITY"]


def attr(name: str) -> str:
    return name[len("IGNITY_") :].lower()


def error_for(name: str, raw: str) -> str:
    with pytest.raises(IgnityError) as info:
        config.from_env({name: raw})
    return str(info.value)


# --- from_env -----------------------------------------------------------------


def test_known_variables_are_exactly_the_spec_ones() -> None:
    assert {name: default for name, (default, _) in config.KNOWN.items()} == SPEC_DEFAULTS
    assert sorted(attr(n) for n in SPEC_DEFAULTS) == sorted(config.Config.__slots__)


def test_defaults_when_unset() -> None:
    settings_ = config.from_env({})
    for name, default in SPEC_DEFAULTS.items():
        assert getattr(settings_, attr(name)) == default, name
    assert settings_ == config.Config()


def test_unknown_and_unrelated_variables_are_ignored() -> None:
    env = {
        "IGNITY_UNKNOWN": "garbage",
        "PATH": "/bin",
        "KILL_GRACETIME": "x",
        "ignity_kill_gracetime": "7",
    }
    assert config.from_env(env) == config.Config()


@pytest.mark.parametrize("name", MS_VARS)
@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("1", 1), ("250", 250), ("007", 7), (str(MS_MAX), MS_MAX)])
def test_valid_milliseconds(name: str, raw: str, expected: int) -> None:
    got = config.from_env({name: raw})
    assert getattr(got, attr(name)) == expected
    # Nothing else changes.
    others = {f: getattr(got, f) for f in got.__slots__ if f != attr(name)}
    assert others == {f: getattr(config.Config(), f) for f in got.__slots__ if f != attr(name)}


@pytest.mark.parametrize("name", ALL_VARS)
@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "five",
        "5s",
        "5 ms",
        "1.5",
        "1.0",
        ".5",
        "-1",
        "-0",
        "+5",
        "1e3",
        "0x10",
        "1_000",
        "1,000",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: isdigit() but not ASCII
        "½",
        "²",
        "true",
        "on",
        "\u0000",
    ],
)
def test_invalid_value_names_variable_and_value(name: str, raw: str) -> None:
    message = error_for(name, raw)
    assert name in message
    assert repr(raw) in message


@pytest.mark.parametrize("name", MS_VARS)
@pytest.mark.parametrize("raw", [str(MS_MAX + 1), str(2**32), "99999999999999999999999"])
def test_too_large_milliseconds(name: str, raw: str) -> None:
    message = error_for(name, raw)
    assert name in message
    assert raw in message


@pytest.mark.parametrize("name", BOOL_VARS)
@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("1", 1)])
def test_booleans_accept_0_and_1(name: str, raw: str, expected: int) -> None:
    assert getattr(config.from_env({name: raw}), attr(name)) == expected


@pytest.mark.parametrize("name", BOOL_VARS)
@pytest.mark.parametrize("raw", ["2", "10", "11", "01x", "yes", "no", "true", "false", "-1", "99999999999"])
def test_booleans_reject_anything_else(name: str, raw: str) -> None:
    message = error_for(name, raw)
    assert name in message
    assert repr(raw) in message
    assert "0 or 1" in message


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("1", 1), ("2", 2)])
def test_verbosity_levels(raw: str, expected: int) -> None:
    assert config.from_env({"IGNITY_VERBOSITY": raw}).verbosity == expected


@pytest.mark.parametrize("raw", ["3", "9", "100", "-1", "debug"])
def test_verbosity_out_of_range(raw: str) -> None:
    message = error_for("IGNITY_VERBOSITY", raw)
    assert "IGNITY_VERBOSITY" in message
    assert repr(raw) in message


def test_first_bad_variable_is_the_one_reported() -> None:
    env = {"IGNITY_KILL_GRACETIME": "3000", "IGNITY_SERVICES_GRACETIME": "soon"}
    with pytest.raises(IgnityError) as info:
        config.from_env(env)
    message = str(info.value)
    assert "IGNITY_SERVICES_GRACETIME" in message
    assert "'soon'" in message
    assert "IGNITY_KILL_GRACETIME" not in message


@pytest.mark.parametrize("raw", ["1" * 5000, "9" * 11])
def test_huge_digit_string_is_an_ignity_error(raw: str) -> None:
    message = error_for("IGNITY_KILL_GRACETIME", raw)
    assert "IGNITY_KILL_GRACETIME" in message


def test_many_leading_zeros_are_still_a_number() -> None:
    assert config.from_env({"IGNITY_KILL_GRACETIME": "0" * 5000 + "7"}).kill_gracetime == 7


@given(st.sampled_from(MS_VARS), st.integers(min_value=0, max_value=MS_MAX))
def test_any_valid_millisecond_value_is_read(name: str, value: int) -> None:
    assert getattr(config.from_env({name: str(value)}), attr(name)) == value


@given(st.sampled_from(MS_VARS), st.integers(min_value=MS_MAX + 1, max_value=10**30))
def test_any_too_large_millisecond_value_is_rejected(name: str, value: int) -> None:
    message = error_for(name, str(value))
    assert name in message
    assert str(value) in message


@given(st.sampled_from(ALL_VARS), st.text(max_size=30))
def test_arbitrary_text_is_a_value_or_an_ignity_error(name: str, raw: str) -> None:
    kind = config.KNOWN[name][1]
    upper = {"ms": MS_MAX, "bool": 1, "level": 2}[kind]
    text = raw.strip()
    try:
        got = getattr(config.from_env({name: raw}), attr(name))
    except IgnityError as e:
        assert name in str(e)
        assert repr(raw) in str(e)
        assert not (text.isascii() and text.isdigit() and int(text) <= upper)
        return
    if raw == "":
        assert got == config.KNOWN[name][0]
    else:
        assert text.isascii() and text.isdigit()
        assert got == int(text)
        assert 0 <= got <= upper


@pytest.mark.parametrize("raw", ["raw", "prefixed", "json"])
def test_services_output_modes(raw: str) -> None:
    assert config.from_env({"IGNITY_SERVICES_OUTPUT": raw}).services_output == raw


def test_services_output_empty_is_the_default() -> None:
    assert config.from_env({"IGNITY_SERVICES_OUTPUT": ""}).services_output == "raw"


@pytest.mark.parametrize("raw", ["Raw", "JSON", " json", "json ", "prefix", "text", "0", "1", "json\n", "none"])
def test_services_output_rejects_anything_else(raw: str) -> None:
    message = error_for("IGNITY_SERVICES_OUTPUT", raw)
    assert message == f"IGNITY_SERVICES_OUTPUT={raw!r}: not a valid value, expected raw, prefixed or json"


@given(st.text(max_size=12))
def test_services_output_is_one_of_the_modes_or_an_ignity_error(raw: str) -> None:
    try:
        got = config.from_env({"IGNITY_SERVICES_OUTPUT": raw}).services_output
    except IgnityError as e:
        assert "IGNITY_SERVICES_OUTPUT" in str(e) and raw not in config.OUTPUT_MODES
        return
    assert got == (raw or "raw") and got in config.OUTPUT_MODES


# --- dump / load --------------------------------------------------------------


def test_dump_format() -> None:
    assert config.Config().dump() == (
        "IGNITY_CMD_FORWARD_SIGNALS=1\n"
        "IGNITY_CMD_RECEIVE_SIGNALS=0\n"
        "IGNITY_CMD_WAIT_FOR_SERVICES=0\n"
        "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME=5000\n"
        "IGNITY_KILL_FINALIZE_MAXTIME=5000\n"
        "IGNITY_SERVICES_GRACETIME=5000\n"
        "IGNITY_KILL_GRACETIME=3000\n"
        "IGNITY_SKIP_PERMS=0\n"
        "IGNITY_SYNC_DISKS=0\n"
        "IGNITY_VERBOSITY=1\n"
        "IGNITY_SERVICES_OUTPUT=raw\n"
        "IGNITY_SERVICES_RESTART_DELAY=1000\n"
        "IGNITY_SERVICES_RESTART_LIMIT=0\n"
        "IGNITY_SERVICES_LOG_BYTES=65536\n"
    )


def test_dump_then_load(tmp_path: Path) -> None:
    original = config.Config(
        cmd_wait_for_services=1,
        cmd_wait_for_services_maxtime=0,
        kill_finalize_maxtime=MS_MAX,
        services_gracetime=1,
        kill_gracetime=12345,
        skip_perms=1,
        sync_disks=1,
        verbosity=2,
        services_output="json",
    )
    path = tmp_path / "config"
    path.write_text(original.dump(), encoding="utf-8")
    assert config.load(str(path)) == original


def test_load_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert config.load(str(tmp_path / "missing")) == config.Config()


def test_load_reports_a_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("IGNITY_KILL_GRACETIME=oops\n", encoding="utf-8")
    with pytest.raises(IgnityError, match="IGNITY_KILL_GRACETIME='oops'"):
        config.load(str(path))


configs = st.builds(
    config.Config,
    cmd_wait_for_services=st.integers(0, 1),
    cmd_wait_for_services_maxtime=st.integers(0, MS_MAX),
    kill_finalize_maxtime=st.integers(0, MS_MAX),
    services_gracetime=st.integers(0, MS_MAX),
    kill_gracetime=st.integers(0, MS_MAX),
    skip_perms=st.integers(0, 1),
    sync_disks=st.integers(0, 1),
    verbosity=st.integers(0, 2),
    services_output=st.sampled_from(config.OUTPUT_MODES),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs)
def test_any_config_survives_dump_then_load(tmp_path: Path, original: config.Config) -> None:
    path = tmp_path / "config"
    path.write_text(original.dump(), encoding="utf-8")
    assert config.load(str(path)) == original


# --- status.normalise ---------------------------------------------------------


def test_normalise_table() -> None:
    expected = {}
    for raw in range(256):
        expected[raw] = raw  # an exit status, as given
    for n in range(256):
        # Killed by signal n: 128+n like a shell. Real signal numbers stop at 64;
        # past n=127 the result must still be a byte, so it wraps.
        expected[256 + n] = (128 + n) % 256
    actual = {raw: status.normalise(raw) for raw in range(512)}
    assert actual == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(0, 0), (1, 1), (2, 2), (127, 127), (128, 128), (137, 137), (255, 255)],
        *[(256, 128), (257, 129), (256 + 2, 130), (256 + 9, 137), (256 + 15, 143)],
        *[(256 + 64, 192), (256 + 127, 255)],
    ],
)
def test_normalise_examples(raw: int, expected: int) -> None:
    assert status.normalise(raw) == expected


def test_the_latch_is_taken_once_and_says_why(tmp_path: Path) -> None:
    path = str(tmp_path / "stopping")
    assert status.reason(path) == ("", 0, frozenset())
    assert not status.stopping(path)
    assert status.latch("halt 3", path) is True
    assert status.latch("signal 15", path) is False
    assert status.stopping(path)
    assert status.reason(path) == ("halt", 3, frozenset())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("signal 15 cmd", ("signal", 15, {"cmd"})),
        ("signal 2", ("signal", 2, set())),
        ("halt 3 cmd", ("halt", 3, set())),  # only the signal handler tells anything
        ("signal 15 services cmd", ("signal", 15, {"cmd"})),
    ],
)
def test_the_latch_says_what_the_signal_handler_told_to_stop(tmp_path: Path, text: str, expected: tuple) -> None:
    path = str(tmp_path / "stopping")
    assert status.latch(text, path)
    assert status.reason(path) == expected


def test_the_latch_never_follows_a_link(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0::/root:/bin/sh\n")
    link = tmp_path / "stopping"
    link.symlink_to(target)
    assert status.latch("signal 15", str(link)) is False
    assert target.read_text() == "root:x:0:0::/root:/bin/sh\n"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    assert status.latch("signal 15", str(dangling)) is False
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("word", "number", "cmd_status", "cmd_ran", "expected"),
    [
        ("setup", 1, None, False, 1),
        ("init", 3, 143, True, 3),
        ("halt", 4, 143, True, 4),
        ("signal", 15, 143, True, 143),
        ("signal", 15, 0, True, 0),
        ("signal", 15, None, True, 137),
        ("signal", 15, None, False, 0),
        ("cmd", 0, 7, True, 7),
        ("scan", 0, 143, True, 0),
        ("scan", 0, None, False, 0),
        ("crash", 0, None, False, 111),
        ("", 0, 5, True, 0),
    ],
)
def test_final_status_follows_from_why(
    word: str, number: int, cmd_status: int | None, cmd_ran: bool, expected: int
) -> None:
    assert status.final(word, number, cmd_status, cmd_ran) == expected


def test_normalise_raw_statuses() -> None:
    assert status.normalise(265) == 137
    assert status.normalise(3) == 3
    assert status.normalise(256 + 15) == 143


# --- with_retries.parse -------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["prog"], (3, 500, ["prog"])),
        (["prog", "-n", "5"], (3, 500, ["prog", "-n", "5"])),
        (["-n", "5", "prog"], (5, 500, ["prog"])),
        (["-t", "100", "prog", "a"], (3, 100, ["prog", "a"])),
        (["-n", "0", "-t", "0", "prog"], (0, 0, ["prog"])),
        (["-t", "7", "-n", "2", "prog"], (2, 7, ["prog"])),
        (["-n", "1", "-n", "4", "prog"], (4, 500, ["prog"])),
        (["--", "prog"], (3, 500, ["prog"])),
        (["--", "-n", "5"], (3, 500, ["-n", "5"])),
        (["-n", "2", "--", "-prog", "--"], (2, 500, ["-prog", "--"])),
        (["-", "x"], (3, 500, ["-", "x"])),
        (["-n", "007", "prog"], (7, 500, ["prog"])),
    ],
)
def test_with_retries_parse(argv: list[str], expected: tuple[int, int, list[str]]) -> None:
    assert with_retries.parse(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--"],
        ["-n", "3"],
        ["-t", "10"],
        ["-n", "3", "--"],
        ["-n"],
        ["-t"],
        ["-n", "x", "prog"],
        ["-n", "-1", "prog"],
        ["-n", "1.5", "prog"],
        ["-t", "", "prog"],
        ["-t", "ms", "prog"],
        ["-n5", "prog"],
        ["-x", "prog"],
        ["-nt", "1", "prog"],
        ["--n", "1", "prog"],
    ],
)
def test_with_retries_parse_rejects(argv: list[str]) -> None:
    with pytest.raises(ValueError, match="usage: with-retries"):
        with_retries.parse(argv)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("IGNITY_SERVICES_RESTART_DELAY", "500", "500"),
        ("IGNITY_SERVICES_RESTART_DELAY", "500 500", "500"),
        ("IGNITY_SERVICES_RESTART_DELAY", " 1000   30000 ", "1000 30000"),
        ("IGNITY_SERVICES_RESTART_LIMIT", "5 60000", "5 60000"),
        ("IGNITY_SERVICES_RESTART_LIMIT", "0", "0"),
        ("IGNITY_SERVICES_RESTART_LIMIT", "5 5", "5 5"),
    ],
)
def test_restart_defaults_are_normalised(name: str, raw: str, expected: str) -> None:
    assert getattr(config.from_env({name: raw}), attr(name)) == expected


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("IGNITY_SERVICES_RESTART_DELAY", "1s", "'1s' is not a whole number of milliseconds"),
        ("IGNITY_SERVICES_RESTART_DELAY", "-5", "'-5' is not a whole number"),
        ("IGNITY_SERVICES_RESTART_DELAY", "3000 1000", "MAX_MS 1000 is less than FIRST_MS 3000"),
        ("IGNITY_SERVICES_RESTART_LIMIT", "5", "expected N WINDOW_MS"),
        ("IGNITY_SERVICES_RESTART_LIMIT", "5 0", "WINDOW_MS is 0"),
    ],
)
def test_restart_defaults_malformed_name_the_variable(name: str, raw: str, problem: str) -> None:
    with pytest.raises(IgnityError) as e:
        config.from_env({name: raw})
    assert str(e.value).startswith(f"{name}={raw!r}: ") and problem in str(e.value)


def test_dump_of_a_two_number_value_reads_back_and_sources_in_sh(tmp_path: Path) -> None:
    import subprocess

    settings_ = config.from_env({"IGNITY_SERVICES_RESTART_DELAY": "1000 30000"})
    (tmp_path / "config").write_text(settings_.dump())
    assert config.load(str(tmp_path / "config")) == settings_
    out = subprocess.run(
        ["sh", "-c", '. "$1" && echo "$IGNITY_SERVICES_RESTART_DELAY"', "sh", str(tmp_path / "config")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "1000 30000\n" and out.stderr == ""


def test_log_bytes_is_a_size() -> None:
    assert config.from_env({"IGNITY_SERVICES_LOG_BYTES": "0"}).services_log_bytes == 0
    assert config.from_env({"IGNITY_SERVICES_LOG_BYTES": "1048576"}).services_log_bytes == 1048576
    assert "expected a whole number of bytes" in error_for("IGNITY_SERVICES_LOG_BYTES", "64k")
    assert "too large" in error_for("IGNITY_SERVICES_LOG_BYTES", str(2**31))
