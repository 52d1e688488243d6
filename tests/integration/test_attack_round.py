"""Attack round on the new surfaces (control, reload, logs, jobs, restart policies, migrate).

Each test reproduces a hole this round's attacker review found; each was a strict xfail
until its fix, and passes now.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.harness import Container
from tests.tree import Tree, wait_up

SVC = "/run/ignity/services"
# The shape of a subscriber's fifo, which s6's ftrigw_notify opens for writing (following links).
FTRIG_NAME = "ftrig1:@400000006b0f4f0a2b860df3:hostil"
VICTIM = b"victim\n"


@pytest.mark.parametrize(
    ("who", "env", "plant"),
    [
        ("exec-1234:0", {}, "setpriv --reuid 1234 --regid 0 --clear-groups"),
        ("mapped-gid-0", {"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "0"}, "s6-setuidgid app"),
    ],
    ids=["exec-1234:0", "mapped-gid-0"],
)
def test_gid_0_member_cannot_make_a_job_loop_write_through_a_job_event_link(
    boot, tree: Tree, who: str, env: dict[str, str], plant: str
):
    tree.service("yearly", "echo ran; exit 0", schedule="CRON_TZ=UTC 0 0 1 1 *\n")
    script = (
        f"for i in $(seq 1000); do [ -s {SVC}/yearly/.ignity/job ] && break; sleep 0.01; done; "
        "printf 'victim\\n' >/out/victim && chmod 0600 /out/victim; "
        f"ls -ld {SVC}/yearly/.ignity/job-event; "
        f"{plant} ln -s /out/victim {SVC}/yearly/.ignity/job-event/{FTRIG_NAME} && echo planted; "
        "ignity start --wait yearly; echo rc=$?; exit 0"
    )
    c = boot("sh", "-c", script, env=env)
    code = c.wait()
    if code != 0 or "rc=0" not in c.lines:
        raise RuntimeError(f"set-up failed ({code}):\n{c.output}")
    assert (c.out / "victim").read_bytes() == VICTIM, (
        f"root wrote {(c.out / 'victim').read_bytes()!r} ({who})\n{c.output}"
    )


def test_ignity_logs_follows_no_link_at_any_position_of_the_logdir(tmp_path):
    """`log/run` runs `s6-setuidgid app s6-log /home/app/logs/main`: app owns /home/app, so it can
    replace `logs` by a link to a root-only tree; root's `ignity logs` must not read through it."""
    from ignity import logs

    secret = tmp_path / "root-only" / "main"
    secret.mkdir(parents=True)
    (secret / "current").write_text("TOP SECRET of root\n")
    home = tmp_path / "home-app"
    home.mkdir()
    svc = tmp_path / "services" / "svc"
    (svc / "log").mkdir(parents=True)
    (svc / "run").write_text("#!/bin/sh\nexec sleep 1000\n")
    (svc / "log" / "run").write_text(f"#!/bin/sh\nexec s6-setuidgid app s6-log -b n3 {home}/logs/main\n")
    (home / "logs").symlink_to(tmp_path / "root-only")  # the service's uid swapped its directory for a link
    (source,) = logs.sources("svc", str(tmp_path / "services"))
    try:
        source.open()
    except logs.LogsError:
        return  # refused: what it should do
    lines = source.tail(logs.MAX_READ)
    source.close()
    assert b"TOP SECRET of root" not in b"\n".join(lines), "root read through a link at a middle position"


RELOAD_PRELUDE = """
set -u
S=/run/ignity/services-state
E=/etc/ignity/services
mount -o remount,bind,rw /etc/ignity || exit 90
"""


