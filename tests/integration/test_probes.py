"""The probes at every instant of a container's life: `ignity status` (readiness) says
`starting` and exits 3 during the boot, `--wait-ready` waits through it, `--live` is 0
while booting and running and non-zero once a service is given up on or the container
stops; and a status loop running from the first init script to the last instant of
stage 3 never crashes nor shows a half-linked service."""

from __future__ import annotations

import json

from tests.harness import Container
from tests.tree import Tree

S = "/run/ignity/services-state"


def read(c: Container, name: str) -> str:
    return (c.out / name).read_text()


def rc(c: Container, name: str) -> int:
    return int(read(c, name))


def test_status_during_the_boot_says_starting_and_wait_ready_waits_through_it(boot, tree: Tree):
    # 10: a --wait-ready started during the boot tells a fifo when it returns.
    waiter = "{ ignity status --wait-ready=60000 > /out/w.out; echo $? > /out/w.rc; echo > /tmp/w-done; } &"
    tree.init("10-waiter", "mkfifo /tmp/w-done\n" + waiter)
    # 20: the probes while an init script runs (the boot is not complete).
    tree.init("20-probe", """
ignity status > /out/s.out 2> /out/s.err; echo $? > /out/s.rc
ignity status --live > /out/l.out; echo $? > /out/l.rc
ignity status --json > /out/j.out; echo $? > /out/j.rc
ignity status --wait-ready=300 > /out/short.out; echo $? > /out/short.rc
[ -e /out/w.rc ] || echo still-waiting > /out/w.during
""")  # fmt: skip
    tree.init("30-last", "true")
    tree.service("web", "echo >&3; exec sleep 100", notification_fd="3\n")
    tree.service("plain", "exec sleep 100")
    c = boot("sh", "-c", "read x < /tmp/w-done; ignity status --live > /out/l2.out; echo $? > /out/l2.rc")
    assert c.wait(timeout=60) == 0, c.output

    assert rc(c, "s.rc") == 3
    assert read(c, "s.out") == "starting: init script 2 of 3: 20-probe\n"
    assert read(c, "s.err") == ""
    assert rc(c, "l.rc") == 0 and read(c, "l.out") == "starting: init script 2 of 3: 20-probe\n"
    j = json.loads(read(c, "j.out"))
    assert rc(c, "j.rc") == 3
    assert j == {"phase": "starting", "detail": "init script 2 of 3: 20-probe", "ready": False, "live": True,
                 "services": []}  # fmt: skip
    # A bounded wait that ends during the boot: still starting.
    assert rc(c, "short.rc") == 3
    # The waiter started during the boot waited through it, and returned ready with every service.
    assert read(c, "w.during") == "still-waiting\n"
    assert rc(c, "w.rc") == 0
    rows = read(c, "w.out").splitlines()
    assert rows[0].startswith("NAME") and sorted(r.split()[0] for r in rows[1:]) == ["plain", "web"]
    assert {r.split()[0]: r.split()[1] for r in rows[1:]} == {"plain": "up", "web": "up"}
    assert rc(c, "l2.rc") == 0


