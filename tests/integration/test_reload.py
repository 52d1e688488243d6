"""`ignity reload` inside a booted container (PID 1 harness): added, removed, changed and
unchanged services, a broken change, dependencies, and a stop of the container racing it.

The CMD makes /etc/ignity writable (the harness bind-mounts it read-only), edits
it, runs `ignity reload` and saves what it printed and s6's view under /out.
"""

from __future__ import annotations

from tests.harness import Container
from tests.tree import Tree, wait_up

PRELUDE = """
set -u
S=/run/ignity/services-state
E=/etc/ignity/services
mount -o remount,bind,rw /etc/ignity || exit 90
pid() { s6-svstat -o pid $S/$1; }
svc() { mkdir -p $E/$1; printf '#!/bin/sh\\n%s\\n' "$2" > $E/$1/run; chmod 755 $E/$1/run; }
reload() { ignity reload >/out/$1.out 2>/out/$1.err; echo $? >/out/$1.rc; }
"""


def run(boot, script: str, **kwargs: object) -> Container:
    c = boot("sh", "-c", PRELUDE + script, **kwargs)
    assert c.wait(timeout=90) == 0, c.output
    return c


def read(c: Container, name: str) -> str:
    return (c.out / name).read_text()


def test_added_removed_changed_and_unchanged(boot, tree: Tree):
    tree.service("keep", "exec sleep 1000")
    tree.service("other", "exec sleep 1000")
    tree.service("svc", "echo v1 > /out/svc.version; exec sleep 1000")
    c = run(
        boot,
        wait_up("keep", "other", "svc")
        + """
pid keep > /out/keep.before; pid svc > /out/svc.before; pid other > /out/other.before
svc newsvc 'echo new > /out/newsvc.ran; exec sleep 1000'
rm -r $E/other
svc svc 'echo v2 > /out/svc.version; exec sleep 1000'
reload r1
pid keep > /out/keep.after; pid svc > /out/svc.after; pid newsvc > /out/newsvc.pid
s6-svstat -o up $S/newsvc > /out/newsvc.up
ls -a $S > /out/scandir; ls -a /run/ignity/services > /out/services
kill -0 $(cat /out/other.before) 2>/dev/null && echo alive > /out/other.alive
reload r2
""",
    )
    assert read(c, "r1.rc") == "0\n", read(c, "r1.err")
    assert read(c, "r1.out") == "added newsvc; removed other; restarted svc\n"
    assert read(c, "keep.before") == read(c, "keep.after")
    assert read(c, "svc.before") != read(c, "svc.after")
    assert read(c, "svc.version") == "v2\n"
    assert read(c, "newsvc.up") == "true\n" and read(c, "newsvc.ran") == "new\n"
    assert "other" not in read(c, "scandir").split() and "newsvc" in read(c, "scandir").split()
    assert read(c, "services").split() == [".", "..", "keep", "newsvc", "svc"]
    assert not (c.out / "other.alive").exists()
    assert read(c, "r2.rc") == "0\n" and read(c, "r2.out").startswith("nothing changed")
    assert "[ignity" not in c.output.replace("[ignity/stage3] stopping", "").replace("[ignity/stage3] exiting", "")


def test_broken_addition_changes_nothing(boot, tree: Tree):
    tree.service("keep", "exec sleep 1000")
    c = run(
        boot,
        wait_up("keep")
        + """
pid keep > /out/keep.before
svc good 'exec sleep 1000'
mkdir $E/norun
svc cyc1 'exec sleep 1000'; svc cyc2 'exec sleep 1000'
mkdir $E/cyc1/dependencies.d $E/cyc2/dependencies.d; : > $E/cyc1/dependencies.d/cyc2; : > $E/cyc2/dependencies.d/cyc1
reload r1
pid keep > /out/keep.after
ls -a $S > /out/scandir; ls -a /run/ignity/services > /out/services
rm -r $E/norun $E/cyc1 $E/cyc2
reload r2
""",
    )
    assert read(c, "r1.rc") == "1\n"
    err = read(c, "r1.err").splitlines()
    assert any("norun" in line and "run" in line for line in err), err
    assert any("cycle" in line for line in err), err
    assert err[-1] == "ignity reload: 2 error(s): nothing changed", err
    assert all(line.startswith("ignity reload: ") for line in err)
    assert read(c, "keep.before") == read(c, "keep.after")
    assert read(c, "scandir").split() == [".", "..", ".s6-svscan", "keep"]
    assert read(c, "services").split() == [".", "..", "keep"]
    # Fixed, the same reload then applies it.
    assert read(c, "r2.rc") == "0\n" and read(c, "r2.out") == "added good\n", read(c, "r2.err")


