"""`ignity status`: what s6 says about each service, as a table and as JSON,
its exit status, and `--wait-ready`, run inside a booted container.

Each CMD is a shell script that drives the services with s6's own events
(`s6-svwait`, fifos the services block on) and saves every output of the
command under /out, which the test reads once the container has exited.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import Container
from tests.tree import Tree

PRELUDE = """
set -u
st() { ignity status "$@"; }
S=/run/ignity/services-state
# s6-svwait needs a supervisor's first status: a bounded poll (hang guard 10 s)
# for s6-svscan to have started s6-supervise on each service named.
supervised() {
  for s; do
    i=0
    until [ -s $S/$s/supervise/status ]; do i=$((i + 1)); [ $i -le 1000 ] || exit 93; sleep 0.01; done
  done
}
"""

COLUMNS = ["NAME", "STATE", "READY", "PID", "FOR", "LAST EXIT", "DEATHS", "WANTED", "HEALTH", "NOTE"]


def run(boot, script: str) -> Container:
    c = boot("sh", "-c", PRELUDE + script)
    assert c.wait(timeout=60) == 0, c.output
    return c


def read(c: Container, name: str) -> str:
    return (c.out / name).read_text()


def rc(c: Container, name: str) -> int:
    return int(read(c, name))


def table(text: str) -> dict[str, dict[str, str]]:
    """Rows by name, cut at the header's column starts: the columns must line up."""
    header, *rows = text.rstrip("\n").split("\n")
    starts = [header.index(column) for column in COLUMNS]
    assert starts == sorted(starts), header
    assert [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None])] == COLUMNS
    parsed = {}
    for row in rows:
        cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        assert all(cells), f"empty cell or misaligned row: {row!r}"
        parsed[cells[0]] = dict(zip(COLUMNS, cells))
    return parsed


def objects(text: str) -> dict[str, dict[str, object]]:
    return {o["name"]: o for o in json.loads(text)["services"]}


def logger(service: Path, run: str) -> None:
    log = service / "log"
    log.mkdir()
    (log / "run").write_text(f"#!/bin/sh\n{run}\n")
    (log / "run").chmod(0o755)


