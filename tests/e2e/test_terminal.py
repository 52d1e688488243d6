"""An interactive CMD under `run -it` (Podman and Docker), driven through a pseudo-terminal as a terminal would."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.images import Images
from tests.e2e.podman import Attached
from tests.tree import Tree

pytestmark = pytest.mark.engines("podman", "docker")


def test_interactive_cmd_reads_the_terminal_and_ctrl_c_gives_130(
    images: Images, run: Callable[..., Attached], tree: Tree
):
    tree.service("svc", "trap 'echo svc stopping; exit 0' TERM\necho svc up; sleep 1000 & wait")
    tree.finalize("10-bye", "echo finalize ran")
    script = 'echo "ready on $(tty)"; read -r line; echo "got: $line"; echo waiting; sleep 1000'
    c = run(images.build(tree.root), "bash", "-c", script, options=["-it"], tty=True)
    c.wait_for("ready on /dev/pts/")
    c.write(b"hello there\r")  # Enter, as a terminal sends it
    c.wait_for("got: hello there")
    c.wait_for("waiting")
    c.write(b"\x03")  # Ctrl-C: the container's terminal sends SIGINT to its foreground group, the CMD
    assert c.wait() == 130, c.output
    # The terminal echoes the Ctrl-C as "^C" with no newline: whatever comes next shares its line.
    lines = [line.removeprefix("^C") for line in c.lines]
    assert "svc stopping" in lines and "finalize ran" in lines, c.output
