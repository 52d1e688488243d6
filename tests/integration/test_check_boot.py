"""The boot-time check as PID 1 runs it: special files stop the boot at once, dependency errors
stop it before anything starts, and an image laid out for s6-overlay gets one warning per item."""

from __future__ import annotations

import os

import pytest

from tests.harness import Container
from tests.tree import Tree

WARNING = "[ignity/check] warning: "


def _failed_with_one_line(c: Container, path: str, text: str) -> None:
    assert c.wait(timeout=10) == 1  # hang guard: a read of a fifo would block PID 1 for ever
    naming = [line for line in c.lines if path in line]
    assert len(naming) == 1 and text in naming[0], c.output
    assert naming[0].startswith("[ignity/check] error: ")
    assert "Traceback" not in c.output
    assert any("nothing started" in line for line in c.lines), c.output


def test_a_fifo_as_an_env_file_fails_the_boot_at_once(boot, tree: Tree):
    """Passes once stage 1 runs check.at_boot before it reads the env files (issue #11 point 6)."""
    os.mkfifo(tree.root / "envs" / "10-x")
    c = boot("true")
    _failed_with_one_line(c, "/etc/ignity/envs/10-x", "is a fifo, expected a regular file")


@pytest.mark.parametrize("rel", ["perms/10-x", "services/web/timeout-kill", "init/10-x", "services/web/data/x"])
def test_a_fifo_anywhere_else_fails_the_boot_at_once(boot, tree: Tree, rel: str):
    tree.service("web", "exec sleep 100")
    (tree.root / rel).parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(tree.root / rel)
    c = boot("true")
    _failed_with_one_line(c, f"/etc/ignity/{rel}", "is a fifo, expected a regular file")


def test_a_dependency_cycle_fails_the_boot(boot, tree: Tree):
    tree.service("a", "exec sleep 100", **{"dependencies.d/b": ""})
    tree.service("b", "exec sleep 100", **{"dependencies.d/a": ""})
    c = boot("true")
    _failed_with_one_line(c, "dependency cycle", "/etc/ignity/services/a/dependencies.d: dependency cycle: a -> b -> a")


def test_an_unknown_dependency_fails_the_boot(boot, tree: Tree):
    tree.service("web", "exec sleep 100", **{"dependencies.d/db": ""})
    c = boot("true")
    _failed_with_one_line(c, "/etc/ignity/services/web/dependencies.d/db", "web depends on db, which is not a service")


S6_OVERLAY_LAYOUT = r"""
set -e
mkdir -p /etc/services.d/web /etc/cont-init.d /etc/cont-finish.d /etc/fix-attrs.d
mkdir -p /etc/s6-overlay/s6-rc.d/api /etc/s6-overlay/scripts
printf '#!/bin/sh\nexec sleep 100\n' > /etc/services.d/web/run
printf '#!/bin/sh\necho init\n' > /etc/cont-init.d/10-init
printf '#!/bin/sh\necho bye\n' > /etc/cont-finish.d/10-bye
echo '/data true root 0644 0755' > /etc/fix-attrs.d/01-data
echo longrun > /etc/s6-overlay/s6-rc.d/api/type
printf '#!/bin/sh\ntrue\n' > /etc/s6-overlay/scripts/setup
printf '#!/bin/sh\nexec "$@"\n' > /usr/bin/with-contenv
chmod +x /etc/services.d/web/run /etc/cont-init.d/10-init /etc/cont-finish.d/10-bye /usr/bin/with-contenv
chmod +x /etc/s6-overlay/scripts/setup  # else the check, which now reads the leftover scripts, says so
"""

# one warning per item: (what the line names, a word of the Ignity equivalent)
EXPECTED = [
    ("/etc/services.d: ", "/etc/ignity/services/NAME/"),
    ("/etc/cont-init.d: ", "/etc/ignity/init/"),
    ("/etc/cont-finish.d: ", "/etc/ignity/finalize/"),
    ("/etc/fix-attrs.d: ", "/etc/ignity/perms/"),
    ("/etc/s6-overlay/s6-rc.d: ", "longruns become /etc/ignity/services/NAME"),
    ("/etc/s6-overlay/scripts: ", "Ignity reads only /etc/ignity"),
    ("/etc/ignity/init/10-contenv:1: with-contenv", "#!/usr/bin/with-env sh"),
    ("/etc/ignity/services/app/finish:2: uses /var/run/s6/services", "ignity halt CODE"),
    ("/etc/ignity/envs/10-s6:1: S6_KILL_GRACETIME", "use IGNITY_KILL_GRACETIME"),
    ("environment: S6_LOGGING", "No equivalent"),
]


def test_an_s6_overlay_image_gets_one_warning_per_item_at_boot(boot, tree: Tree):
    image = boot.image.derive(S6_OVERLAY_LAYOUT)
    tree.init("10-contenv", "echo contenv ran", shebang="#!/usr/bin/with-contenv sh")
    tree.service("app", "exec sleep 100", finish="#!/bin/sh\ns6-svscanctl -t /var/run/s6/services\n")
    tree.env("10-s6", "S6_KILL_GRACETIME=1000\n")
    c = Container(image, tree.root, ["echo", "cmd ran"], env={"S6_LOGGING": "1"})
    try:
        assert c.wait(timeout=30) == 0, c.output  # warnings only: the boot goes on
        warnings = [line for line in c.lines if line.startswith(WARNING)]
        for where, fix in EXPECTED:
            mine = [line for line in warnings if line[len(WARNING) :].startswith(where)]
            assert len(mine) == 1, (where, c.output)
            assert fix in mine[0], mine[0]
        assert len(warnings) == len(EXPECTED), c.output
        assert "contenv ran" in c.lines and "cmd ran" in c.lines
        assert "init" not in c.lines  # /etc/cont-init.d is not run: that is what the warning says
    finally:
        c.cleanup()


def test_ignity_check_in_an_image_sees_env_files_too_large_for_exec(boot, tree: Tree, tmp_path):
    """`ignity check --root` (as in a Dockerfile's RUN) finds what the boot would refuse (issue #20 point 4)."""
    image = tmp_path / "image"
    (image / "etc/ignity/envs").mkdir(parents=True)
    (image / "etc/ignity/envs/20-big").write_text("".join(f"V{i:04d}={'x' * 1024}\n" for i in range(3000)))
    c = boot("sh", "-c", "ignity check --root /out/image; echo check=$?", files={"image": image})
    assert c.wait(timeout=60) == 0, c.output
    assert "check=1" in c.lines, c.output
    errors = [line for line in c.lines if line.startswith("error: /etc/ignity/envs: ")]
    assert len(errors) == 1, c.output
    assert "the environment is too large to pass to programs: 3000 variables, 3.0 MiB" in errors[0]
    assert "(/etc/ignity/envs/20-big 3.0 MiB)" in errors[0] and "— make the env files smaller" in errors[0]
