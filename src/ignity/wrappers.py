"""The run and finish wrappers Ignity writes into a service's run-time copy (sh/finish.sh).

The author's `run` and `finish` move to NAME/.ignity/; small sh wrappers take their
place, for what s6 leaves to the author: clean restarts, health checks, restart
policies, essential services. They are sh, never Python: they run at every start and
death. The details are in docs/how-it-works.md ("Wrappers").
"""

from __future__ import annotations

import os
import stat

from ignity import restarts, svfile, templates, tools
from ignity.errors import IgnityError

# The directory inside a service's run-time copy that Ignity owns.
PRIVATE = ".ignity"
PGID = f"{PRIVATE}/pgid"
FAILED = f"{PRIVATE}/failed"
DONE = f"{PRIVATE}/done"
HELD = f"{PRIVATE}/held"
SHELL = "/bin/sh"


def ignity_command() -> str:
    """The `ignity` program the generated scripts call (the one installed beside /init)."""
    return tools.find("ignity")


SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh"})


def prologue(clean: bool, health_fd_close: str | None, waits: bool = False) -> list[str]:
    """The shell lines every start runs first (also inserted into an author's shell script).

    Not a template: they go into the author's own script, where a block of
    variables would be the author's too. `health_fd_close`: None without a health
    check, else the redirection that closes the service's notification fd for
    the loop. `waits`: the run waits out a restart delay longer than s6's pause.
    """
    lines = []
    if clean:
        lines.append(f"echo $$ > {PGID}")
    if waits:
        lines.append(restarts.prologue_line())
    if health_fd_close is not None:
        lines.append(f"{PRIVATE}/health-loop $$ {health_fd_close} &")
    return lines


def run_script(clean: bool, health_fd_close: str | None, waits: bool = False) -> str:
    """The run wrapper, for a `run` that is not a shell script."""
    lines = [f"#!{SHELL}", f"# Written by Ignity: the service's own run is {PRIVATE}/run."]
    lines += prologue(clean, health_fd_close, waits)
    lines.append(f'exec {PRIVATE}/run "$@"')
    return "\n".join(lines) + "\n"


def shell_script(path: str) -> bytes | None:
    """The content of `path` if it is a regular shell script, else None.

    A shell script gets the prologue's lines after its shebang: no extra exec at each start.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # a link, or unreadable: wrapped
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        content = f.read(1 << 20)
        if f.read(1):
            return None  # over 1 MiB: not a run script to rewrite
    if not content.startswith(b"#!"):
        return None
    words = content.split(b"\n", 1)[0][2:].split()
    if not any(os.path.basename(w).decode("utf-8", "replace") in SHELLS for w in words):
        return None
    return content


def finish_script(
    clean: bool, author_finish: bool, name: str, policy: restarts.Policy, essential: bool, tell: bool, job: bool = False
) -> str:
    """The finish wrapper: sh/finish.sh with this service's values."""
    values: dict[str, str | int] = {"clean": int(clean), "author": int(author_finish), "job": int(job)}
    values.update(restarts.filled(name, policy, essential, tell))
    values["ignity"] = ignity_command() if essential else "ignity"
    return templates.render("finish.sh", values)


def notification_fd(path: str) -> int | None:
    """The service's notification-fd number, or None (s6 ignores an invalid file too)."""
    try:
        with open(f"{path}/notification-fd") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def install(
    path: str,
    name: str,
    essential: bool,
    clean: bool,
    health_loop: str | None,
    policy: restarts.Policy | None = None,
    tell: bool = True,
) -> None:
    """Write the wrappers into the run-time copy at `path` (service `name`).

    `health_loop`: the health loop's script, or None. `policy`: its restart
    policy (default: restarts.read's with the default settings). Called once,
    by stage 2, before s6-svscan sees the service.
    """
    if policy is None:
        policy = restarts.read(path, name, "1000", "0", essential)
    private = f"{path}/{PRIVATE}"
    try:
        os.mkdir(private, 0o755)
    except FileExistsError:
        raise IgnityError(f"/etc/ignity/services/{name}/{PRIVATE}: a name Ignity reserves for itself") from None
    script = shell_script(f"{path}/run")
    if script is None:
        _move(path, "run")
    author_finish = os.path.lexists(f"{path}/finish")
    if author_finish:
        _move(path, "finish")
    close = None
    if health_loop is not None:
        _write(f"{private}/health-loop", health_loop)
        fd = notification_fd(path)
        close = f"{fd}>&-" if fd is not None and fd > 2 else ""
    if clean:
        _write(f"{path}/{PGID}", "", 0o644)
    _write(f"{path}/{FAILED}", "", 0o644)
    if policy.waits:
        _write(f"{path}/{restarts.WAIT}", restarts.wait_script())
    if script is None:
        _write(f"{path}/run", run_script(clean, close, policy.waits))
    else:
        lines = prologue(clean, close, policy.waits)
        if lines:
            first, _, rest = script.partition(b"\n")
            mode = stat.S_IMODE(os.stat(f"{path}/run").st_mode)
            os.unlink(f"{path}/run")
            text = first + b"\n" + "".join(f"{line}  # added by Ignity\n" for line in lines).encode() + rest
            _write_bytes(f"{path}/run", text, mode)
    job = os.path.lexists(f"{path}/schedule")  # a job: jobs.install turns its run into the job loop
    _write(f"{path}/finish", finish_script(clean, author_finish, name, policy, essential, tell, job))


def _move(path: str, name: str) -> None:
    """Move the author's `name` into PRIVATE; a relative link keeps pointing where it did."""
    source, target = f"{path}/{name}", f"{path}/{PRIVATE}/{name}"
    if os.path.islink(source) and not os.readlink(source).startswith("/"):
        os.symlink(f"../{os.readlink(source)}", target)
        os.unlink(source)
    else:
        os.rename(source, target)


def _write(path: str, text: str, mode: int = 0o755) -> None:
    _write_bytes(path, text.encode(), mode)


def _write_bytes(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def failed_permanently(path: str) -> bool:
    """Whether the service at `path` was given up on (its finish's 125, or its restart policy)."""
    return bool(failure(path))


def failure(path: str) -> str:
    """Why the service at `path` was given up on (.ignity/failed), or ""."""
    try:
        return svfile.read_text(f"{path}/{FAILED}", 200).strip()
    except OSError:
        return ""


def done(path: str) -> bool:
    """Whether the service at `path` ended for good under `restart on-failure` or `never` (.ignity/done)."""
    try:
        return os.path.getsize(f"{path}/{DONE}") > 0
    except OSError:
        return False


def held(path: str) -> bool:
    """Whether Ignity still holds the service down until its dependencies are up."""
    return os.path.exists(f"{path}/{HELD}")
