"""Service output on the container's stdout/stderr: raw, prefixed (`NAME | line`) or json.

For prefixed and json, stage 2 gives a service without its own `log/` a generated one:
s6-log splits the lines and sh/format.awk writes each with one write(2) under PIPE_BUF,
so lines of two services never mix. stderr stays apart through a fifo, log/stderr.
Why s6-log and awk, the ring, the stop: docs/how-it-works.md ("Service output").
"""

from __future__ import annotations

import os

from ignity import jsonout, paths, templates, tools
from ignity.config import OUTPUT_MODES
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from ignity.services import Service

MODE_FILE = "output-mode"
# Longer lines are cut by s6-log (and then each piece by the formatter, with "partial" in json).
LINE_LIMIT = 1024 * 1024
# These names are also written in sh/output-run.sh and sh/log-run.sh.
USER_RUN = "run.user"
STDERR_FIFO = "stderr"
# Under log/: the ring `ignity logs` reads, one s6-log logdir a stream.
RING = "ring"
STREAMS = ("stdout", "stderr")
# Under log/: the pid of the stderr reader loop, for end_stderr_reader.
READER_PID = "stderr-reader.pid"
# s6-log's smallest rotation size.
MIN_ROTATE = 4096

# Separators of prefixed mode: stdout and stderr lines (stderr also goes to the container's stderr).
SEPARATOR = {"stdout": "|", "stderr": "!"}


def read_mode(path: str, shown: str) -> str | None:
    """The mode in a service's output-mode file, None without one; errors name `shown`."""
    try:
        with open(path, "rb") as f:
            data = f.read(64)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise IgnityError(f"{shown}: is a directory, expected one line: raw, prefixed or json") from None
    except OSError as e:
        raise IgnityError(f"{shown}: cannot read: {e.strerror}") from None
    word = data[:-1] if data.endswith(b"\n") else data
    text = word.decode("ascii", "replace")
    if text not in OUTPUT_MODES:
        got = repr(text if len(text) <= 20 else text[:20] + "...")
        raise IgnityError(f"{shown}: {got}: expected one line: raw, prefixed or json")
    return text


def modes(found: list[Service], default: str) -> dict[str, str]:
    """Each service's mode: its output-mode file, else `default`; "own" when it has its own log/."""
    result = {}
    for service in found:
        chosen = read_mode(f"{service.path}/{MODE_FILE}", f"{paths.ETC}/services/{service.name}/{MODE_FILE}")
        has_log = os.path.lexists(f"{service.path}/log")
        result[service.name] = "own" if has_log else (chosen or default)
    return result


def setup(found: list[Service], default: str, ring_bytes: int = 0, width_of: list[Service] | None = None) -> None:
    """Give every service whose mode is prefixed or json its generated log/ (stage 2, before the scan).

    Every output-mode file is read before anything is written: a bad one
    changes nothing. `ring_bytes`: IGNITY_SERVICES_LOG_BYTES. `width_of`: the
    services whose names pad the prefixes (default: `found`; a reload passes
    them all).
    """
    chosen = modes(found, default)
    formatted = [s for s in found if chosen[s.name] in ("prefixed", "json")]
    if not formatted:
        return
    awk = _find_awk()
    padded = formatted if width_of is None else width_of
    widths = modes(padded, default) if width_of is not None else chosen
    width = max((len(s.name) for s in padded if widths[s.name] == "prefixed"), default=0)
    for service in formatted:
        generate(service.path, service.name, chosen[service.name], width, awk, ring_bytes)


def _find_awk() -> str:
    """The image's awk, as a command line: mawk needs -W interactive, or it reads until 4 KiB have come."""
    try:
        awk = tools.find("awk")
    except IgnityError:
        raise IgnityError(
            "awk not found: IGNITY_SERVICES_OUTPUT and output-mode files need it "
            "(Debian: mawk, in every image; Alpine: busybox)"
        ) from None
    return f"{awk} -W interactive" if "mawk" in os.path.basename(os.path.realpath(awk)) else awk


def generate(path: str, name: str, mode: str, width: int, awk: str, ring_bytes: int = 0) -> None:
    """Turn the service directory `path` into one whose output goes through a generated log/."""
    log_dir = f"{path}/log"
    if os.path.lexists(f"{path}/{USER_RUN}"):
        raise IgnityError(f"{paths.ETC}/services/{name}/{USER_RUN}: a file Ignity needs for output mode {mode}")
    os.mkdir(log_dir, 0o755)
    _write(f"{log_dir}/format.awk", templates.read("format.awk"), 0o644)
    os.mkfifo(f"{log_dir}/{STDERR_FIFO}", 0o600)
    if ring_bytes:
        os.mkdir(f"{log_dir}/{RING}", 0o700)
    _write(f"{log_dir}/run", logger_script(name, mode, width, awk, ring_bytes), 0o755)
    os.rename(f"{path}/run", f"{path}/{USER_RUN}")
    _write(f"{path}/run", templates.read("output-run.sh"), 0o755)


def logger_script(name: str, mode: str, width: int, awk: str, ring_bytes: int = 0) -> str:
    """log/run: sh/log-run.sh with this service's prefixes and the programs' paths.

    `awk`: _find_awk's command line. Each stream's s6-log writes its ring too,
    `T`-stamped (UTC: the logger runs with TZ=UTC0), so that `ignity logs` can
    merge the two streams in order.
    """
    awk_path, _, options = awk.partition(" ")
    values: dict[str, str | int] = {"mode": mode}
    for stream in STREAMS:
        short = "out" if stream == "stdout" else "err"
        values[f"prefix_{short}"] = f"{name.ljust(width)} {SEPARATOR[stream]} "
        values[f"head_{short}"] = f'{jsonout.string("service")}: {jsonout.string(name)}, "stream": "{stream}"'
    values.update(
        pipeline=tools.find("pipeline"),
        s6log=tools.find("s6-log"),
        line_limit=LINE_LIMIT,
        ring=max(MIN_ROTATE, ring_bytes // 2) if ring_bytes else 0,
        awk=awk_path,
        interactive=int(options == "-W interactive"),
    )
    return templates.render("log-run.sh", values)


def end_stderr_reader(log_dir: str) -> None:
    """End the stderr reader loop of a logger that is gone for good (`ignity reload`).

    Once its service is down, the loop waits in the fifo's open for a next
    instance that will never come. The loop's shell (its pid in READER_PID,
    checked by its working directory) is sent SIGTERM, then the fifo is opened
    for writing and closed at once: a reader blocked in its open gets end of
    file and exits, and no loop is left to open it again. A reader still
    draining keeps reading until its end of file, as at a stop.
    """
    import signal

    try:
        fd = os.open(f"{log_dir}/{READER_PID}", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        if text.isdigit() and os.readlink(f"/proc/{text}/cwd") == os.path.realpath(log_dir):
            os.kill(int(text), signal.SIGTERM)
    except OSError:
        pass
    try:
        fifo = os.open(f"{log_dir}/{STDERR_FIFO}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        os.close(fifo)
    except OSError:
        pass  # ENXIO: no reader waits in the open


def _write(path: str, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