def test_dependency_added_starts_in_order(boot, tree: Tree):
    tree.service("keep", "exec sleep 1000")
    tree.service("user", "exec sleep 1000")
    c = run(
        boot,
        wait_up("keep", "user")
        + """
pid user > /out/user.before
svc db 'read x < /tmp/db-go; echo >&3; exec sleep 1000'
echo 3 > $E/db/notification-fd
mkfifo /tmp/db-go
svc app 's6-svstat -o ready /run/ignity/services/db > /out/db-when-app; exec sleep 1000'
mkdir $E/app/dependencies.d; : > $E/app/dependencies.d/db; : > $E/app/dependencies.d/keep
mkdir $E/user/dependencies.d; : > $E/user/dependencies.d/app
( reload r1 ) &
# db is held until its supervisor runs; then it waits on the fifo: open it to let it be ready
echo go > /tmp/db-go
wait
pid user > /out/user.after
s6-svstat -o up $S/app > /out/app.up
""",
    )
    assert read(c, "r1.rc") == "0\n", read(c, "r1.err")
    assert read(c, "r1.out") == "added app, db; restarted user\n"
    assert read(c, "db-when-app") == "true\n"
    assert read(c, "app.up") == "true\n"
    assert read(c, "user.before") != read(c, "user.after")


def test_down_file_and_non_root_caller(boot, tree: Tree):
    tree.service("keep", "exec sleep 1000")
    c = run(
        boot,
        wait_up("keep")
        + """
svc lazy 'exec sleep 1000'; : > $E/lazy/down
setpriv --reuid=65534 --regid=65534 --clear-groups ignity reload >/out/nobody.out 2>/out/nobody.err
echo $? > /out/nobody.rc
ls $S > /out/scandir.nobody
reload r1
s6-svstat -o up,wantedup $S/lazy > /out/lazy
""",
    )
    assert read(c, "nobody.rc") == "1\n"
    assert read(c, "nobody.err").count("\n") == 1 and "may not reload" in read(c, "nobody.err")
    assert "lazy" not in read(c, "scandir.nobody").split()
    assert read(c, "r1.rc") == "0\n", read(c, "r1.err")
    assert read(c, "lazy") == "false false\n"


def test_two_reloads_at_once(boot, tree: Tree):
    # The first reload waits in the stop of `slow` (its finish reads a fifo); the second
    # starts then, and must wait for the first (a blocked flock in /proc/locks) before it
    # looks at anything.
    tree.init("10-fifo", "mkfifo /tmp/fin")
    tree.service("slow", "exec sleep 1000", finish="#!/bin/sh\nread x < /tmp/fin\n")
    c = run(
        boot,
        wait_up("slow")
        + """
svc slow 'exec sleep 999'; svc a 'exec sleep 1000'
( reload r1 ) &
i=0; until [ "$(s6-svstat -o wantedup $S/slow)" = false ]; do i=$((i+1)); [ $i -le 2000 ] || exit 91; sleep 0.01; done
( reload r2 ) &
i=0; until grep -q -- '->' /proc/locks; do i=$((i+1)); [ $i -le 2000 ] || exit 92; sleep 0.01; done
echo go > /tmp/fin
wait
ls -a $S > /out/scandir
""",
    )
    assert read(c, "r1.rc") == read(c, "r2.rc") == "0\n", read(c, "r1.err") + read(c, "r2.err")
    assert read(c, "r1.out") == "added a; restarted slow\n"
    assert read(c, "r2.out") == "nothing changed since the boot (or the last reload)\n"
    assert read(c, "scandir").split() == [".", "..", ".s6-svscan", "a", "slow"]


