"""The hostile mapped user (issue #10): root container, USER=app USERMAP_UID=1000 USERMAP_GID=1000.

SECURITY.md's trust rule: nothing root executes, loads or writes may be
writable by, or be a link chosen by, another uid. Here `app` (through
`s6-setuidgid`, from the CMD and from a service) walks every path root's
`find /run/ignity` lists and tries to write, replace, rename, chmod and link
each, and to create every name of the tree (and payloads) in every directory
(tests/hostile_attack.sh). Root then restarts the services (so it runs and
loads their files again) and the container is stopped in each way. Every
payload leaves /out/pwned-* only when root runs, loads or sources it; every
link points at /out/victim (root's, 0600) or /etc/passwd.

The tests marked xfail(strict=True) are holes found in the design: each
fails today, and turns into an XPASS (a failure) once fixed, so the marker
must then be removed. See SECURITY.md, "Tests of the trust model".
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import Container
from tests.tree import Tree, wait_up

ATTACK = Path(__file__).resolve().parent.parent / "hostile_attack.sh"
MAPPED = {"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "1000"}
WITH_ENV = "#!/usr/bin/with-env sh"
SCAN = "/run/ignity/services-state"
VICTIM = b"victim\n"
# Paths root's walk must have listed (a check of the walk, not a list of targets).
SENSITIVE = {
    "/run/ignity",
    "/run/ignity/envs/SECRET",
    "/run/ignity/envs/PATH",
    "/run/ignity/envs/.empty",
    "/run/ignity/state",
    "/run/ignity/state/config",
    "/run/ignity/state/cmd",
    "/run/ignity/finalize/10-fin",
    "/run/ignity/init/10-fifos",
    "/run/ignity/services/rootsvc/run",
    "/run/ignity/services/rootsvc/finish",
    "/run/ignity/services/rootsvc/event",
    "/run/ignity/services/rootsvc/supervise/control",
    "/run/ignity/services-state/rootsvc",
    "/run/ignity/services-state/.s6-svscan/finish",
    "/run/ignity/services-state/.s6-svscan/SIGTERM",
    "/run/ignity/services-state/.s6-svscan/control",
}
# The shape of a subscriber's fifo, which ftrigw_notifyb opens in event/ (s6 2.11).
FTRIG_NAME = "ftrig1:@400000006b0f4f0a2b860df3:hostil"
HALT_REFUSED = "[ignity/halt] uid 1000 cannot stop the container"

# How the CMD ends once the attack is over, and the container's exit status then.
STOPS = {
    "cmd-exit": ("exit 5", 5),
    "sigterm": ("exec sleep 1000", 128 + signal.SIGTERM),
    "halt-as-root": ("ignity halt 4; exec sleep 1000", 4),
    "halt-as-app": ("s6-setuidgid app ignity halt 3; echo halt-as-app=$?; exit 6", 6),
    "svscanctl-t": (f"s6-svscanctl -t {SCAN}; exec sleep 1000", 0),
}


def _hostile_tree(tree: Tree, attacker: str) -> None:
    """A root service and an `app` service, both loading with-env as root at every start and finish."""
    tree.env("10-secret", "SECRET=hunter2\n")
    tree.init("10-fifos", "mkfifo -m 0644 /tmp/go && mkfifo -m 0622 /tmp/attacked")
    tree.service(
        "rootsvc",
        "echo rootsvc-up-as-$(id -u); exec sleep 1000",
        shebang=WITH_ENV,
        finish=f"{WITH_ENV}\necho rootsvc-finish-as-$(id -u)\n",
    )
    attack = "read go </tmp/go; sh /out/attack.sh svc /tmp/paths 2>/dev/null; echo done >/tmp/attacked; "
    body = "echo appsvc-up-as-$(id -u) SECRET=$SECRET; " + (attack if attacker == "service" else "") + "exec sleep 1000"
    tree.service(
        "appsvc",
        f"exec s6-setuidgid app sh -c '[ -e /tmp/attacked-once ] || {{ {body}; }}; exec sleep 1000'"
        if attacker == "service"
        else f"exec s6-setuidgid app sh -c '{body}'",
        shebang=WITH_ENV,
        finish=f"{WITH_ENV}\n: >/tmp/attacked-once\necho appsvc-finish-as-$(id -u)\n",
    )
    tree.finalize(
        "10-fin",
        "echo finalize-as-$(id -u); sha256sum /etc/passwd /etc/shadow | sed 's/^/HASH-END /'",
        shebang=WITH_ENV,
    )


def _cmd(attacker: str, stop: str) -> list[str]:
    """The CMD (root): legitimate use as app, the attack, root running everything again, the stop."""
    attack = (
        "s6-setuidgid app sh /out/attack.sh cmd /tmp/paths 2>/dev/null"
        if attacker == "cmd"
        else "echo go >/tmp/go; read done </tmp/attacked"
    )
    restart = " ".join(
        f"s6-svlisten1 -r -t 5000 {SCAN}/{s} s6-svc -r {SCAN}/{s} || echo restart-failed-{s};"
        for s in ("rootsvc", "appsvc")
    )
    script = (
        f"{wait_up('rootsvc', 'appsvc')} || exit 9; "
        "sha256sum /etc/passwd /etc/shadow | sed 's/^/HASH-START /'; "
        "s6-setuidgid app with-env sh -c 'echo WITH-ENV-AS-$(id -u) SECRET=$SECRET'; "
        "s6-setuidgid nobody cat /run/ignity/envs/SECRET 2>/dev/null || echo nobody-cannot-read-the-secret; "
        "printf 'victim\\n' >/out/victim && chmod 0600 /out/victim; "
        "find /run/ignity >/tmp/paths && chmod 0644 /tmp/paths && sed 's/^/LISTED /' /tmp/paths; "
        f"{attack}; {restart} echo attacked; {STOPS[stop][0]}"
    )
    return ["sh", "-c", script]


def _ran(c: Container) -> None:
    """The set-up of an xfail test worked (RuntimeError otherwise: only the hole's assertion may xfail)."""
    code = c.wait()
    if code != 0:
        raise RuntimeError(f"the attack's set-up failed (exit status {code}):\n{c.output}")


def _assert_root_never_obeyed(c: Container) -> None:
    lines = c.lines
    assert not [x for x in lines if x.startswith("HOSTILE-OK")], c.output
    done = [x.split()[1:] for x in lines if x.startswith("HOSTILE-DONE ")]
    assert len(done) == 1 and done[0][0] == "0", c.output  # the attack ran to its end, nothing succeeded
    listed = {x.split(" ", 1)[1] for x in lines if x.startswith("LISTED ")}
    if listed:  # root's walk reached what root runs, loads and writes, and the attack tried every path
        assert int(done[0][1]) == len(listed), c.output
        assert listed >= SENSITIVE, SENSITIVE - listed
    pwned = sorted(p.name for p in c.out.iterdir() if p.name.startswith("pwned-"))
    assert pwned == [], f"root ran a payload of app's: {pwned}\n{c.output}"
    victim = c.out / "victim"
    st = victim.lstat()
    assert (victim.read_bytes(), st.st_uid, st.st_mode & 0o7777) == (VICTIM, 0, 0o600)
    start = [x.split()[1:] for x in lines if x.startswith("HASH-START ")]
    end = [x.split()[1:] for x in lines if x.startswith("HASH-END ")]
    assert len(start) == 2 and start == end, c.output
    assert not [x for x in lines if "LD_PRELOAD" in x or "cannot be preloaded" in x], c.output


def _assert_legitimate_use_works(c: Container) -> None:
    lines = c.lines
    assert "WITH-ENV-AS-1000 SECRET=hunter2" in lines
    assert "nobody-cannot-read-the-secret" in lines
    # Both services ran, were restarted by root and ran again, as their user.
    assert lines.count("rootsvc-up-as-0") == 2, c.output
    assert len([x for x in lines if x == "appsvc-up-as-1000 SECRET=hunter2"]) >= 1, c.output
    assert not [x for x in lines if x.startswith("restart-failed")], c.output
    assert "rootsvc-finish-as-0" in lines and "appsvc-finish-as-0" in lines and "finalize-as-0" in lines


@pytest.mark.parametrize("stop", sorted(STOPS))
@pytest.mark.parametrize("attacker", ["cmd", "service"])
def test_mapped_user_cannot_make_root_run_load_or_write_anything(boot, tree: Tree, attacker: str, stop: str):
    _hostile_tree(tree, attacker)
    c = boot(*_cmd(attacker, stop), env=MAPPED, files={"attack.sh": ATTACK})
    c.wait_for("attacked", timeout=60)
    if stop == "sigterm":
        c.kill(signal.SIGTERM)
    assert c.wait(60) == STOPS[stop][1], c.output
    _assert_root_never_obeyed(c)
    _assert_legitimate_use_works(c)
    if stop == "halt-as-app":
        refused = [x for x in c.lines if x.startswith("[ignity/halt]")]
        assert len(refused) == 1 and refused[0].startswith(HALT_REFUSED), c.output
        assert "halt-as-app=1" in c.lines


def test_mapped_user_walks_the_tree_itself_and_finds_nothing_to_write(boot, tree: Tree):
    """The same attack on what `app` itself can see (its own `find`), from the CMD."""
    _hostile_tree(tree, "cmd")
    script = (
        f"{wait_up('rootsvc', 'appsvc')} || exit 9; "
        "printf 'victim\\n' >/out/victim && chmod 0600 /out/victim; "
        "sha256sum /etc/passwd /etc/shadow | sed 's/^/HASH-START /'; "
        "s6-setuidgid app sh -c 'find /run/ignity >/tmp/app-paths 2>/dev/null; "
        "sh /out/attack.sh own /tmp/app-paths 2>/dev/null'; "
        f"s6-svlisten1 -r -t 5000 {SCAN}/rootsvc s6-svc -r {SCAN}/rootsvc; exit 5"
    )
    c = boot("sh", "-c", script, env=MAPPED, files={"attack.sh": ATTACK})
    assert c.wait(60) == 5, c.output
    _assert_root_never_obeyed(c)


# --- holes: each test fails today (xfail strict) --------------------------------------


def test_status_as_the_mapped_user_lists_the_services_up(boot, tree: Tree):
    tree.service("appsvc", "exec s6-setuidgid app sleep 1000")
    c = boot("sh", "-c", f"{wait_up('appsvc')} || exit 9; s6-setuidgid app ignity status; echo status=$?", env=MAPPED)
    _ran(c)
    rows = [x for x in c.lines if x.startswith("appsvc ")]
    if len(rows) != 1:
        raise RuntimeError(c.output)
    row = rows[0]
    assert row.split()[1] == "up", c.output
    assert "status=0" in c.lines, c.output


@pytest.mark.parametrize(
    ("who", "env", "plant"),
    [
        # `docker exec -u 1234:0` during the run: not root, but in root's group.
        ("exec-1234:0", {}, "setpriv --reuid 1234 --regid 0 --clear-groups"),
        # The mapped user with gid 0, as images meant for OpenShift often have it.
        ("mapped-gid-0", {"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "0"}, "s6-setuidgid app"),
    ],
)
def test_gid_0_member_cannot_make_the_supervisor_write_through_an_event_link(
    boot, tree: Tree, who: str, env: dict[str, str], plant: str
):
    tree.service("svc", "echo svc-up; exec sleep 1000")
    script = (
        f"{wait_up('svc')} || exit 9; printf 'victim\\n' >/out/victim && chmod 0600 /out/victim; "
        f"{plant} ln -s /out/victim {SCAN}/svc/event/{FTRIG_NAME} && echo planted; "
        f"s6-svlisten1 -r -t 5000 {SCAN}/svc s6-svc -r {SCAN}/svc; exit 0"
    )
    c = boot("sh", "-c", script, env=env)
    _ran(c)
    assert (c.out / "victim").read_bytes() == VICTIM, f"root wrote {(c.out / 'victim').read_bytes()!r} ({who})"


def _preplanted(boot: Callable[..., Container], tree: Tree, plant: str) -> Container:
    """A root container whose /run/ignity is not root's alone before /init starts (a shared
    Kubernetes emptyDir is 0777; a sidecar as uid 1000 wrote into it first): `plant` ran as 1000."""
    image = boot.image.derive(  # type: ignore[attr-defined]
        "chmod 0755 / && mkdir -p /run/ignity && chmod 0777 /run/ignity && printf 'victim\\n' >/root/victim && "
        f"chmod 0600 /root/victim && setpriv --reuid 1000 --regid 1000 --clear-groups sh -c '{plant}'"
    )
    c = Container(
        image,
        tree.root,
        ["sh", "-c", "cat /root/victim | head -c 200 | tr '\\0' ' ' | sed 's/^/VICTIM /'"],
        env={"SECRET": "hunter2"},
        run_tmpfs=None,
    )  # fmt: skip
    return c


def test_stage0_never_writes_through_a_link_planted_in_run_ignity(boot, tree: Tree):
    c = _preplanted(boot, tree, "ln -s /root/victim /run/ignity/environ")
    try:
        _ran(c)
    finally:
        c.cleanup()
    assert "VICTIM victim" in c.lines, c.output


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="the envdir is root's with the mapped user's group, 0640: every other uid of that group reads "
    "every secret; with USERMAP_GID=0 (common in images meant for OpenShift) that is any gid-0 process",
)
def test_another_uid_of_the_mapped_group_cannot_read_the_secrets(boot, tree: Tree):
    tree.env("10-secret", "SECRET=hunter2\n")
    env = {"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "0"}
    c = boot("sh", "-c", "s6-setuidgid app with-env sh -c 'echo APP-SEES $SECRET'; "
             "setpriv --reuid 1234 --regid 0 --clear-groups cat /run/ignity/envs/SECRET; echo", env=env)  # fmt: skip
    _ran(c)
    if "APP-SEES hunter2" not in c.lines:
        raise RuntimeError(f"the mapped user does not see its environment:\n{c.output}")
    assert "hunter2" not in c.lines, "uid 1234 (gid 0) read the secret"


def test_stage0_leftovers_of_another_uid_are_removed_not_used(boot, tree: Tree):
    """Directories planted by uid 1000 in a 0777 /run/ignity: stage 0 removes them (rm -rf, no link
    followed), stage 1 makes /run/ignity root's 0755; nothing of theirs is run."""
    plant = (
        "mkdir -p /run/ignity/services-state/evil /run/ignity/state /run/ignity/services/evil && "
        'printf "#!/bin/sh\\n: >/out/pwned-skel\\n" >/run/ignity/services-state/evil/run && '
        "chmod 755 /run/ignity/services-state/evil/run && ln -s /root/victim /run/ignity/state/stopping"
    )
    c = _preplanted(boot, tree, plant)
    try:
        assert c.wait() == 0, c.output
    finally:
        c.cleanup(keep_out=True)
    assert "VICTIM victim" in c.lines, c.output
    assert not list(c.out.glob("pwned-*"))


def test_the_attack_reports_what_it_can_write(boot, tree: Tree):
    """The detector itself: on a directory app may write, every kind of attempt is reported."""
    script = (
        "mkdir -m 0777 /tmp/decoy /tmp/decoy/sub && touch /tmp/decoy/file && chmod 0666 /tmp/decoy/file && "
        "find /tmp/decoy >/tmp/decoy-paths && s6-setuidgid app sh /out/attack.sh decoy /tmp/decoy-paths 2>/dev/null"
    )
    c = boot("sh", "-c", script, env=MAPPED, files={"attack.sh": ATTACK})
    assert c.wait() == 0, c.output
    kinds = {x.split()[1] for x in c.lines if x.startswith("HOSTILE-OK ")}
    assert kinds >= {"create", "symlink", "ftrig-link", "mkfifo", "mkdir", "write", "rename", "replace-link"}, kinds
    assert "HOSTILE-OK create /tmp/decoy/sub/PATH" in c.lines
    assert not [x for x in c.lines if x.startswith("HOSTILE-DONE 0 ")]


# --- non-root containers: another uid next to the one Ignity runs as -------------------

# What the other uid does to the directories Ignity's uid made (its own, 0755) in /run/ignity.
HIJACKS = {
    # with-env, run by Ignity's uid at every start, loads an envdir of the other uid's: its PATH
    # leads to an `sh` that marks a run by Ignity's uid as /out/pwned-UID-path.
    "envs": "mkdir -p /tmp/evil && { echo '#!/bin/sh'; echo ': >/out/pwned-$(id -u)-path'; "
    "echo 'exec /bin/sh \"$@\"'; } >/tmp/evil/sh && chmod 755 /tmp/evil/sh && "
    "mv /run/ignity/envs /run/ignity/envs.old && mkdir -m 0755 /run/ignity/envs /run/ignity/envs/.empty && "
    "printf /tmp/evil:/usr/bin:/bin >/run/ignity/envs/PATH && chmod 0644 /run/ignity/envs/PATH",
    # The signal handlers (Ignity's uid) source state/config.
    "state": "mv /run/ignity/state /run/ignity/state.old && mkdir -m 0755 /run/ignity/state && "
    "echo ': >/out/pwned-$(id -u)-config' >/run/ignity/state/config && chmod 0644 /run/ignity/state/config",
}


def _nsenter(c: Container, uid: int, gid: int, script: str) -> int:
    """Run `script` in the container as uid:gid, as `docker exec -u UID:GID` does (from the host)."""
    import subprocess

    argv = ["nsenter", "-t", str(c.pid1()), "-m", "-p", "-r", "-w", "--", "setpriv", f"--reuid={uid}",
            f"--regid={gid}", "--clear-groups", "sh", "-c", script]  # fmt: skip
    return subprocess.run(argv, capture_output=True, check=False, timeout=30).returncode


GID0_HOLE = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="arbitrary uid with gid 0: /run/ignity is the image's (root:0, 0775, as docs/users.md says) and stays "
    "group-writable, so any other uid of group 0 renames Ignity's directories and puts its own in their "
    "place: with-env then loads its PATH, the signal handler sources its config, as Ignity's uid",
)


@pytest.mark.parametrize(
    ("mode", "hijack"),
    [
        pytest.param("gid-0", "envs", marks=GID0_HOLE),
        pytest.param("gid-0", "state", marks=GID0_HOLE),
        ("preboot", "envs"),
        ("preboot", "state"),
    ],
)
def test_another_uid_in_a_non_root_container_cannot_hijack_run_ignity(boot, tree: Tree, mode: str, hijack: str):
    tree.env("10-secret", "SECRET=hunter2\n")
    tree.service("svc", "echo svc-up-as-$(id -u); exec sleep 1000", shebang=WITH_ENV)
    if mode == "gid-0":  # as OpenShift runs it: a random uid, gid 0; the image made /run/ignity group-0 writable
        uid, gid, other = 1000770000, 0, (2000, 0)
        image = boot.image.derive(
            "chmod 0755 / && mkdir -p /run/ignity && chgrp 0 /run/ignity && chmod 0775 /run/ignity"
        )
    else:  # RUN preboot with the mapped user, then USER 1000:1000; another uid 2000 exists
        tree.env("05-user", "USER=app\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
        uid, gid, other = 1000, 1000, (2000, 2000)
        image = boot.image.derive("chmod 0755 / && preboot", etc=tree.root)
    c = Container(image, tree.root, [], user=f"{uid}:{gid}", run_tmpfs=None)
    try:
        c.wait_for(f"svc-up-as-{uid}")
        hijacked = _nsenter(c, *other, HIJACKS[hijack]) == 0  # what it leads to is what the markers show
        if mode == "preboot":  # /run/ignity is 1000's, 0755: 2000 can rename nothing in it
            assert not hijacked
        restart = f"s6-svlisten1 -r -t 5000 {SCAN}/svc s6-svc -r {SCAN}/svc"
        if _nsenter(c, uid, gid, restart) != 0:
            raise RuntimeError(f"restarting svc as {uid} failed:\n{c.output}")
        c.wait_for_count(f"svc-up-as-{uid}", 2)
        c.kill(signal.SIGTERM)
        code = c.exited(60)
    finally:
        c.cleanup(keep_out=True)
    pwned = sorted(p.name for p in c.out.iterdir() if p.name.startswith("pwned-"))
    assert pwned == [], f"uid {uid} ran uid {other[0]}'s code: {pwned}"
    assert code == 0, f"SIGTERM did not stop the container ({code}):\n{c.output}"


# --- issue 20: a process that names itself s6-supervise ------------------------------------

# It ignores SIGTERM (so that only the stop's own bounds end it) and holds its `status` fifo open
# for writing (a read of it would fail with EAGAIN rather than find an end of file).
FAKE_SUPERVISOR = """import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.path.exists("/tmp/x/fifo"):
    fd = os.open("/tmp/x/supervise/status", os.O_RDWR)
print("fake-supervisor-up", flush=True)
with open("/tmp/x/up", "w") as f:
    print("up", file=f)
time.sleep(1000)
"""
PLANTS = {
    "directory": "mkdir -p /tmp/x/supervise/status && mkfifo -m 0644 /tmp/x/up",
    "fifo": "mkdir -p /tmp/x/supervise && mkfifo /tmp/x/supervise/status /tmp/x/up && : >/tmp/x/fifo",
}
# Re-parented to PID 1 (the subshell that started it exits): `s6-supervise ../../../tmp/x`,
# from /, names /tmp/x as a scan entry.
FAKE = "cd / && (exec -a s6-supervise python3 ../../../tmp/x &)"
STOPS_20 = {
    "cmd-exit": ("exit 5", 5),
    "sigterm": ("exec sleep 1000", 128 + signal.SIGTERM),
    "halt": ("ignity halt 4; exec sleep 1000", 4),
    "svscanctl-t": (f"s6-svscanctl -t {SCAN}; exec sleep 1000", 0),
}


def _plant_fake_supervisor(kind: str, as_whom: str) -> str:
    """Shell (root's CMD): as `as_whom`, /tmp/x/supervise/status of `kind` and a fake supervisor of it."""
    plant = f"{PLANTS[kind]} && printf %s {_sh_quote(FAKE_SUPERVISOR)} >/tmp/x/__main__.py"
    script = f"{plant} && exec bash -c {_sh_quote(FAKE)}"
    return f"{as_whom} sh -c {_sh_quote(script)}"


def _sh_quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("stop", sorted(STOPS_20))
@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_a_fake_supervisor_neither_crashes_nor_delays_the_stop(boot, tree: Tree, kind: str, stop: str):
    """Issue 20: stage 3 once took any child named `s6-supervise NAME` for a supervisor and read
    NAME/supervise/status as root: a directory there made PID 1 die of a traceback (finalize and
    the services killed mid-stop), a fake one stretched the stop by the whole services grace."""
    tree.service("svc", "echo svc-up; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    script = (
        f"{wait_up('svc')} || exit 9; {_plant_fake_supervisor(kind, 's6-setuidgid app')}; "
        f"read up </tmp/x/up; echo planted; {STOPS_20[stop][0]}"
    )
    env = {**MAPPED, "IGNITY_SERVICES_GRACETIME": "30000", "IGNITY_KILL_GRACETIME": "1000"}
    c = boot("sh", "-c", script, env=env)
    c.wait_for("fake-supervisor-up")
    c.wait_for("planted")
    if stop == "sigterm":
        c.kill(signal.SIGTERM)
    assert c.wait(60) == STOPS_20[stop][1], c.output
    assert c.lines.count("finalize-ran") == 1, c.output
    assert "Traceback" not in c.output and "internal error" not in c.output, c.output
    assert not [x for x in c.lines if "services still stopping" in x], c.output


def test_a_fake_supervisor_planted_by_another_uid_through_exec(boot, tree: Tree):
    """The same as `docker exec -u 1234` would plant it (nsenter from the host, then re-parented)."""
    tree.service("svc", "echo svc-up; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize-ran")
    c = boot("sh", "-c", f"{wait_up('svc')} || exit 9; mkfifo -m 0622 /tmp/go; echo ready; read x </tmp/go; exit 5",
             env={"IGNITY_SERVICES_GRACETIME": "30000", "IGNITY_KILL_GRACETIME": "1000"})  # fmt: skip
    c.wait_for("ready")
    plant = (
        f"{PLANTS['directory']} && printf %s {_sh_quote(FAKE_SUPERVISOR)} >/tmp/x/__main__.py && "
        f"bash -c {_sh_quote(FAKE)} >/dev/null 2>&1 && read up </tmp/x/up && echo go >/tmp/go"
    )
    assert _nsenter(c, 1234, 1234, plant) == 0
    assert c.wait(60) == 5, c.output
    assert c.lines.count("finalize-ran") == 1, c.output
    assert "Traceback" not in c.output and "internal error" not in c.output, c.output
    assert not [x for x in c.lines if "services still stopping" in x], c.output
