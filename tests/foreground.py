"""A process in the foreground, its output collected line by line as it comes.

Shared by the PID 1 harness (an unshare'd /init) and the Podman suite (a
`podman run` attached): tests wait for what the process prints, an event,
with timeouts only as hang guards.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence


class Foreground:
    """stdout and stderr together, or a pseudo-terminal as stdin, stdout and stderr (tty=True)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], *, tty: bool = False, echo: bool = False) -> None:
        self.argv = list(argv)
        self.echo = echo
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._master = -1
        self.started = time.monotonic()
        if tty:
            import pty

            self._master, slave = pty.openpty()
            self.proc = subprocess.Popen(
                self.argv, stdin=slave, stdout=slave, stderr=slave, env=dict(env), start_new_session=True
            )
            os.close(slave)
            stream: object = os.fdopen(self._master, "rb", buffering=0)
        else:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env)
            )
            assert self.proc.stdout is not None
            stream = self.proc.stdout
        self._thread = threading.Thread(target=self._collect, args=(stream,), daemon=True)
        self._thread.start()

    def _collect(self, stream: object) -> None:
        buf = b""
        while True:
            try:
                chunk: bytes = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)  # type: ignore[attr-defined]
            except OSError:  # the pty's other side closed (EIO)
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            if self.echo and complete:
                os.write(1, b"".join(line.rstrip(b"\r") + b"\n" for line in complete))
            with self._cond:
                self._lines.extend(line.decode("utf-8", "replace").rstrip("\r") for line in complete)
                self._cond.notify_all()
        with self._cond:
            if buf:
                self._lines.append(buf.decode("utf-8", "replace").rstrip("\r"))
            self._closed = True
            self._cond.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_count(self, text: str, count: int = 1, timeout: float = 20) -> float:
        """Block until `count` lines containing `text` are printed; seconds since start."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while sum(text in line for line in self._lines) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    why = "the output ended" if self._closed else f"not within {timeout} s"
                    shown = "\n".join(self._lines[-80:])
                    raise AssertionError(f"{count} x {text!r} never printed ({why}); output:\n{shown}")
                self._cond.wait(remaining)
        return time.monotonic() - self.started

    def wait_for(self, text: str, timeout: float = 20) -> float:
        """Block until a line containing `text` is printed; seconds since start."""
        return self.wait_for_count(text, 1, timeout)

    def write(self, data: bytes) -> None:
        """Type into the terminal (tty=True only)."""
        assert self._master >= 0, "not started with a terminal"
        os.write(self._master, data)

    def exited(self, timeout: float) -> int | None:
        """The exit status, or None if still running after `timeout` s.

        Waits on a pidfd: Popen.wait(timeout) polls with sleeps of up to 50 ms,
        which would blur every timing taken here.
        """
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            ready = select.select([pidfd], [], [], timeout)[0]
        finally:
            os.close(pidfd)
        if not ready:
            return None
        code = self.proc.wait()
        self._thread.join(10)
        return code