def test_a_reload_sees_the_stop_latch_before_its_next_step(boot, tree: Tree):
    # The reload stops the changed `slow`, whose finish waits on a fifo; the stop latch is
    # taken then (by hand, as stage 3 or a signal would: the latch is all the reload reads),
    # and only then the finish ends: the reload must end there, nothing swapped or linked.
    tree.init("10-fifo", "mkfifo /tmp/fin")
    tree.service("slow", "exec sleep 1000", finish="#!/bin/sh\nread x < /tmp/fin\n")
    tree.service("keep", "exec sleep 1000")
    c = run(
        boot,
        wait_up("slow", "keep")
        + """
svc slow 'echo v2; exec sleep 1000'
svc newsvc 'exec sleep 1000'
( reload r1 ) &
i=0; until [ "$(s6-svstat -o wantedup $S/slow)" = false ]; do i=$((i+1)); [ $i -le 2000 ] || exit 91; sleep 0.01; done
echo "halt 0" > /run/ignity/state/stopping
echo go > /tmp/fin
wait
ls -a $S > /out/scandir; ls -a /run/ignity/services > /out/services
""",
    )
    assert read(c, "r1.err") == "ignity reload: the container is stopping: reload abandoned after: stopped slow\n"
    assert read(c, "r1.rc") == "1\n"
    assert read(c, "scandir").split() == [".", "..", ".s6-svscan", "keep", "slow"]
    assert read(c, "services").split() == [".", "..", ".new-newsvc", ".new-slow", "keep", "slow"]


def test_stop_of_the_container_during_a_reload_wins(boot, tree: Tree):
    # The same, with a real stop (ignity halt 7) while the reload waits on slow's finish;
    # `lingering` (SIGTERM ignored, 3 s timeout-kill) keeps stage 3 busy meanwhile. The
    # reload ends in one line, whether it sees the latch first or stage 3's SIGTERM.
    tree.init("10-fifo", "mkfifo /tmp/fin")
    tree.service("slow", "exec sleep 1000", finish="#!/bin/sh\nread x < /tmp/fin\n")
    tree.service("lingering", "trap '' TERM; exec sleep 1000", timeout_kill="3000\n")
    tree.service("keep", "exec sleep 1000")
    tree.finalize("10-look", "ls -a /run/ignity/services-state > /out/scandir.final")
    script = """
svc slow 'echo v2; exec sleep 1000'
svc newsvc 'exec sleep 1000'
setsid sh -c 'ignity reload >/out/r1.out 2>/out/r1.err; echo $? >/out/r1.rc' &
i=0; until [ "$(s6-svstat -o wantedup $S/slow)" = false ]; do i=$((i+1)); [ $i -le 2000 ] || exit 91; sleep 0.01; done
setsid sh -c 'i=0; until [ -e /run/ignity/state/stopping ]; do i=$((i+1)); [ $i -le 2000 ] || exit 1; sleep 0.01; done
  echo go > /tmp/fin' &
exec ignity halt 7
"""
    c = boot("sh", "-c", PRELUDE + wait_up("slow", "keep", "lingering") + script)
    assert c.wait(timeout=60) == 7, c.output
    assert "Traceback" not in c.output
    assert read(c, "r1.err") in (
        "ignity reload: the container is stopping: reload abandoned after: stopped slow\n",
        "ignity reload: the container is stopping: reload abandoned where it was (see ignity status)\n",
    )
    # Nothing was swapped or linked once the stop was decided: what stage 3 stopped is what ran.
    assert read(c, "scandir.final").split() == [".", "..", ".s6-svscan", "keep", "lingering", "slow"]


