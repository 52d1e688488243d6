"""The core of Ignity on every base the docs list: Debian 11, 12 and 13, with the
full python3 and with python3-minimal only, on Podman and on Docker.

Each base brings its own Python (3.9, 3.11, 3.13), s6 (2.10, 2.11, 2.13) and
execline (2.7, 2.9.3, 2.9.6): what Ignity needs of them is found at install
and at boot (tools.find, the programs' own options), never assumed, and
these tests are where a difference would show. The ids name both axes,
e.g. `test_core_lifecycle[podman-debian11-minimal]`.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.images import Base, Images, make, rootfs, s6_version
from tests.e2e.podman import Attached
from tests.tree import Tree

WITH_ENV = "#!/usr/bin/with-env sh"
FULL = ("debian11", "debian12", "debian13")
MINIMAL = ("debian11-minimal", "debian12-minimal", "debian13-minimal")

pytestmark = [pytest.mark.engines("podman", "docker"), pytest.mark.bases(*FULL, *MINIMAL)]


def test_core_lifecycle_with_readiness_and_status(images: Images, run: Callable[..., Attached], tree: Tree):
    """env files, init, a service that becomes ready late (notification-fd), a CMD that waits
    for it, `ignity status` (table and --json) from the CMD, finalize, the CMD's status."""
    tree.env("10-base", "A=from-file\nIGNITY_CMD_WAIT_FOR_SERVICES=1\n")
    tree.init("10-first", 'echo "init A=$A as $(id -u)"', shebang=WITH_ENV)
    tree.service("plain", 'echo "plain up"; exec sleep 1000')
    tree.service(
        "late", 'sleep 0.3; echo "late ready A=$A"; echo >&3; exec sleep 1000', shebang=WITH_ENV, notification_fd="3"
    )
    tree.finalize("10-bye", 'echo "finalize A=$A"', shebang=WITH_ENV)
    cmd = (
        'echo "cmd A=$A"; ignity status --wait-ready=5000 && echo "status in order"; '
        'ignity status --json | sed "s/^/json: /"; exit 3'
    )
    c = run(images.build(tree.root), "sh", "-c", cmd)
    assert c.wait() == 3, c.output
    expected = ["init A=from-file as 0", "late ready A=from-file", "cmd A=from-file", "status in order",
                "finalize A=from-file"]  # fmt: skip
    lines = c.lines
    assert all(line in lines for line in expected), c.output
    assert [lines.index(line) for line in expected] == sorted(lines.index(line) for line in expected), c.output
    assert "plain up" in lines, c.output
    listed = json.loads("\n".join(line[len("json: ") :] for line in lines if line.startswith("json: ")))["services"]
    assert {(s["name"], s["state"], s["ready"], s["ok"]) for s in listed} == {
        ("late", "up", True, True),
        ("plain", "up", None, True),
    }, c.output
    assert not any("Traceback" in line or "ModuleNotFoundError" in line for line in lines), c.output


# Every value must reach with-env's program byte for byte (s6-envdir -fnL, then the empty ones).
VALUES = {
    "EMPTY": "",
    "NEWLINES": "line1\nline2\n",
    "ONLY_NL": "\n",
    "SPACES": "  padded \t ",
    "LONG": "z" * 10000,
    "UTF8": "héllo wörld ✓",
    "EQUALS": "a=b=c",
    "QUOTES": "\"'$HOME`x`",
}
# binascii: built into every Debian python3-minimal (json is not, on Debian 11 and 12).
DUMP = (
    "import os, binascii; print('ENV', ' '.join(k.decode() + '=' + binascii.hexlify(v).decode() "
    "for k, v in sorted(os.environb.items())))"
)


def test_with_env_passes_every_value_exactly(base: Base, images: Images, run: Callable[..., Attached], tree: Tree):
    tree.env("10-file", "FROM_FILE=file value\nFILE_EMPTY=\n")
    tree.init("10-dump", f'exec with-env python3 -c "{DUMP}"')
    options = [f"-e{name}={value}" for name, value in VALUES.items()]
    c = run(images.build(tree.root), "true", options=options)
    assert c.wait() == 0, c.output
    line = next((x for x in c.lines if x.startswith("ENV ")), None)
    assert line, c.output
    seen = dict(item.split("=", 1) for item in line[4:].split(" ") if item)
    # s6-envdir before 2.11.1.0 (Debian 11: 2.10) has no -L and cuts values at 4095 bytes:
    # ignity install sees it (tools.has_option) and with-env does what that s6 can.
    clamp = s6_version(base) < (2, 11, 1)
    for name, value in {**VALUES, "FROM_FILE": "file value", "FILE_EMPTY": ""}.items():
        assert name in seen, f"{name} missing: {line[:300]}"
        expected = value[:4095] if clamp else value
        assert binascii.unhexlify(seen[name]).decode() == expected, name


