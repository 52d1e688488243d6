"""Stage 0's sh variables never meet the container's environment (sh/stage0.sh: names start with ignity_).

Before, /init's latch flag was `stop`: an image with ENV stop=... stopped at boot.
"""

from __future__ import annotations

from typing import Callable

from tests.harness import Container


def test_variables_named_like_stage0s_own_change_nothing(boot: Callable[..., Container]) -> None:
    names = {"stop": "1", "reaper": "mine", "f": "x", "python": "/nowhere", "svscan": "/nowhere"}
    c = boot("sh", "-c", 'echo "cmd-ran $stop $reaper $f $python $svscan"; exit 3', env=names)
    assert c.wait(timeout=60) == 3, c.output
    assert "cmd-ran 1 mine x /nowhere /nowhere" in c.lines, c.output
