"""`ignity logs` inside a booted container (PID 1 harness): the ring of prefixed and json
services, a service's own log/, raw refused with the hint, -f, and the ring's bound."""

from __future__ import annotations

from tests.harness import Container
from tests.tree import Tree, wait_up

PRELUDE = """
set -u
# The loggers write asynchronously: a bounded wait (hang guard 20 s) until `ignity logs ARGS`
# shows TEXT.
until_logged() {
  text=$1; shift; i=0
  until ignity logs "$@" 2>/dev/null | grep -qF -- "$text"; do
    i=$((i + 1)); [ $i -le 2000 ] || exit 92; sleep 0.01
  done
}
"""


def run(boot, script: str, **kwargs: object) -> Container:
    c = boot("sh", "-c", PRELUDE + script, **kwargs)
    assert c.wait(timeout=120) == 0, c.output[-3000:]
    return c


def read(c: Container, name: str) -> str:
    return (c.out / name).read_text()


def test_prefixed_json_and_own_log_services(boot, tree: Tree):
    talk = "echo one; echo two >&2; echo three; exec sleep 1000"
    tree.service("pre", talk, output_mode="prefixed\n")
    tree.service("js", talk, output_mode="json\n")
    own = tree.service("own", "echo mine; echo also-mine; exec sleep 1000")
    (own / "log").mkdir()
    (own / "log" / "run").write_text("#!/bin/sh\nexec s6-log n2 s4096 /tmp/own-logs\n")
    (own / "log" / "run").chmod(0o755)
    c = run(
        boot,
        wait_up("pre", "js", "own")
        + """
until_logged three pre; until_logged three js; until_logged also-mine own
ignity logs pre > /out/pre; ignity logs js > /out/js; ignity logs own > /out/own
ignity logs -n 2 pre > /out/pre.2
ignity logs > /out/all; echo $? > /out/all.rc
""",
    )
    # Each stream in its order; the two merged by the time their logger read them.
    for name in ("pre", "js"):
        lines = read(c, name).splitlines()
        assert sorted(lines) == sorted([f"{name} | one", f"{name} ! two", f"{name} | three"]), lines
        assert [x for x in lines if " | " in x] == [f"{name} | one", f"{name} | three"]
    assert read(c, "own") == "own | mine\nown | also-mine\n"
    assert read(c, "pre.2").splitlines() == read(c, "pre").splitlines()[-2:]
    assert read(c, "all.rc") == "0\n"
    everything = read(c, "all").splitlines()
    assert [x for x in everything if x.startswith("own")] == ["own | mine", "own | also-mine"]
    expected = ["js  | one", "js  ! two", "js  | three", "own | mine", "own | also-mine"]
    expected += ["pre | one", "pre ! two", "pre | three"]
    assert sorted(everything) == sorted(expected)
    # The container's own output is as before: formatted once, by the loggers.
    assert c.lines.count("pre      | one") + c.lines.count("pre | one") == 1


def test_raw_is_refused_with_the_hint(boot, tree: Tree):
    tree.service("plain", "echo hi; exec sleep 1000")
    tree.service("pre", "echo hi; exec sleep 1000", output_mode="prefixed\n")
    script = """
ignity logs plain > /out/out 2> /out/err; echo $? > /out/rc
ignity logs nosuch 2> /out/err2; echo $? > /out/rc2
setpriv --reuid=65534 --regid=65534 --clear-groups ignity logs pre > /out/out3 2> /out/err3; echo $? > /out/rc3
"""
    c = run(boot, wait_up("plain", "pre") + script)
    # Another uid than root's (Ignity's) cannot read the ring: one line.
    assert read(c, "rc3") == "1\n" and read(c, "out3") == ""
    assert read(c, "err3").startswith("ignity logs: pre: cannot read /run/ignity/services/pre/log/ring/stdout: ")
    assert "only root and the uid Ignity runs as may read the logs" in read(c, "err3")
    assert read(c, "rc") == "1\n" and read(c, "out") == ""
    err = read(c, "err")
    assert err.count("\n") == 1, err
    assert "plain: output mode raw" in err and "/etc/ignity/services/plain/output-mode" in err
    assert "ignity reload" in err and "IGNITY_SERVICES_OUTPUT=prefixed" in err
    assert read(c, "rc2") == "1\n" and read(c, "err2") == "ignity logs: nosuch: no such service\n"


def test_follow_sees_a_new_line(boot, tree: Tree):
    tree.init("10-fifo", "mkfifo /tmp/say")
    tree.service("echoer", "echo first; while :; do read line < /tmp/say && echo \"$line\"; done",
                 output_mode="prefixed\n")  # fmt: skip
    c = run(
        boot,
        wait_up("echoer")
        + """
until_logged first echoer
ignity logs -f echoer > /out/follow 2>&1 &
f=$!
# -f has printed what was there: then a new line
i=0; until grep -q first /out/follow; do i=$((i + 1)); [ $i -le 2000 ] || exit 93; sleep 0.01; done
echo second > /tmp/say
i=0; until grep -q second /out/follow; do i=$((i + 1)); [ $i -le 2000 ] || exit 94; sleep 0.01; done
kill -TERM $f; wait $f; echo $? > /out/follow.rc
""",
    )
    assert read(c, "follow") == "echoer | first\nechoer | second\n"
    assert read(c, "follow.rc") == "0\n"


def test_the_ring_stays_bounded(boot, tree: Tree):
    # 100 MB in lines of 3900 bytes (under the 4000-byte write: one output line each).
    tree.service("flood", "head -c 100000000 /dev/zero | tr '\\0' x | fold -w 3900; echo flood-end; exec sleep 1000",
                 output_mode="prefixed\n")  # fmt: skip
    c = run(
        boot,
        wait_up("flood")
        + """
until_logged flood-end flood
du -sb /run/ignity/services/flood/log/ring > /out/du
ignity logs flood | wc -l > /out/lines
""",
    )
    used = int(read(c, "du").split()[0])
    assert used < 3 * 65536, used  # IGNITY_SERVICES_LOG_BYTES (default) a stream, and s6-log's slack
    assert sum(1 for line in c.lines if line.startswith("flood | x")) == 100000000 // 3900 + 1
    assert int(read(c, "lines")) >= 8
