"""Write an /etc/ignity fixture the way an image author would."""

from __future__ import annotations

from pathlib import Path


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("envs", "perms", "init", "finalize", "services"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def _write(self, path: Path, text: str | bytes, mode: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        path.chmod(mode)
        return path

    def env(self, name: str, text: str | bytes) -> Path:
        return self._write(self.root / "envs" / name, text, 0o644)

    def init(self, name: str, body: str, shebang: str = "#!/bin/sh") -> Path:
        return self._write(self.root / "init" / name, f"{shebang}\n{body}\n", 0o755)

    def finalize(self, name: str, body: str, shebang: str = "#!/bin/sh") -> Path:
        return self._write(self.root / "finalize" / name, f"{shebang}\n{body}\n", 0o755)

    def service(self, name: str, run: str, shebang: str = "#!/bin/sh", **files: str) -> Path:
        d = self.root / "services" / name
        self._write(d / "run", f"{shebang}\n{run}\n", 0o755)
        for fname, content in files.items():
            fname = fname.replace("_", "-")
            mode = 0o755 if fname == "finish" else 0o644
            self._write(d / fname, content, mode)
        return d


def wait_up(*services: str, timeout_ms: int = 10000) -> str:
    """Shell: until SERVICES are up. s6-svwait needs a running s6-supervise to
    subscribe to, and the CMD may start before s6-svscan has spawned them (without
    IGNITY_CMD_WAIT_FOR_SERVICES): a bounded s6-svok poll first (hang guard 10 s)."""
    dirs = " ".join(f"/run/ignity/services-state/{s}" for s in services)
    return (
        f"for d in {dirs}; do for i in $(seq 1000); do s6-svok $d && break; sleep 0.01; done; done; "
        f"s6-svwait -u -t {timeout_ms} {dirs}"
    )
