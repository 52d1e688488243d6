"""`ignity start|stop|restart|signal` in a booted container: each returns once the change
has happened, honours dependencies, says what it did in one line per service, fails in
one line (unknown names, bad signals, time-outs), and refuses any uid but root's."""

from __future__ import annotations

from tests.harness import Container
from tests.tree import Tree

S = "/run/ignity/services-state"
PRELUDE = f"""
set -u
S={S}
# Runs a command; its stdout, stderr and status under /out/NAME.{{out,err,rc}}.
r() {{ n=$1; shift; "$@" > /out/$n.out 2> /out/$n.err; echo $? > /out/$n.rc; }}
ignity status --wait-ready=30000 > /out/boot.status || exit 90
"""


def run(boot, script: str, **kwargs) -> Container:
    c = boot("sh", "-c", PRELUDE + script, **kwargs)
    assert c.wait(timeout=90) == 0, c.output
    return c


def out(c: Container, name: str) -> tuple[int, str, str]:
    return (int((c.out / f"{name}.rc").read_text()), (c.out / f"{name}.out").read_text(),
            (c.out / f"{name}.err").read_text())  # fmt: skip


def text(c: Container, name: str) -> str:
    return (c.out / name).read_text()


def row(status: str, name: str) -> list[str]:
    """NAME, STATE, then NOTE (the table's last column, after two spaces)."""
    line = next(line for line in status.splitlines() if line.split()[0] == name)
    return [*line.split()[:2], line.rsplit("  ", 1)[-1].strip()]


def test_stop_start_restart_signal_on_a_plain_service(boot, tree: Tree):
    tree.service("plain", "trap 'echo hup >> /out/hups' HUP\necho $$ >> /out/pids\nwhile :; do sleep 0.1; done")
    c = run(boot, """
r stop ignity stop plain
s6-svstat -o up,wantedup $S/plain > /out/after-stop
r st1 ignity status
r start ignity start plain
s6-svstat -o up $S/plain > /out/after-start
r st2 ignity status
r restart ignity restart plain
s6-svstat -o up $S/plain > /out/after-restart
r sig ignity signal HUP plain
r sig2 ignity signal sigusr2 plain
""")  # fmt: skip
    assert out(c, "stop") == (0, "plain: down (stopped by operator)\n", "")
    assert text(c, "after-stop").split() == ["false", "false"]
    # Stopped on purpose: shown as such, and the container is still ready.
    rc, status, _ = out(c, "st1")
    assert rc == 0
    assert row(status, "plain")[1] == "down" and row(status, "plain")[-1] == "stopped by operator"
    assert out(c, "start") == (0, "plain: up\n", "")
    assert text(c, "after-start").split() == ["true"]
    rc, status, _ = out(c, "st2")
    assert rc == 0 and row(status, "plain")[1] == "up" and row(status, "plain")[-1] == "-"
    assert out(c, "restart") == (0, "plain: restarted, up\n", "")
    assert text(c, "after-restart").split() == ["true"]
    pids = text(c, "pids").split()
    assert len(pids) == 3 and len(set(pids)) == 3  # boot, start, restart: three runs
    rc, said, err = out(c, "sig")
    assert rc == 0 and said == f"plain: sent SIGHUP to pid {pids[-1]}\n" and err == ""
    assert out(c, "sig2")[0] == 0


def test_start_a_service_with_a_down_file_and_wait_for_ready(boot, tree: Tree):
    # Ready only half a second after it starts: `start` returns once it is.
    tree.service("lazy", "sleep 0.5; echo >&3; exec sleep 100", down="", notification_fd="3\n")
    c = run(boot, """
r st0 ignity status
r start ignity start lazy
s6-svstat -o up,ready $S/lazy > /out/after-start
r again ignity start lazy
""")  # fmt: skip
    rc, status, _ = out(c, "st0")
    assert rc == 0 and row(status, "lazy")[1] == "down"
    assert out(c, "start") == (0, "lazy: ready\n", "")
    assert text(c, "after-start").split() == ["true", "true"]
    assert out(c, "again") == (0, "lazy: already ready\n", "")


def test_dependencies_are_started_first_and_guard_a_stop(boot, tree: Tree):
    tree.service("db", "echo >&3; exec sleep 100", notification_fd="3\n")
    web = tree.service("web", "exec sleep 100")
    (web / "dependencies.d").mkdir()
    (web / "dependencies.d" / "db").write_text("")
    c = run(boot, """
r refused ignity stop db
{ s6-svstat -o up $S/db; s6-svstat -o up $S/web; } > /out/after-refused
r both ignity stop --with-dependents db
{ s6-svstat -o up $S/db; s6-svstat -o up $S/web; } > /out/after-both
r start ignity start web
s6-svstat -o up,ready $S/db > /out/after-start
""")  # fmt: skip
    rc, said, err = out(c, "refused")
    assert (rc, said) == (1, "")
    assert err == ("[ignity/control] db is needed by web, which run: nothing changed "
                   "(stop them first, or add --with-dependents)\n")  # fmt: skip
    assert text(c, "after-refused").split() == ["true", "true"]
    assert out(c, "both") == (0, "web: down (stopped by operator)\ndb: down (stopped by operator)\n", "")
    assert text(c, "after-both").split() == ["false", "false"]
    assert out(c, "start") == (0, "db: ready (a dependency)\nweb: up\n", "")
    assert text(c, "after-start").split() == ["true", "true"]