def test_ignity_check_on_a_good_and_a_bad_tree(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.service("svc", "exec sleep 1000")
    good = images.build(tree.root)
    quiet = run(good, "ignity", "check", options=["--entrypoint", ""])
    assert quiet.wait() == 0 and quiet.lines == [], quiet.output
    as_json = run(good, "ignity", "check", "--json", options=["--entrypoint", ""])
    assert as_json.wait() == 0, as_json.output
    assert json.loads(as_json.output) == {"errors": [], "warnings": []}, as_json.output
    (tree.root / "services" / "svc" / "run").chmod(0o644)  # not executable
    bad = run(images.build(tree.root), "ignity", "check", options=["--entrypoint", ""])
    assert bad.wait() == 1, bad.output
    assert any("/etc/ignity/services/svc/run" in line for line in bad.lines), bad.output
    assert not any("Traceback" in line for line in bad.lines), bad.output
    # At boot the same check stops the container before anything starts.
    boot = run(images.build(tree.root), "echo", "cmd ran")
    assert boot.wait() != 0, boot.output
    assert "cmd ran" not in boot.lines, boot.output


def test_seed_archive_is_where_the_bases_python_finds_it(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.init("10-init", 'echo "init: ignity is $(command -v ignity)"')
    script = "python3 -c 'import ignity; print(ignity.__file__)'; grep '^ignity_python=' /init"
    c = run(images.build(tree.root), "sh", "-c", script)
    assert c.wait() == 0, c.output
    assert "/usr/lib/python3/dist-packages/ignity/__init__.py" in c.lines, c.output
    assert "init: ignity is /usr/bin/ignity" in c.lines, c.output
    # /init is sh (stage 0); the interpreter it names for the boot process is the base's.
    assert any(line.startswith("ignity_python=/usr/bin/python3") for line in c.lines), c.output


@pytest.fixture(scope="module")
def wheel() -> Path:
    return make("wheel")


# Debian's own python3-pip (20.3, 23.0, 25.1): the minimal bases have no wheel path (pip needs the full python3).
@pytest.mark.bases("debian11-pip", "debian12-pip", "debian13-pip")
def test_image_from_the_wheel_runs_the_lifecycle(images: Images, run: Callable[..., Attached], tree: Tree, wheel: Path):
    tree.init("10-init", 'echo "init: ignity is $(command -v ignity)"')
    tree.service("svc", "echo svc up; exec sleep 1000")
    tree.finalize("10-fin", "echo finalize ran")
    cmd = "s6-svwait -u -t 5000 /run/ignity/services-state/svc && echo cmd ran; exit 5"
    c = run(images.wheel(wheel, tree.root), "sh", "-c", cmd)
    assert c.wait() == 5, c.output
    for expected in ("init: ignity is /usr/local/bin/ignity", "svc up", "cmd ran", "finalize ran"):
        assert expected in c.lines, c.output


def test_stop_takes_the_services_stop_time(base: Base, images: Images, run: Callable[..., Attached], tree: Tree):
    """`ENGINE stop`: every s6 of the matrix stops the services at once (s6 before 2.12 had a
    forced 1 s wait in s6-svscan's shutdown, which Ignity's stop does not go through), and
    the CMD with them. The CMD is not a shell (dash clears its signal mask as it starts):
    execline 2.9.4.0+ (Debian 13) gave it the waiter's blocked SIGTERM, so it got SIGKILL
    after both grace times (137, 8 s)."""
    tree.service("quick", 'echo "quick up"; exec sleep 1000')
    tree.service("slow", "trap 'echo slow stopping; sleep 0.5; echo slow stopped; exit 0' TERM\n"
                 'echo "slow up"; sleep 1000 & wait')  # fmt: skip
    tree.finalize("10-bye", "echo finalize ran")
    c = run(images.build(tree.root), "tail", "-f", "/etc/debian_version")
    c.wait_for("quick up")
    c.wait_for("slow up")
    c.wait_for((rootfs(base) / "etc/debian_version").read_text().strip())  # the CMD runs
    took = c.stop(grace=10)
    assert c.wait() == 143, c.output  # the CMD died of the SIGTERM
    assert "slow stopped" in c.lines and "finalize ran" in c.lines, c.output
    print(f"{c.engine.name} stop on {base.id}: {took:.2f} s")
    assert 0.5 <= took < 3.0, f"stop took {took:.2f} s"