def test_reload_as_the_uid_ignity_runs_as(boot, tree: Tree, tmp_path):
    import os

    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    os.mkfifo(out / "go")
    os.chmod(out / "go", 0o666)
    tree.service("keep", "exec sleep 1000")
    tree.service("svc", "exec sleep 1000", output_mode="prefixed\n")
    c = boot("sh", "-c", wait_up("keep", "svc") + """
S=/run/ignity/services-state
s6-svstat -o pid $S/keep > /out/keep.before
read x < /out/go
ignity reload > /out/r1.out 2> /out/r1.err; echo $? > /out/r1.rc
s6-svstat -o pid $S/keep > /out/keep.after; s6-svstat -o up $S/added > /out/added.up
stat -c %u /run/ignity/services/added/run /run/ignity/services/svc/log/ring > /out/owners
""", user="1000:1000", run_tmpfs="mode=1777", out=out)  # fmt: skip
    with open(out / "go", "w") as f:  # returns once the CMD, booted, opens it to read
        tree.service("added", "exec sleep 1000")
        (tree.root / "services" / "svc" / "run").write_text("#!/bin/sh\necho v2\nexec sleep 1000\n")
        f.write("go\n")
    assert c.wait(timeout=60) == 0, c.output
    assert read(c, "r1.rc") == "0\n", read(c, "r1.err")
    assert read(c, "r1.out") == "added added; restarted svc\n"
    assert read(c, "keep.before") == read(c, "keep.after")
    assert read(c, "added.up") == "true\n"
    assert read(c, "owners").split() == ["1000", "1000"]


def test_formatted_services_leave_no_logger_behind(boot, tree: Tree):
    # The stderr reader of a prefixed service waits on its fifo for the next instance:
    # removed or replaced, it must end, and the new one logs (ring included).
    tree.service("svc", "echo v1; exec sleep 1000", output_mode="prefixed\n")
    tree.service("gone", "echo bye; exec sleep 1000", output_mode="json\n")
    c = run(
        boot,
        wait_up("svc", "gone")
        + """
i=0; until ignity logs svc 2>/dev/null | grep -q v1; do i=$((i+1)); [ $i -le 2000 ] || exit 94; sleep 0.01; done
ignity logs -f svc > /out/follow & f=$!
i=0; until grep -q v1 /out/follow; do i=$((i+1)); [ $i -le 2000 ] || exit 95; sleep 0.01; done
svc svc 'echo v2; echo v2-err >&2; exec sleep 1000'; echo prefixed > $E/svc/output-mode
rm -r $E/gone
reload r1
for p in /proc/[0-9]*; do readlink $p/cwd; done 2>/dev/null | grep -c old- > /out/left || true
i=0; until ignity logs svc 2>/dev/null | grep -q v2-err; do i=$((i+1)); [ $i -le 2000 ] || exit 92; sleep 0.01; done
ignity logs svc > /out/logs
# -f, started before the reload, follows the new copy's ring
i=0; until grep -q v2-err /out/follow; do i=$((i+1)); [ $i -le 2000 ] || exit 93; sleep 0.01; done
kill $f
""",
    )
    assert read(c, "r1.out") == "removed gone; restarted svc\n", read(c, "r1.err")
    assert read(c, "left") == "0\n"
    assert sorted(read(c, "logs").splitlines()) == ["svc ! v2-err", "svc | v2"]
    assert "svc | v2" in c.lines or "svc  | v2" in c.lines
    assert sorted(read(c, "follow").splitlines()) == ["svc ! v2-err", "svc | v1", "svc | v2"]


def test_an_interrupt_after_the_swap_waits_for_the_reload_to_finish(boot, tree: Tree):
    # The new copy of svc says it runs, then is ready only on /tmp/go: the SIGINT lands while the
    # reload waits for that readiness (after the swap). It is held: the reload finishes, then says so.
    tree.init("10-fifo", "mkfifo -m 0600 /tmp/go /tmp/instart")
    tree.service("svc", "exec sleep 1000")
    c = run(
        boot,
        wait_up("svc")
        + """
svc svc 'echo > /tmp/instart; read x < /tmp/go; echo >&3; exec sleep 1000'
echo 3 > $E/svc/notification-fd
ignity reload >/out/r1.out 2>/out/r1.err & rp=$!
read x < /tmp/instart
kill -INT $rp
echo go > /tmp/go
wait $rp; echo $? > /out/r1.rc
s6-svstat -o up,ready $S/svc > /out/svc
""",
    )
    assert read(c, "r1.rc") == "130\n"
    assert read(c, "r1.out") == "restarted svc\n"
    assert read(c, "r1.err") == "ignity reload: interrupted by signal 2: the reload was finished first\n"
    assert read(c, "svc") == "true true\n"
