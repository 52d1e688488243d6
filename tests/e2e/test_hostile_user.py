"""The hostile mapped user under Podman (issue #10; the PID 1 suite is tests/integration/test_hostile_user.py).

A root container with USER=app USERMAP_UID=1000 USERMAP_GID=1000. A service
lists /run/ignity as root, then as `app` tries to write, replace, rename,
chmod and link every path and to create files in every directory
(tests/hostile_attack.sh), restarts a root service so that root runs and
loads its files again, and the container is stopped with `podman stop`.
/out is a host directory: a payload run by root leaves /out/pwned-* there, a
write through one of app's links changes /out/victim.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

ATTACK = Path(__file__).resolve().parent.parent / "hostile_attack.sh"
MAPPED = ["-e", "USER=app", "-e", "USERMAP_UID=1000", "-e", "USERMAP_GID=1000"]
WITH_ENV = "#!/usr/bin/with-env sh"
SCAN = "/run/ignity/services-state"
VICTIM = b"victim\n"
# A root-owned tmpfs (main's images have no /run/ignity: stage 0 does not create it, see the report).
RUN_TMPFS = ["--tmpfs", "/run/ignity:rw,exec,mode=0755"]
FTRIG_NAME = "ftrig1:@400000006b0f4f0a2b860df3:hostil"  # the shape of a subscriber's fifo in event/


def _wait_supervised(service: str) -> str:
    """Shell: until SERVICE is supervised and up (hang guard 10 s), as in tests/tree.py."""
    d = f"{SCAN}/{service}"
    return f"for i in $(seq 1000); do s6-svok {d} && break; sleep 0.01; done; s6-svwait -u -t 5000 {d}"


def _out(hostdir: Path) -> list[str]:
    os.chmod(hostdir, 0o755)
    shutil.copy2(ATTACK, hostdir / "attack.sh")
    (hostdir / "victim").write_bytes(VICTIM)
    os.chmod(hostdir / "victim", 0o600)
    return ["-v", f"{hostdir}:/out"]


def test_mapped_user_cannot_make_root_run_or_write_anything_then_podman_stop(
    images: Images, run: Callable[..., Attached], tree: Tree, hostdir: Path
):
    tree.env("10-secret", "SECRET=hunter2\n")
    tree.service(
        "rootsvc",
        "echo rootsvc-up-as-$(id -u); exec sleep 1000",
        shebang=WITH_ENV,
        finish=f"{WITH_ENV}\necho rootsvc-finish-as-$(id -u)\n",
    )
    tree.service(
        "attacker",
        "[ -e /tmp/attacked ] && exec s6-setuidgid app sleep 1000\n"
        f"{_wait_supervised('rootsvc')} || exit 9\n"
        "sha256sum /etc/passwd /etc/shadow | sed 's/^/HASH-START /'\n"
        "s6-setuidgid app with-env sh -c 'echo WITH-ENV-AS-$(id -u) SECRET=$SECRET'\n"
        "find /run/ignity >/tmp/paths && chmod 0644 /tmp/paths\n"
        "s6-setuidgid app sh /out/attack.sh e2e /tmp/paths 2>/dev/null\n"
        ": >/tmp/attacked\n"
        f"s6-svlisten1 -r -t 5000 {SCAN}/rootsvc s6-svc -r {SCAN}/rootsvc || echo restart-failed\n"
        "echo attacked\n"
        "exec s6-setuidgid app sleep 1000",
        shebang=WITH_ENV,
    )
    tree.finalize(
        "10-fin",
        "echo finalize-as-$(id -u); sha256sum /etc/passwd /etc/shadow | sed 's/^/HASH-END /'",
        shebang=WITH_ENV,
    )
    c = run(images.build(tree.root), options=[*MAPPED, *RUN_TMPFS, *_out(hostdir)])
    c.wait_for("attacked", timeout=120)
    c.stop(grace=10)
    assert c.wait() == 0, c.output
    lines = c.lines
    assert not [x for x in lines if x.startswith("HOSTILE-OK")], c.output
    done = [x.split()[1:] for x in lines if x.startswith("HOSTILE-DONE ")]
    assert len(done) == 1 and done[0][0] == "0" and int(done[0][1]) > 30, c.output
    assert sorted(p.name for p in hostdir.iterdir() if p.name.startswith("pwned-")) == []
    st = (hostdir / "victim").lstat()
    assert ((hostdir / "victim").read_bytes(), st.st_uid, st.st_mode & 0o7777) == (VICTIM, 0, 0o600)
    start = [x.split()[1:] for x in lines if x.startswith("HASH-START ")]
    end = [x.split()[1:] for x in lines if x.startswith("HASH-END ")]
    assert len(start) == 2 and start == end, c.output
    assert not [x for x in lines if "LD_PRELOAD" in x or x.startswith("restart-failed")], c.output
    # Legitimate use: the environment as app, root's service run again, everything's finish as root.
    assert "WITH-ENV-AS-1000 SECRET=hunter2" in lines
    assert lines.count("rootsvc-up-as-0") == 2, c.output
    assert "rootsvc-finish-as-0" in lines and "finalize-as-0" in lines


def test_podman_exec_as_gid_0_cannot_make_the_supervisor_write_through_an_event_link(
    images: Images, run: Callable[..., Attached], tree: Tree, hostdir: Path
):
    tree.service("svc", "echo svc-up; exec sleep 1000")
    c = run(images.build(tree.root), options=[*RUN_TMPFS, *_out(hostdir)])
    c.wait_for("svc-up")
    # event/ is root's alone (0700): a gid-0 process cannot put a link in it.
    planted = c.exec("ln", "-s", "/out/victim", f"{SCAN}/svc/event/{FTRIG_NAME}", options=["-u", "1234:0"])
    assert planted.returncode != 0 and "Permission denied" in planted.stderr, planted.stdout + planted.stderr
    c.exec("s6-svlisten1", "-r", "-t", "5000", f"{SCAN}/svc", "s6-svc", "-r", f"{SCAN}/svc", check=True)
    c.stop(grace=10)
    assert c.wait() == 0, c.output
    assert (hostdir / "victim").read_bytes() == VICTIM


# Issue 20: a process named `s6-supervise ../../../tmp/x`, re-parented to PID 1, whose
# supervise/status is a directory. It ignores SIGTERM and says when it runs (a fifo).
FAKE_SUPERVISOR = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open('/tmp/x/up', 'w').close()\n"
    "time.sleep(1000)\n"
)


def _sh_quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("stop", ["podman-stop", "cmd-exit"])
def test_a_fake_supervisor_from_podman_exec_neither_crashes_nor_delays_the_stop(
    images: Images, run: Callable[..., Attached], tree: Tree, stop: str
):
    tree.service("svc", "echo svc-up; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    tree.init("10-go", "mkfifo -m 0622 /tmp/go")
    cmd = ["sh", "-c", "echo cmd-up; read x </tmp/go; exit 5"] if stop == "cmd-exit" else []
    options = [*MAPPED, *RUN_TMPFS, "-e", "IGNITY_SERVICES_GRACETIME=30000", "-e", "IGNITY_KILL_GRACETIME=1000"]
    c = run(images.build(tree.root), *cmd, options=options)
    c.wait_for("svc-up")
    plant = (
        "mkdir -p /tmp/x/supervise/status && mkfifo /tmp/x/up && "
        f"printf %s {_sh_quote(FAKE_SUPERVISOR)} >/tmp/x/__main__.py && "
        "bash -c 'cd / && (exec -a s6-supervise python3 ../../../tmp/x &)' >/dev/null 2>&1 && cat /tmp/x/up"
    )
    planted = c.exec("sh", "-c", plant, options=["-u", "1234:1234"])
    assert planted.returncode == 0, planted.stdout + planted.stderr
    if stop == "cmd-exit":
        c.exec("sh", "-c", "echo go >/tmp/go", check=True)
        expected = 5
    else:
        assert c.stop(grace=25) < 20, c.output
        expected = 0
    assert c.wait() == expected, c.output
    assert c.lines.count("finalize-ran") == 1, c.output
    assert "Traceback" not in c.output and "internal error" not in c.output, c.output
    assert not [x for x in c.lines if "services still stopping" in x], c.output