def test_up_down_ready_and_not_yet_ready_services(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/slow-go")
    tree.service("plain", "exec sleep 100")
    tree.service("quick", "echo >&3; exec sleep 100", notification_fd="3\n")
    tree.service("slow", "read x < /tmp/slow-go; echo >&3; exec sleep 100", notification_fd="3\n")
    tree.service("lazy", "exec sleep 100", down="")
    logger(tree.service("logged", "exec sleep 100"), "exec cat > /dev/null")
    c = run(boot, """
supervised plain slow quick logged logged/log
s6-svwait -u -t 10000 $S/plain $S/slow $S/logged $S/logged/log && s6-svwait -U -t 10000 $S/quick || exit 90
s6-svstat -p $S/plain > /out/plain.pid
st > /out/t1; echo $? > /out/t1.rc
st --json > /out/j1; echo $? > /out/j1.rc
echo > /tmp/slow-go
s6-svwait -U -t 10000 $S/slow || exit 91
st > /out/t2; echo $? > /out/t2.rc
st --json > /out/j2; echo $? > /out/j2.rc
""")  # fmt: skip
    names = ["lazy", "logged", "logged/log", "plain", "quick", "slow"]
    plain_pid = read(c, "plain.pid").strip()

    # slow has not said it is ready: not in order, exit 1.
    t1 = table(read(c, "t1"))
    assert list(t1) == names
    assert rc(c, "t1.rc") == 1
    assert t1["plain"] | {"FOR": "?"} == {"NAME": "plain", "STATE": "up", "READY": "-", "PID": plain_pid,
                                          "FOR": "?", "LAST EXIT": "-", "DEATHS": "0", "WANTED": "up",
                                          "HEALTH": "-", "NOTE": "-"}  # fmt: skip
    assert t1["plain"]["FOR"].rstrip("s").isdigit()
    assert (t1["quick"]["STATE"], t1["quick"]["READY"]) == ("up", "yes")
    assert (t1["slow"]["STATE"], t1["slow"]["READY"]) == ("up", "no")
    assert t1["slow"]["PID"].isdigit()
    assert (t1["lazy"]["STATE"], t1["lazy"]["PID"], t1["lazy"]["LAST EXIT"], t1["lazy"]["WANTED"]) == (
        "down", "-", "-", "down")  # fmt: skip
    for name in ("logged", "logged/log"):
        assert (t1[name]["STATE"], t1[name]["READY"], t1[name]["WANTED"]) == ("up", "-", "up")
    assert t1["logged"]["PID"] != t1["logged/log"]["PID"]

    j1 = objects(read(c, "j1"))
    assert list(j1) == names
    assert rc(c, "j1.rc") == 1
    assert j1["plain"] | {"seconds": 0} == {
        "name": "plain", "state": "up", "ready": None, "pid": int(plain_pid), "seconds": 0,
        "exit_code": None, "exit_signal": None, "deaths": 0, "deaths_capped": False,
        "wanted_up": True, "normally_up": True, "paused": False, "failed": False, "failed_reason": None,
        "done": None, "restart": None, "operator": False, "job": None, "waits_for": [],
        "health": None, "health_failures": None, "health_last_failure": None, "health_restarts": None,
        "note": None, "ok": True, "live": True,
    }  # fmt: skip
    assert isinstance(j1["plain"]["seconds"], int)
    assert (j1["quick"]["ready"], j1["quick"]["ok"]) == (True, True)
    assert (j1["slow"]["state"], j1["slow"]["ready"], j1["slow"]["ok"]) == ("up", False, False)
    assert (j1["lazy"]["state"], j1["lazy"]["pid"], j1["lazy"]["wanted_up"], j1["lazy"]["normally_up"]) == (
        "down", None, False, False)  # fmt: skip
    assert j1["lazy"]["ok"] is True  # not wanted up: in order
    assert j1["logged/log"]["state"] == "up" and isinstance(j1["logged/log"]["pid"], int)

    # Once slow is ready everything wanted up is in order: exit 0 (lazy stays down).
    t2 = table(read(c, "t2"))
    assert (t2["slow"]["READY"], rc(c, "t2.rc")) == ("yes", 0)
    assert t2["lazy"]["STATE"] == "down"
    j2 = objects(read(c, "j2"))
    assert (j2["slow"]["ready"], j2["slow"]["ok"], rc(c, "j2.rc")) == (True, True, 0)


def test_crash_looping_service_shows_its_deaths_growing(boot, tree: Tree):
    tree.service("crashy", "exit 3")
    tree.service("killed", "kill -USR1 $$")
    tree.service("steady", "exec sleep 100")
    # One cycle: wait for a start, then for its death (each within 5 s).
    c = run(boot, """
cycle() { s6-svwait -u -t 5000 $S/$1 && s6-svwait -d -t 5000 $S/$1; }
supervised crashy killed
cycle crashy && cycle crashy && cycle killed || exit 90
st > /out/t1; echo $? > /out/t1.rc
st --json > /out/j1; echo $? > /out/j1.rc
cycle crashy && cycle crashy || exit 91
st --json > /out/j2; echo $? > /out/j2.rc
""")  # fmt: skip
    t1 = table(read(c, "t1"))
    assert rc(c, "t1.rc") == 1  # crashy and killed are wanted up, and down
    # Between a death and s6's next start (its 1-s pause) the finish wrapper has recorded the restart.
    assert (t1["crashy"]["STATE"], t1["crashy"]["LAST EXIT"], t1["crashy"]["WANTED"]) == ("restarting", "exit 3", "up")
    assert t1["crashy"]["NOTE"].startswith("restarts in "), t1["crashy"]
    assert int(t1["crashy"]["DEATHS"]) >= 2
    assert t1["killed"]["LAST EXIT"] == "signal SIGUSR1" and int(t1["killed"]["DEATHS"]) >= 1
    assert (t1["steady"]["DEATHS"], t1["steady"]["LAST EXIT"]) == ("0", "-")

    j1, j2 = objects(read(c, "j1")), objects(read(c, "j2"))
    assert rc(c, "j1.rc") == 1
    assert (j1["crashy"]["exit_code"], j1["crashy"]["exit_signal"], j1["crashy"]["ok"]) == (3, None, False)
    assert (j1["killed"]["exit_code"], j1["killed"]["exit_signal"]) == (None, "SIGUSR1")
    deaths1, deaths2 = j1["crashy"]["deaths"], j2["crashy"]["deaths"]
    assert isinstance(deaths1, int) and isinstance(deaths2, int)
    assert deaths1 >= 2 and deaths2 >= deaths1 + 2, (deaths1, deaths2)  # two more starts, two more deaths
    assert j2["crashy"]["deaths_capped"] is False
    assert rc(c, "j2.rc") == 1
    assert j2["steady"]["deaths"] == 0


def test_service_running_its_finish_script_is_finishing(boot, tree: Tree):
    tree.init("10-fifos", "mkfifo /tmp/fin-started /tmp/fin-go")
    # The finish script tells the CMD it runs, then blocks until the CMD has
    # looked; exit 125 (permanent failure) keeps the service down afterwards.
    tree.service("fin", "exit 4", timeout_finish="20000\n",
                 finish="#!/bin/sh\necho > /tmp/fin-started\nread x < /tmp/fin-go\nexit 125\n")  # fmt: skip
    tree.service("steady", "exec sleep 100")
    c = run(boot, """
read x < /tmp/fin-started
st > /out/t1; echo $? > /out/t1.rc
st --json > /out/j1; echo $? > /out/j1.rc
echo > /tmp/fin-go
s6-svwait -D -t 10000 $S/fin || exit 91
st > /out/t2; echo $? > /out/t2.rc
st --json > /out/j2; echo $? > /out/j2.rc
""")  # fmt: skip
    t1 = table(read(c, "t1"))
    assert t1["fin"] == {"NAME": "fin", "STATE": "finishing", "READY": "-", "PID": "-", "FOR": t1["fin"]["FOR"],
                         "LAST EXIT": "exit 4", "DEATHS": "1", "WANTED": "up", "HEALTH": "-", "NOTE": "-"}  # fmt: skip
    assert rc(c, "t1.rc") == 1  # wanted up, not up
    j1 = objects(read(c, "j1"))
    assert (j1["fin"]["state"], j1["fin"]["exit_code"], j1["fin"]["deaths"], j1["fin"]["ok"]) == (
        "finishing", 4, 1, False)  # fmt: skip
    assert rc(c, "j1.rc") == 1

    # Finished with 125: s6 no longer wants it up and will not restart it; it
    # should be up (no down file, no s6-svc -d), so it is a failure, not "in order".
    t2 = table(read(c, "t2"))
    assert (t2["fin"]["STATE"], t2["fin"]["WANTED"], t2["fin"]["LAST EXIT"]) == ("failed", "down", "exit 4")
    assert t2["fin"]["NOTE"] == "given up: finish exited 125"
    assert rc(c, "t2.rc") == 1
    j2 = objects(read(c, "j2"))
    assert (j2["fin"]["state"], j2["fin"]["wanted_up"], j2["fin"]["failed"], j2["fin"]["ok"]) == (
        "failed", False, True, False)  # fmt: skip
    assert rc(c, "j2.rc") == 1


# A bounded poll (hang guard: 10 s) for the moment the command is blocked in s6-svwait.
WAITING = """
i=0
until grep -qx s6-svwait /proc/[0-9]*/comm 2>/dev/null; do
  i=$((i + 1)); [ $i -le 1000 ] || exit 92; sleep 0.01
done
"""


def test_wait_ready_waits_for_a_service_that_becomes_ready_late(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/late-go")
    tree.service("late", "read x < /tmp/late-go; echo >&3; exec sleep 100", notification_fd="3\n")
    tree.service("plain", "exec sleep 100")
    c = run(boot, f"""
st --wait-ready --json > /out/j & waiter=$!
{WAITING}
s6-svstat -o up,ready $S/late > /out/before
echo > /tmp/late-go
wait $waiter; echo $? > /out/j.rc
st --wait-ready=0 > /out/t; echo $? > /out/t.rc
""")  # fmt: skip
    # The command was blocked in s6-svwait while late was not ready, and
    # reports it ready: it waited for the event.
    assert read(c, "before").split() == ["true", "false"]
    assert rc(c, "j.rc") == 0
    j = objects(read(c, "j"))
    assert (j["late"]["ready"], j["late"]["ok"], j["plain"]["ok"]) == (True, True, True)
    # Already in order: returns at once, with no time limit given.
    assert rc(c, "t.rc") == 0
    assert table(read(c, "t"))["late"]["READY"] == "yes"


def test_wait_ready_gives_up_after_its_time(boot, tree: Tree):
    tree.service("never", "exec sleep 100", notification_fd="3\n")
    tree.service("crashy", "exit 1")
    tree.service("fine", "echo >&3; exec sleep 100", notification_fd="3\n")
    c = run(boot, """
supervised never fine
s6-svwait -u -t 10000 $S/never && s6-svwait -U -t 10000 $S/fine || exit 90
a=$(date +%s%N)
st --wait-ready=700 > /out/t; echo $? > /out/t.rc
b=$(date +%s%N)
echo $(( (b - a) / 1000000 )) > /out/t.ms
a=$(date +%s%N)
st --json --wait-ready 300 > /out/j; echo $? > /out/j.rc
b=$(date +%s%N)
echo $(( (b - a) / 1000000 )) > /out/j.ms
""")  # fmt: skip
    assert rc(c, "t.rc") == 1
    assert 700 <= rc(c, "t.ms") < 3000
    t = table(read(c, "t"))
    assert (t["never"]["STATE"], t["never"]["READY"]) == ("up", "no")
    assert t["fine"]["READY"] == "yes"
    assert rc(c, "j.rc") == 1
    assert 300 <= rc(c, "j.ms") < 2500
    j = objects(read(c, "j"))
    assert (j["never"]["ready"], j["never"]["ok"], j["fine"]["ok"], j["crashy"]["ok"]) == (False, False, True, False)


def test_usage_errors_and_no_running_supervision_tree(boot, tree: Tree):
    # In stage 3 the phase is `stopping`: the command says so in one line, and exits 4.
    tree.finalize("10-status", PRELUDE + "st > /out/fin.out 2> /out/fin.err; echo $? > /out/fin.rc\n"
                  "setpriv --reuid 1000 --regid 1000 --clear-groups ignity status > /out/fin1000.out 2>&1\n"
                  "echo $? > /out/fin1000.rc")  # fmt: skip
    c = run(boot, """
st --bogus 2> /out/bogus.err; echo $? > /out/bogus.rc
st --wait-ready=soon 2> /out/soon.err; echo $? > /out/soon.rc
st --help > /out/help; echo $? > /out/help.rc
unshare -m sh -c 'mount -t tmpfs none /run/ignity && exec ignity status' > /out/gone.out 2> /out/gone.err
echo $? > /out/gone.rc
""")  # fmt: skip
    assert (rc(c, "bogus.rc"), rc(c, "soon.rc"), rc(c, "help.rc")) == (100, 100, 0)
    assert "--bogus" in read(c, "bogus.err")
    assert "'soon' is not a whole number of milliseconds" in read(c, "soon.err")
    assert "--wait-ready" in read(c, "help") and "ignity status" in read(c, "help")

    assert rc(c, "gone.rc") == 111
    assert read(c, "gone.out") == ""
    assert read(c, "gone.err").splitlines() == [
        "[ignity/status] /run/ignity/services-state does not exist: not in a running Ignity container"
    ]

    assert rc(c, "fin.rc") == 4
    assert read(c, "fin.out") == "stopping\n"
    assert read(c, "fin.err") == ""
    # Another uid cannot look at s6-svscan's fifo: stage 3's own `stopping` tells it.
    assert (rc(c, "fin1000.rc"), read(c, "fin1000.out")) == (4, "stopping\n")
