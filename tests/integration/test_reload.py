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
    c = run(boot, wait_up("keep", "other", "svc") + """
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
""")
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
