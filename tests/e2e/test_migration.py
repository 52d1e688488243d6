"""Coming from s6-overlay (issue #14): an image laid out for s6-overlay gets one warning per item,
with the Ignity equivalent, from `RUN ignity check` at build and from the boot, and still boots."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

# What an s6-overlay image has, as Dockerfile lines (the base image's ENV included).
S6_OVERLAY_STEPS = [
    "RUN mkdir -p /etc/services.d/web /etc/cont-init.d /etc/cont-finish.d /etc/fix-attrs.d"
    " /etc/s6-overlay/s6-rc.d/api /etc/s6-overlay/s6-rc.d/user/contents.d"
    " && printf '#!/bin/sh\\nexec sleep 100\\n' > /etc/services.d/web/run"
    " && printf '#!/bin/sh\\necho legacy init\\n' > /etc/cont-init.d/10-init"
    " && printf '#!/bin/sh\\necho bye\\n' > /etc/cont-finish.d/10-bye"
    " && echo '/data true root 0644 0755' > /etc/fix-attrs.d/01-data"
    " && echo longrun > /etc/s6-overlay/s6-rc.d/api/type"
    " && echo bundle > /etc/s6-overlay/s6-rc.d/user/type"
    " && printf '#!/bin/sh\\nexec \"$@\"\\n' > /usr/bin/with-contenv"
    " && chmod +x /etc/services.d/web/run /etc/cont-init.d/10-init /etc/cont-finish.d/10-bye /usr/bin/with-contenv",
    "ENV S6_CMD_WAIT_FOR_SERVICES_MAXTIME=0",
    "RUN ignity check > /check-at-build.txt",
]

# (where the line starts, a piece of the Ignity equivalent it gives)
EXPECTED = [
    ("/etc/services.d: ", "/etc/ignity/services/NAME/"),
    ("/etc/cont-init.d: ", "/etc/ignity/init/"),
    ("/etc/cont-finish.d: ", "/etc/ignity/finalize/"),
    ("/etc/fix-attrs.d: ", "/etc/ignity/perms/"),
    ("/etc/s6-overlay/s6-rc.d: s6-rc service definitions (bundle: user; longrun: api)", "bundles have no equivalent"),
    ("/etc/ignity/init/10-contenv:1: with-contenv", "#!/usr/bin/with-env sh"),
    ("/etc/ignity/services/app/finish:2: uses /var/run/s6/services", "ignity halt CODE"),
    ("/etc/ignity/envs/10-s6:1: S6_VERBOSITY", "use IGNITY_VERBOSITY"),
    ("environment: S6_CMD_WAIT_FOR_SERVICES_MAXTIME", "use IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME"),
]


def _one_each(lines: list[str], prefix: str) -> None:
    warnings = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    for where, fix in EXPECTED:
        mine = [line for line in warnings if line.startswith(where)]
        assert len(mine) == 1, (where, lines)
        assert fix in mine[0], mine[0]
    assert len(warnings) == len(EXPECTED), lines


def test_s6_overlay_layout_warns_at_build_and_at_boot(images: Images, run: Callable[..., Attached], tree: Tree):
    tree.init("10-contenv", "echo contenv ran", shebang="#!/usr/bin/with-contenv sh")
    tree.service("app", "exec sleep 100", finish="#!/bin/sh\ns6-svscanctl -t /var/run/s6/services\n")
    tree.env("10-s6", "S6_VERBOSITY=2\n")
    image = images.build(tree.root, S6_OVERLAY_STEPS)

    built = run(image, "/check-at-build.txt", options=["--entrypoint", "cat"])
    assert built.wait() == 0, built.output
    _one_each(built.lines, "warning: ")

    c = run(image, "echo", "cmd ran")
    assert c.wait() == 0, c.output  # warnings only: the boot goes on
    _one_each(c.lines, "[ignity/check] warning: ")
    assert "contenv ran" in c.lines and "cmd ran" in c.lines
    assert "legacy init" not in c.lines  # not run under Ignity: what the warning says
