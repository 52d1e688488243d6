"""outputs: output-mode files, the generated log/, and the awk formatter on any bytes (mawk, busybox awk)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import outputs, templates, tools  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402
from ignity.services import Service  # noqa: E402

STAMP = b"2026-01-02 03:04:05.123456789  "  # what s6-log's T puts in front, with TZ=UTC0


# --- output-mode files --------------------------------------------------------


@pytest.mark.parametrize(("data", "mode"), [(b"raw", "raw"), (b"prefixed\n", "prefixed"), (b"json\n", "json")])
def test_read_mode(tmp_path: Path, data: bytes, mode: str) -> None:
    (tmp_path / "output-mode").write_bytes(data)
    assert outputs.read_mode(str(tmp_path / "output-mode"), "shown") == mode


def test_read_mode_missing_is_none(tmp_path: Path) -> None:
    assert outputs.read_mode(str(tmp_path / "output-mode"), "shown") is None


@pytest.mark.parametrize(
    ("data", "shown"),
    [(b"", "''"), (b"JSON\n", "'JSON'"), (b" json\n", "' json'"), (b"json\n\n", "'json\\n'"),
     (b"json\r\n", "'json\\r'"), (b"x" * 40, repr("x" * 20 + "..."))],
)  # fmt: skip
def test_read_mode_rejects(tmp_path: Path, data: bytes, shown: str) -> None:
    (tmp_path / "output-mode").write_bytes(data)
    with pytest.raises(IgnityError) as info:
        outputs.read_mode(str(tmp_path / "output-mode"), "/etc/ignity/services/web/output-mode")
    assert str(info.value) == f"/etc/ignity/services/web/output-mode: {shown}: expected one line: raw, prefixed or json"


def test_read_mode_directory(tmp_path: Path) -> None:
    (tmp_path / "output-mode").mkdir()
    with pytest.raises(IgnityError, match="shown: is a directory"):
        outputs.read_mode(str(tmp_path / "output-mode"), "shown")


@given(st.binary(max_size=20))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_read_mode_is_a_mode_or_an_error_naming_the_file(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "output-mode").write_bytes(data)
    try:
        mode = outputs.read_mode(str(tmp_path / "output-mode"), "the-file")
    except IgnityError as e:
        assert str(e).startswith("the-file: ")
        assert data.removesuffix(b"\n") not in (b"raw", b"prefixed", b"json")
        return
    assert data.removesuffix(b"\n").decode() == mode


# --- the generated service directory ------------------------------------------


def _service(tmp_path: Path, name: str, **files: str) -> Service:
    d = tmp_path / name
    d.mkdir()
    (d / "run").write_text("#!/bin/sh\nexec sleep 1\n")
    for fname, content in files.items():
        if fname == "log":
            (d / "log").mkdir()
        else:
            (d / fname.replace("_", "-")).write_text(content)
    return Service(name, str(d), False, False)


def test_modes_file_default_and_own_logger(tmp_path: Path) -> None:
    found = [
        _service(tmp_path, "a"),
        _service(tmp_path, "b", output_mode="raw\n"),
        _service(tmp_path, "c", output_mode="json"),
        _service(tmp_path, "d", log="", output_mode="json"),
    ]
    assert outputs.modes(found, "prefixed") == {"a": "prefixed", "b": "raw", "c": "json", "d": "own"}


def test_setup_generates_log_dirs_only_where_formatted(tmp_path: Path) -> None:
    found = [
        _service(tmp_path, "web"),
        _service(tmp_path, "database", output_mode="json"),
        _service(tmp_path, "raw1", output_mode="raw"),
    ]
    outputs.setup(found, "prefixed")
    web = tmp_path / "web"
    assert (web / "run.user").read_text() == "#!/bin/sh\nexec sleep 1\n"
    assert (web / "run").read_text() == templates.read("output-run.sh")
    assert stat.S_ISFIFO((web / "log" / "stderr").stat().st_mode)
    assert (web / "log" / "format.awk").read_text() == templates.read("format.awk")
    assert os.access(web / "log" / "run", os.X_OK)
    # Only prefixed services count for the width: "web" alone.
    assert "\nprefix_out='web | '\n" in (web / "log" / "run").read_text()
    assert "\nprefix_err='web ! '\n" in (web / "log" / "run").read_text()
    assert "\nmode=json\n" in (tmp_path / "database" / "log" / "run").read_text()
    assert not (tmp_path / "raw1" / "log").exists()
    assert (tmp_path / "raw1" / "run").read_text() == "#!/bin/sh\nexec sleep 1\n"


def test_setup_reads_every_mode_file_before_writing_anything(tmp_path: Path) -> None:
    found = [_service(tmp_path, "a"), _service(tmp_path, "b", output_mode="bogus")]
    with pytest.raises(IgnityError):
        outputs.setup(found, "json")
    assert not (tmp_path / "a" / "log").exists()


def test_generate_refuses_to_overwrite_run_user(tmp_path: Path) -> None:
    found = [_service(tmp_path, "a", run_user="mine")]
    (tmp_path / "a" / "run.user").write_text("mine")
    with pytest.raises(IgnityError, match=r"run\.user: a file Ignity needs"):
        outputs.setup(found, "json")


def test_names_with_quotes_are_quoted_for_the_shell(tmp_path: Path) -> None:
    found = [_service(tmp_path, "it's")]
    outputs.setup(found, "prefixed")
    text = (tmp_path / "it's" / "log" / "run").read_text()
    assert "prefix_out='it'\\''s | '" in text


# --- the formatter, run by the awks of this machine ---------------------------


def _awk(argv: list[str], name: str) -> object:
    return pytest.param(argv, id=name, marks=pytest.mark.skipif(not shutil.which(argv[0]), reason=f"no {name}"))


AWKS = [_awk(["mawk", "-W", "interactive"], "mawk"), _awk(["busybox", "awk"], "busybox")]


def run_awk(tmp_path: Path, awk: list[str], mode: str, lines: list[bytes], prefix: str = "web | ") -> list[bytes]:
    program = tmp_path / "format.awk"
    program.write_text(templates.read("format.awk"))
    data = b"".join((STAMP if mode == "json" else b"") + line + b"\n" for line in lines)
    env = {"LC_ALL": "C", "IGNITY_OUTPUT_MODE": mode, "IGNITY_OUTPUT_PREFIX": prefix,
           "IGNITY_OUTPUT_HEAD": '"service": "web", "stream": "stdout"'}  # fmt: skip
    done = subprocess.run([*awk, "-f", str(program)], input=data, capture_output=True, env=env, check=True)
    assert done.stdout.endswith(b"\n") or not lines
    out = done.stdout.split(b"\n")[:-1]
    assert all(len(line) + 1 <= 4000 for line in out)
    return out


def decode_json(out: list[bytes]) -> list[bytes]:
    messages, current = [], b""
    for raw in out:
        obj = json.loads(raw.decode("utf-8"))  # strict: the output is valid UTF-8 and valid JSON
        assert obj["time"] == "2026-01-02T03:04:05.123456789Z"
        assert (obj["service"], obj["stream"]) == ("web", "stdout")
        current += obj["message"].encode("latin-1" if obj.get("encoding") == "latin-1" else "utf-8")
        if not obj.get("partial"):
            messages.append(current)
            current = b""
    assert current == b""
    return messages


# Lines as awk gets them from s6-log: no newline, no NUL.
any_line = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"").replace(b"\0", b""))
text_line = st.text(max_size=300).map(lambda t: t.replace("\n", "").replace("\0", "").encode())
UNITS = [b"a", b'"', b"\\", b"\x1b", "\u00e9".encode(), "\u20ac".encode(), "\U0001f600".encode(), b"\xff"]
long_line = st.integers(3000, 30000).flatmap(lambda n: st.sampled_from(UNITS).map(lambda u: u * (n // len(u))))
line_lists = st.lists(st.one_of(any_line, text_line, long_line), min_size=1, max_size=8)


@pytest.mark.parametrize("awk", AWKS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=line_lists)
def test_json_is_valid_and_lossless_for_any_bytes(tmp_path: Path, awk: list[str], lines: list[bytes]) -> None:
    assert decode_json(run_awk(tmp_path, awk, "json", lines)) == lines


@pytest.mark.parametrize("awk", AWKS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=line_lists)
def test_prefixed_passes_every_byte_on(tmp_path: Path, awk: list[str], lines: list[bytes]) -> None:
    out = run_awk(tmp_path, awk, "prefixed", lines)
    assert all(line.startswith(b"web | ") for line in out)
    assert b"".join(line[len(b"web | ") :] for line in out) == b"".join(lines)
    assert len(out) >= len(lines)


@pytest.mark.parametrize("awk", AWKS)
def test_json_escapes(tmp_path: Path, awk: list[str]) -> None:
    out = run_awk(tmp_path, awk, "json", [b'say "hi" \\ \t\x1b[1m\x7f', "\u00e9t\u00e9".encode(), b"bad \xff\xc3\xa9"])
    assert [line.split(b'"message": ')[1] for line in out] == [
        b'"say \\"hi\\" \\\\ \\t\\u001b[1m\\u007f"}',
        '"\u00e9t\u00e9"}'.encode(),  # valid UTF-8 is kept as it is
        b'"bad \\u00ff\\u00c3\\u00a9", "encoding": "latin-1"}',  # a line that is not: every byte, as Latin-1
    ]


@pytest.mark.parametrize("awk", AWKS)
def test_a_long_line_is_cut_between_utf8_sequences(tmp_path: Path, awk: list[str]) -> None:
    line = "\u20ac".encode() * 5000
    out = run_awk(tmp_path, awk, "prefixed", [line])
    assert len(out) > 3
    for piece in out:
        piece[len(b"web | ") :].decode("utf-8")  # each piece is valid on its own


FAKE_PIPELINE = """#!/bin/sh
out=argv.out
[ "${IGNITY_OUTPUT_PREFIX#*!}" = "$IGNITY_OUTPUT_PREFIX" ] || out=argv.err
{
  for a; do printf '[%s]\\n' "$a"; done
  printf '%s\\n' "$IGNITY_OUTPUT_PREFIX|$IGNITY_OUTPUT_HEAD|$IGNITY_OUTPUT_MODE|$LC_ALL|$TZ"
} > "$out"
exit 1
"""


def run_logger(tmp_path: Path, log: Path) -> dict[str, list[str]]:
    """Run log/run with a `pipeline` that records its words and environment; both streams' records."""
    fake = tmp_path / "pipeline"
    fake.write_text(FAKE_PIPELINE)
    fake.chmod(0o755)
    run = (log / "run").read_text()
    assert f"\npipeline={tools.find('pipeline')}\n" in run
    (log / "run").write_text(run.replace(f"\npipeline={tools.find('pipeline')}\n", f"\npipeline={fake}\n"))
    (log / "stderr").unlink()
    (log / "stderr").write_text("")  # a file, not the fifo: the reader reads it at once
    # The reader loop holds stdout: run returns once both ran (the fake's exit 1 ends the loop).
    subprocess.run(["sh", "./run"], cwd=log, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    return {s: (log / f"argv.{s}").read_text().splitlines() for s in ("out", "err")}


def test_each_stream_runs_s6_log_then_the_formatter_with_its_ring(tmp_path: Path) -> None:
    found = [_service(tmp_path, "web"), _service(tmp_path, "db", output_mode="json")]
    outputs.setup(found, "prefixed", 65536)
    for name in ("web", "db"):
        ring = tmp_path / name / "log" / "ring"
        assert ring.is_dir() and stat.S_IMODE(ring.stat().st_mode) == 0o700
    s6log, awk = tools.find("s6-log"), outputs._find_awk().split()
    argv = run_logger(tmp_path, tmp_path / "db" / "log")
    for stream, short, protect, sep in (("stdout", "out", [], "|"), ("stderr", "err", ["[ -p]"], "!")):
        # The container's output is the `1` action's, first; the ring's directives follow.
        ring = ["[ n1]", "[ s32768]", "[ T]", f"[ ./ring/{stream}]"]
        words = [f"[ {s6log}]", "[ -l]", "[ 1048576]", *protect, "[ T]", "[ 1]", *ring, "[]"]
        env = f'db  {sep} |"service": "db", "stream": "{stream}"|json|C|UTC0'  # padded to the width of "web"
        assert argv[short] == [*words, *(f"[{w}]" for w in awk), "[-f]", "[format.awk]", env]


def test_no_ring_with_zero_bytes_and_a_floor_of_4096(tmp_path: Path) -> None:
    outputs.setup([_service(tmp_path, "a")], "prefixed", 0)
    assert not (tmp_path / "a" / "log" / "ring").exists()
    argv = run_logger(tmp_path, tmp_path / "a" / "log")
    assert not any("ring" in w or w == "[ n1]" for w in argv["out"] + argv["err"])
    assert argv["err"][:5] == [f"[ {tools.find('s6-log')}]", "[ -l]", "[ 1048576]", "[ -p]", "[ 1]"]
    assert argv["err"][-1] == 'a ! |"service": "a", "stream": "stderr"|prefixed|C|UTC0'
    outputs.setup([_service(tmp_path, "b")], "prefixed", 100)
    assert "\nring=4096\n" in (tmp_path / "b" / "log" / "run").read_text()


def test_width_of_all_services_for_a_reload(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    everyone = [_service(other, "database"), _service(other, "web")]
    outputs.setup([_service(tmp_path, "web")], "prefixed", 0, width_of=everyone)
    assert "\nprefix_out='web      | '\n" in (tmp_path / "web" / "log" / "run").read_text()
