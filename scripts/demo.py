"""Boot the demo image's /etc/ignity as a real PID 1 and show the whole lifecycle."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import Container, Image

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ignity-demo-") as tmp:
        image = Image(Path(tmp))
        print(
            f"\n$ /init /out/cmd.sh    # as PID 1, with {DEMO.relative_to(Path.cwd())}/etc-ignity as /etc/ignity\n",
            flush=True,
        )
        c = Container(image, DEMO / "etc-ignity", ["/out/cmd.sh"], files={"cmd.sh": DEMO / "cmd.sh"}, echo=True)
        try:
            code = c.wait(timeout=60)
        finally:
            c.cleanup()
        print(f"\ncontainer exit status: {code}")
        return 0 if code == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