def test_time_outs_and_the_grace_times_sigkill(boot, tree: Tree):
    tree.service("stubborn", "trap '' TERM\nwhile :; do sleep 0.1; done")
    tree.service("never", "exec sleep 100", notification_fd="3\n", down="")
    c = run(boot, """
r short ignity stop --timeout 300 stubborn
a=$(date +%s%N)
r graced ignity stop stubborn
b=$(date +%s%N)
echo $(( (b - a) / 1000000 )) > /out/graced.ms
r never ignity start --timeout 300 never
""", env={"IGNITY_SERVICES_GRACETIME": "1500"})  # fmt: skip
    assert out(c, "short") == (1, "", "[ignity/control] stubborn: not down within 300 ms\n")
    # s6-supervise SIGKILLs it at the grace time (timeout-kill): down, and said so.
    assert out(c, "graced") == (0, "stubborn: down (stopped by operator)\n", "")
    assert int(text(c, "graced.ms")) < 10000
    assert out(c, "never") == (1, "", "[ignity/control] never: not ready within 300 ms (it is still starting)\n")


def test_bad_names_and_signals_are_one_line(boot, tree: Tree):
    tree.service("plain", "exec sleep 100")
    tree.service("off", "exec sleep 100", down="")
    c = run(boot, """
r unknown ignity stop nope
r dot ignity start .s6-svscan
r badsig ignity signal BOGUS plain
r none ignity restart
r down ignity signal HUP off
r badms ignity stop --timeout soon plain
""")  # fmt: skip
    services = "(services: off, plain)"
    assert out(c, "unknown") == (100, "", f"[ignity/control] 'nope' is not a service of this container {services}\n")
    assert out(c, "dot") == (100, "", f"[ignity/control] '.s6-svscan' is not a service of this container {services}\n")
    rc, _, err = out(c, "badsig")
    assert rc == 100 and err.startswith("[ignity/control] 'BOGUS' is not a signal s6 can send (one of ALRM,")
    rc, _, err = out(c, "none")
    assert rc == 100 and "the following arguments are required: NAME" in err and "Traceback" not in err
    assert out(c, "down") == (1, "", "[ignity/control] off: not running: no signal sent\n")
    rc, _, err = out(c, "badms")
    assert rc == 100 and "'soon' is not a whole number of milliseconds" in err


def test_another_uid_is_refused_and_s6s_fifos_agree(boot, tree: Tree):
    tree.service("plain", "exec sleep 100")
    c = run(boot, """
as1000() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
r stop as1000 ignity stop plain
r sig as1000 ignity signal KILL plain
r raw as1000 s6-svc -d $S/plain
s6-svstat -o up $S/plain > /out/after
stat -c '%a %u' $S/plain/supervise/control $S/plain/supervise > /out/modes
r st as1000 ignity status
""")  # fmt: skip
    refused = ("[ignity/control] uid 1000 may not control services (only root, or uid 0 which Ignity runs as): "
               "nothing changed\n")  # fmt: skip
    assert out(c, "stop") == (111, "", refused)
    assert out(c, "sig") == (111, "", refused)
    # s6's own control fifo is root's, 0600 (its directory 0711): s6-svc itself cannot either.
    assert out(c, "raw")[0] != 0
    assert text(c, "after").split() == ["true"]
    assert text(c, "modes").split("\n")[:2] == ["600 0", "711 0"]
    # Reading stays open to every uid.
    rc, status, err = out(c, "st")
    assert (rc, err) == (0, "") and row(status, "plain")[1] == "up"


def test_the_uid_ignity_runs_as_controls_its_services(boot, tree: Tree):
    tree.service("plain", "exec sleep 100")
    c = run(boot, """
r stop ignity stop plain
r start ignity start plain
r restart ignity restart plain
s6-svstat -o up $S/plain > /out/after
""", user="1000:1000", run_tmpfs="mode=1777")  # fmt: skip
    assert out(c, "stop") == (0, "plain: down (stopped by operator)\n", "")
    assert out(c, "start") == (0, "plain: up\n", "")
    assert out(c, "restart") == (0, "plain: restarted, up\n", "")
    assert text(c, "after").split() == ["true"]


def test_an_interrupted_restart_leaves_no_service_down(boot, tree: Tree):
    # a's finish says it runs, then waits: the SIGTERM (as Ctrl-C; sh ignores SIGINT for a `&`
    # command) lands while restart waits for a's stop.
    # a is asked up again (it starts once its finish ends); b, not reached yet, was never stopped.
    tree.init("10-fifo", "mkfifo -m 0600 /tmp/go /tmp/infinish")
    tree.service("a", "exec sleep 1000", finish="#!/bin/sh\necho > /tmp/infinish\nread x < /tmp/go\n")
    tree.service("b", "exec sleep 1000")
    c = run(
        boot,
        """
b=$(s6-svstat -o pid $S/b)
ignity restart a b > /out/r.out 2> /out/r.err & rp=$!
read x < /tmp/infinish
kill -TERM $rp
wait $rp; echo $? > /out/r.rc
echo go > /tmp/go
s6-svwait -u -t 10000 $S/a; echo $? > /out/a-up
[ "$(s6-svstat -o pid,wantedup $S/b)" = "$b true" ]; echo $? > /out/b-untouched
""",
    )
    assert text(c, "a-up") == "0\n"
    assert out(c, "r") == (143, "", "[ignity/control] a: restart cut short: asked to start again, not waited for\n")
    assert text(c, "b-untouched") == "0\n"
