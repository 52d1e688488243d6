"""`ignity reload` and `ignity logs` in a Podman container, through `podman exec`, and a
reload racing `podman stop`."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.images import Images
from tests.e2e.podman import Attached, Podman
from tests.tree import Tree

# Reload leans on s6's run-time behaviour (scan, -an, 'x', -wD), which differs per release.
pytestmark = [pytest.mark.bases("debian12", "debian11", "debian13")]

WAIT_UP = (
    "for s in keep slow web; do i=0; until s6-svwait -u -t 100 /run/ignity/services-state/$s 2>/dev/null; "
    "do i=$((i+1)); [ $i -le 200 ] || exit 93; done; done"
)


@pytest.fixture(scope="module")
def image(images: Images, tmp_path_factory: pytest.TempPathFactory) -> str:
    tree = Tree(tmp_path_factory.mktemp("reload") / "etc-ignity")
    tree.service("keep", "exec sleep 1000")
    # slow's finish waits on a fifo nobody writes: s6 kills it after timeout-finish (2 s).
    tree.init("10-fifo", "mkfifo /tmp/fin")
    tree.service("slow", "exec sleep 1000", finish="#!/bin/sh\nread x < /tmp/fin\n", timeout_finish="2000\n")
    tree.service("web", "echo listening; echo oops >&2; exec sleep 1000", output_mode="prefixed\n")
    return images.build(tree.root)


@pytest.fixture
def running(podman: Podman, image: str) -> Iterator[Attached]:
    c = podman.start(image, ["sleep", "1000"])
    try:
        c.wait_for("listening", timeout=60)  # the container runs: exec finds it
        assert c.exec("sh", "-c", WAIT_UP).returncode == 0, c.output
        yield c
    finally:
        c.cleanup()


def test_reload_and_logs_through_exec(running: Attached):
    pid = running.exec("s6-svstat", "-o", "pid", "/run/ignity/services-state/keep").stdout
    edit = (
        "mkdir /etc/ignity/services/newsvc && printf '#!/bin/sh\\necho new\\nexec sleep 1000\\n' "
        "> /etc/ignity/services/newsvc/run && chmod 755 /etc/ignity/services/newsvc/run && "
        "echo prefixed > /etc/ignity/services/newsvc/output-mode && rm -r /etc/ignity/services/slow"
    )
    assert running.exec("sh", "-c", edit).returncode == 0
    done = running.exec("ignity", "reload")
    assert (done.returncode, done.stdout, done.stderr) == (0, "added newsvc; removed slow\n", "")
    assert running.exec("s6-svstat", "-o", "pid", "/run/ignity/services-state/keep").stdout == pid
    logs = running.exec("sh", "-c", "i=0; until ignity logs newsvc | grep -q new; do i=$((i+1)); "
                        "[ $i -le 500 ] || exit 9; sleep 0.02; done; ignity logs web newsvc")  # fmt: skip
    assert logs.returncode == 0, logs.stderr
    assert sorted(logs.stdout.splitlines()) == ["newsvc | new", "web    ! oops", "web    | listening"]
    raw = running.exec("ignity", "logs", "keep")
    assert raw.returncode == 1 and "keep: output mode raw" in raw.stderr
    running.wait_for("newsvc | new")  # the container's own output, formatted as before


# Not debian13: there, any `podman stop` takes 8 s and ends in 137 (services still stopping after
# IGNITY_SERVICES_GRACETIME), reload or not, already at the commit this branch started from.
@pytest.mark.bases("debian12", "debian11")
def test_reload_racing_podman_stop(running: Attached):
    # The reload spends 2 s stopping slow (its finish), and `podman stop` comes then.
    edit = "printf '#!/bin/sh\\nexec sleep 999\\n' > /etc/ignity/services/slow/run; mkdir /etc/ignity/services/late"
    late = "/etc/ignity/services/late/run"
    edit += f" && printf '#!/bin/sh\\nexec sleep 1000\\n' > {late} && chmod 755 {late}"
    assert running.exec("sh", "-c", edit).returncode == 0
    result: dict[str, subprocess.CompletedProcess[str]] = {}
    reload = threading.Thread(target=lambda: result.setdefault("r", running.exec("ignity", "reload")))
    reload.start()
    wait = "i=0; until [ \"$(s6-svstat -o wantedup /run/ignity/services/slow)\" = false ]; do i=$((i+1)); " \
           "[ $i -le 500 ] || exit 9; sleep 0.02; done"  # fmt: skip
    assert running.exec("sh", "-c", wait).returncode == 0
    took = running.stop(grace=10)
    reload.join(30)
    assert running.wait(30) == 143, running.output  # the CMD's SIGTERM: the stop won
    assert took < 10
    r = result["r"]
    assert "Traceback" not in r.stderr
    assert r.returncode != 0
    assert r.stderr == "" or r.stderr.startswith("ignity reload: the container is stopping"), r.stderr
    assert "late" not in running.output