def test_status_while_waiting_for_a_dependency_names_it(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/db-go")
    tree.service("db", "read x < /tmp/db-go; echo >&3; exec sleep 100", notification_fd="3\n")
    tree.service("web", "exec sleep 100")
    (tree.root / "services/web/dependencies.d").mkdir()
    (tree.root / "services/web/dependencies.d/db").write_text("")
    # A probe from outside stage 2: a background loop started by an init script, until
    # stage 2 reports waiting for db (a bounded poll: stage 2 sends no event to wait on).
    tree.init("20-probe", """
{
  i=0
  until ignity status > /tmp/s.out; [ $? = 3 ] && grep -q "waiting for db" /tmp/s.out; do
    i=$((i + 1)); [ $i -le 2000 ] || exit 0; sleep 0.01
  done
  cp /tmp/s.out /out/s.out
  ignity status --live; echo $? > /out/l.rc
  echo > /tmp/db-go
} &
""")  # fmt: skip
    c = boot("sh", "-c", "ignity status --wait-ready=30000 > /out/w.out; echo $? > /out/w.rc")
    assert c.wait(timeout=60) == 0, c.output
    first, header, *rows = read(c, "s.out").splitlines()
    assert first == "starting: waiting for db" and header.startswith("NAME")
    states = {r.split()[0]: r.split()[1] for r in rows}
    assert states == {"db": "up", "web": "down"}
    assert next(r for r in rows if r.startswith("web ")).endswith("waits for db")
    assert rc(c, "l.rc") == 0
    assert rc(c, "w.rc") == 0


def test_live_after_a_service_is_given_up_on_and_while_stopping(boot, tree: Tree):
    tree.service("broken", "exit 3", finish="#!/bin/sh\nexit 125\n")
    tree.service("fine", "exec sleep 100")
    tree.finalize("10-probe", "ignity status --live > /out/fin.out; echo $? > /out/fin.rc")
    c = boot("sh", "-c", """
ignity status --wait-ready=20000 > /out/r.out; echo $? > /out/r.rc
ignity status --live > /out/l.out; echo $? > /out/l.rc
ignity status --live --json > /out/lj.out; true
""")  # fmt: skip
    assert c.wait(timeout=60) == 0, c.output
    # --wait-ready ends at once on a give-up: nothing will restart it.
    assert rc(c, "r.rc") == 1
    assert rc(c, "l.rc") == 1
    broken = next(r for r in read(c, "l.out").splitlines() if r.startswith("broken"))
    assert broken.split()[1] == "failed" and broken.endswith("given up: finish exited 125")
    lj = json.loads(read(c, "lj.out"))
    assert (lj["phase"], lj["ready"], lj["live"]) == ("running", False, False)
    # In stage 3: stopping, for both probes.
    assert (rc(c, "fin.rc"), read(c, "fin.out")) == (4, "stopping\n")


LOOP = """
mkfifo /tmp/loop-go
{
  n=0
  while :; do
    ignity status > /dev/null 2> /tmp/err; code=$?
    n=$((n + 1))
    echo "$code" >> /out/codes
    if [ -s /tmp/err ]; then cat /tmp/err >> /out/errors; fi
  done
} &
"""


def test_a_status_loop_from_boot_to_the_end_of_the_stop_never_fails(boot, tree: Tree):
    # Many services, some with dependencies: the link, the held starts, the stop.
    tree.init("10-loop", LOOP)
    tree.init("20-wait", "i=0; until [ -s /out/codes ]; do i=$((i + 1)); [ $i -le 1000 ] || exit 1; sleep 0.01; done")
    for i in range(12):
        d = tree.service(f"s{i:03}", "exec sleep 100", **({"notification_fd": "3\n"} if i % 3 == 0 else {}))
        if i % 3 == 0:
            (d / "run").write_text("#!/bin/sh\necho >&3; exec sleep 100\n")
        if i % 4 == 1:
            (d / "dependencies.d").mkdir()
            (d / "dependencies.d" / "s000").write_text("")
    # A slow finish: the services' stop lasts a while, with the loops running.
    (tree.root / "services/s002/finish").write_text("#!/bin/sh\nsleep 0.5\n")
    (tree.root / "services/s002/finish").chmod(0o755)
    tree.finalize("10-more", "i=0; while [ $i -lt 20 ]; do i=$((i + 1)); ignity status > /dev/null 2>> /out/errors;"
                  " echo $? >> /out/fcodes; done")  # fmt: skip
    c = boot("sh", "-c", """
ignity status --wait-ready=30000 > /out/ready; echo $? > /out/ready.rc
n=$(wc -l < /out/codes)
i=0; until [ $(wc -l < /out/codes) -gt $((n + 10)) ]; do i=$((i + 1)); [ $i -le 3000 ] || exit 1; sleep 0.01; done
""")  # fmt: skip
    assert c.wait(timeout=90) == 0, c.output
    assert rc(c, "ready.rc") == 0
    codes = read(c, "codes").split()
    assert len(codes) > 5
    assert set(codes) <= {"0", "1", "3", "4"}, sorted(set(codes))
    assert "3" in codes and "0" in codes
    assert set(read(c, "fcodes").split()) == {"4"}
    assert read(c, "errors") == ""
