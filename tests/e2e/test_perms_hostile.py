"""A hostile or read-only volume under a perms rule, in a real Podman container (issues #10, #11).

The PID 1 harness suite (tests/integration/test_perms_hostile.py) covers the
cases one by one; these two are the issues' own examples, with real volumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree


def _perms_lines(c: Attached) -> list[str]:
    return [line for line in c.lines if line.startswith("[ignity/perms]")]


def test_a_link_in_the_middle_of_a_rule_path_changes_nothing(
    images: Images, run: Callable[..., Attached], tree: Tree, hostdir: Path
):
    # The example: /vol/data/cache where the volume's `data` is a link to /var.
    (hostdir / "data").symlink_to("/var")
    tree.root.joinpath("perms", "10-vol").write_text("/vol/data/cache 1234:1234 0666 0777\n")
    image = images.build(tree.root)
    c = run(image, "sh", "-c", "stat -c 'CACHE %u %g %a' /var/cache /var/cache/*; echo CMD-RAN",
            options=["-v", f"{hostdir}:/vol"])  # fmt: skip
    assert c.wait() == 0, c.output
    assert "CMD-RAN" in c.lines, c.output
    cache = [line for line in c.lines if line.startswith("CACHE ")]
    assert cache and all(not line.startswith("CACHE 1234") and not line.endswith(" 777") for line in cache), c.output
    assert _perms_lines(c) == [
        "[ignity/perms] /etc/ignity/perms/10-vol:1: /vol/data is a symbolic link, not followed: "
        "rule for /vol/data/cache skipped"
    ], c.output


def test_a_read_only_volume_is_one_warning_and_the_boot_goes_on(
    images: Images, run: Callable[..., Attached], tree: Tree, hostdir: Path
):
    (hostdir / "f").write_text("x")
    os.chmod(hostdir / "f", 0o600)
    tree.root.joinpath("perms", "10-ro").write_text("/data 1234:1234 0640 0750\n")
    tree.init("10-init", "echo init-ran")
    image = images.build(tree.root)
    c = run(image, "sh", "-c", "echo CMD-RAN; exit 3", options=["-v", f"{hostdir}:/data:ro"])
    assert c.wait() == 3, c.output
    assert "init-ran" in c.lines and "CMD-RAN" in c.lines, c.output
    assert _perms_lines(c) == [
        "[ignity/perms] /etc/ignity/perms/10-ro:1: /data: 2 entries could not be changed, "
        "first /data: Read-only file system"
    ], c.output
    st = (hostdir / "f").stat()
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o600)