def test_gid_0_member_cannot_plant_an_event_link_in_a_reloaded_service(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo -m 0600 /tmp/go")
    # The old copy's finish waits for the attacker's turn (an event, not a race to win).
    tree.service("svc", "exec sleep 1000", finish="#!/bin/sh\nread x < /tmp/go\n")
    planter = (
        f"setpriv --reuid 1234 --regid 0 --clear-groups timeout 20 sh -c "
        f"'until ln -s /out/victim {SVC}/.new-svc/event/{FTRIG_NAME} 2>/dev/null; do :; done; echo planted'; "
        "echo go > /tmp/go"
    )
    script = RELOAD_PRELUDE + (
        f"{wait_up('svc')} || exit 9; printf 'victim\\n' >/out/victim && chmod 0600 /out/victim; "
        "printf '#!/bin/sh\\n# v2\\nexec sleep 1000\\n' > $E/svc/run; printf '#!/bin/sh\\ntrue\\n' > $E/svc/finish; "
        f"( {planter} ) & "
        "ignity reload; echo reload=$?; wait; "
        f"ls -l {SVC}/svc/event; {wait_up('svc')}; s6-svc -r $S/svc; {wait_up('svc')}; exit 0"
    )
    c = boot("sh", "-c", script)
    code = c.wait(timeout=90)
    if code != 0 or "reload=0" not in c.lines:
        raise RuntimeError(f"set-up failed ({code}):\n{c.output}")
    # Fixed: .new-svc/event is root's 0700 from the start, so the link cannot be planted at all.
    assert "planted" not in c.lines, f"a gid-0 uid planted a link in a reloaded service's event/\n{c.output}"
    assert (c.out / "victim").read_bytes() == VICTIM, f"root wrote {(c.out / 'victim').read_bytes()!r}\n{c.output}"


def _up(c: Container, line: str) -> None:
    try:
        c.wait_for(line)
    except AssertionError as e:  # only the hole's own assertion may make these tests xfail
        raise RuntimeError(str(e)) from None


def _nsenter(c: Container, uid: int, gid: int, script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`script` in the container as uid:gid, as `docker exec -u UID:GID` does (from the host)."""
    argv = ["nsenter", "-t", str(c.pid1()), "-m", "-p", "-r", "-w", "--", "setpriv", f"--reuid={uid}",
            f"--regid={gid}", "--clear-groups", "sh", "-c", script]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)


@pytest.mark.parametrize("plant", ["fifo", "link"])
def test_root_exec_into_a_non_root_container_reads_nothing_uid_1000_chose(boot, tree: Tree, plant: str):
    tree.env("05-user", "USER=app\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
    tree.service("svc", "echo svc-up-as-$(id -u); exec sleep 1000")
    image = boot.image.derive(
        "chmod 0755 / && preboot && printf 'root-only-secret\\n' > /root/secret && chmod 0600 /root/secret",
        etc=tree.root,
    )
    c = Container(image, tree.root, [], user="1000:1000", run_tmpfs=None)
    try:
        _up(c, "svc-up-as-1000")
        f = f"{SVC}/svc/.ignity/failed"
        how = f"mkfifo {f}.x" if plant == "fifo" else f"ln -s /root/secret {f}.x"
        made = _nsenter(c, 1000, 1000, f"{how} && mv -f {f}.x {f} && s6-svc -d /run/ignity/services-state/svc")
        if made.returncode != 0:
            raise RuntimeError(f"uid 1000 could not plant: {made.stderr}\n{c.output}")
        try:
            done = _nsenter(c, 0, 0, "ignity status; echo status=$?", timeout=20)
            out, hung = done.stdout + done.stderr, False
        except subprocess.TimeoutExpired:
            out, hung = "", True
    finally:
        c.cleanup()
    assert not hung, "root's ignity status hung on a fifo uid 1000 put in place of .ignity/failed"
    assert "root-only-secret" not in out, f"root's ignity status printed a file uid 1000 chose:\n{out}"


def test_root_ignity_logs_in_a_non_root_container_reads_no_directory_uid_1000_names(boot, tree: Tree):
    tree.env("05-user", "USER=app\nUSERMAP_UID=1000\nUSERMAP_GID=1000\n")
    d = tree.service("own", "echo own-up-as-$(id -u) >&2; exec sleep 1000")
    (d / "log").mkdir()
    (d / "log" / "run").write_text("#!/bin/sh\nexec s6-log /tmp/ownlog\n")
    (d / "log" / "run").chmod(0o755)
    image = boot.image.derive(
        "chmod 0755 / && preboot && mkdir -m 0700 /root/private && "
        "printf 'root-only-secret\\n' > /root/private/current && chmod 0600 /root/private/current",
        etc=tree.root,
    )
    c = Container(image, tree.root, [], user="1000:1000", run_tmpfs=None)
    try:
        _up(c, "own-up-as-1000")
        run = f"{SVC}/own/log/run"
        made = _nsenter(
            c, 1000, 1000, f"printf '#!/bin/sh\\nexec s6-log /root/private\\n' > {run}.x && mv -f {run}.x {run}"
        )
        if made.returncode != 0:
            raise RuntimeError(f"uid 1000 could not rewrite log/run: {made.stderr}\n{c.output}")
        done = _nsenter(c, 0, 0, "ignity logs own; echo logs=$?", timeout=20)
    finally:
        c.cleanup()
    out = done.stdout + done.stderr
    if "logs=" not in out:
        raise RuntimeError(out)
    assert "root-only-secret" not in out, f"root's ignity logs printed a file uid 1000 named:\n{out}"


# --- ignity migrate: values of a supervisord.conf that end up as code ---------------------------


def _migrate(tmp_path, conf: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    from ignity.migrate import supervisord

    root = tmp_path / "root"
    for rel, content in {"etc/supervisor/supervisord.conf": conf, **(extra or {})}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    plan, _ = supervisord.convert(f"{root}/etc/supervisor/supervisord.conf", str(root))
    return {p: d.decode() for p, (d, _) in plan.files.items()}


def _runs_nothing_else(tmp_path, script: str) -> None:
    (tmp_path / "script").write_text(script)
    subprocess.run(["sh", str(tmp_path / "script")], cwd=tmp_path, capture_output=True, timeout=10, check=False)
    assert not (tmp_path / "PWNED").exists(), f"the generated script ran a command the config never named:\n{script}"


def test_migrate_a_multi_line_stdout_logfile_stays_a_comment(tmp_path):
    conf = "[supervisord]\nnodaemon=true\n[program:p]\ncommand=/bin/true\nstdout_logfile=/var/log/p\n  touch PWNED\n"
    files = _migrate(tmp_path, conf)
    _runs_nothing_else(tmp_path, files["/etc/ignity/services/p/log/run"])


def test_migrate_an_included_file_name_with_a_newline_stays_a_comment(tmp_path):
    conf = "[supervisord]\nnodaemon=true\n[include]\nfiles = conf.d/*.conf\n"
    files = _migrate(tmp_path, conf, {"etc/supervisor/conf.d/x\ntouch PWNED;.conf": "[program:p]\ncommand=/bin/true\n"})
    _runs_nothing_else(tmp_path, files["/etc/ignity/services/p/run"])


def test_migrate_an_s6_rc_name_with_a_newline_stays_a_comment(tmp_path):
    from ignity.migrate import s6overlay
    from tests.unit.test_migrate_s6overlay import Tree as Image

    image = Image(tmp_path / "root")
    name = "x\nforeground { touch PWNED }"
    image.rc(name, "oneshot", up="/bin/true up\n")  # a command line, not a lone script: execline
    image.user(name)
    plan, _ = s6overlay.convert(str(image.root), {})
    ((path, (data, _)),) = [(p, f) for p, f in plan.files.items() if p.startswith("/etc/ignity/init/")]
    script = data.decode().replace("#!/usr/bin/execlineb", "#!" + (shutil.which("execlineb") or "/usr/bin/execlineb"))
    (tmp_path / "script").write_text(script)
    (tmp_path / "script").chmod(0o755)
    subprocess.run([str(tmp_path / "script")], cwd=tmp_path, capture_output=True, timeout=10, check=False)
    assert not (tmp_path / "PWNED").exists(), f"{path} ran a command the tree never named:\n{script}"


# --- operator commands: nothing half-changed -----------------------------------------------------


def test_a_restart_that_times_out_leaves_no_other_service_down(boot, tree: Tree):
    # `a` is ready at its first start only: the restart's wait for it times out.
    tree.service(
        "a", "[ -e /tmp/a-once ] && exec sleep 100; touch /tmp/a-once; echo >&3; exec sleep 100", notification_fd="3\n"
    )
    tree.service("b", "exec sleep 100")
    script = (
        "ignity status --wait-ready=30000 >/dev/null || exit 90; "
        "ignity restart --timeout 1000 a b; echo restart=$?; "
        "echo b=$(s6-svstat -o up,wantedup /run/ignity/services-state/b); ignity status; exit 0"
    )
    c = boot("sh", "-c", script)
    if c.wait(timeout=90) != 0 or "restart=1" not in c.lines:
        raise RuntimeError(c.output)
    assert "b=true true" in c.lines, f"the failed restart of a left b down:\n{c.output}"


def test_an_interrupted_reload_leaves_no_service_down(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo -m 0600 /tmp/go /tmp/infinish")
    # The old copy's finish says it runs, then waits: the interrupt lands while reload waits for the stop.
    tree.service("svc", "exec sleep 1000", finish="#!/bin/sh\necho > /tmp/infinish\nread x < /tmp/go\n")
    script = RELOAD_PRELUDE + (
        f"{wait_up('svc')} || exit 9; "
        "printf '#!/bin/sh\\n# v2\\nexec sleep 1000\\n' > $E/svc/run; printf '#!/bin/sh\\ntrue\\n' > $E/svc/finish; "
        "ignity reload & rp=$!; read x < /tmp/infinish; kill -INT $rp; wait $rp; echo reload=$?; "
        "echo go > /tmp/go; s6-svwait -u -t 5000 $S/svc; echo svc-up=$?; ignity status; exit 0"
    )
    c = boot("sh", "-c", script)
    if c.wait(timeout=90) != 0 or "reload=130" not in c.lines:
        raise RuntimeError(c.output)
    assert "svc-up=0" in c.lines, f"the interrupted reload left svc down:\n{c.output}"


def test_migrate_writes_all_or_nothing_when_a_directory_is_in_the_way(tmp_path):
    from ignity.errors import IgnityError

    conf = "[supervisord]\nnodaemon=true\n[program:a]\ncommand=/bin/true\n[program:b]\ncommand=/bin/true\n"
    root = tmp_path / "root"
    (root / "etc/ignity/services").mkdir(parents=True)
    (root / "etc/ignity/services/b").symlink_to("/tmp")  # in the way of services/b/run
    from ignity.migrate import supervisord

    (root / "etc/supervisor").mkdir(parents=True)
    (root / "etc/supervisor/supervisord.conf").write_text(conf)
    plan, _ = supervisord.convert(f"{root}/etc/supervisor/supervisord.conf", str(root))
    try:
        plan.write(str(root), force=False)
    except IgnityError as e:
        refused = str(e)
    else:
        raise RuntimeError("the write went through a link")
    written = sorted(str(p.relative_to(root)) for p in (root / "etc/ignity").rglob("*") if p.is_file())
    assert written == [], f"refused ({refused}) after writing {written}"
