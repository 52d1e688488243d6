"""`ignity migrate`: write the /etc/ignity tree that does what an image's s6-overlay or supervisord setup does.

The converters (s6overlay, supervisord) only plan: every file, and a report
of what was converted to what and what could not be. Then the plan is shown
(--dry-run) or written all at once, never over an existing file without
--force. Bad input is one `file:line: problem` line and nothing written.
"""

from __future__ import annotations

import os
import sys

from ignity.errors import IgnityError

SOURCES = ("s6-overlay", "supervisord")


def main(source: str, root: str, file: str | None, dry_run: bool, force: bool) -> int:
    root = root.rstrip("/")
    try:
        if root and not os.path.isdir(root):
            raise IgnityError(f"{root}: no such directory: name the image's root directory with --root")
        if source == "s6-overlay":
            from ignity.migrate import s6overlay

            if file is not None:
                raise IgnityError("--from s6-overlay takes no FILE: it reads the image under --root (default /)")
            plan, report = s6overlay.convert(root, os.environ if not root else {})
        else:
            from ignity.migrate import supervisord

            if file is None:
                raise IgnityError(
                    "--from supervisord needs FILE, the supervisord.conf (e.g. /etc/supervisor/supervisord.conf)"
                )
            plan, report = supervisord.convert(root + file if root and file.startswith("/") else file, root)
        sys.stdout.write(report.text())
        if dry_run:
            sys.stdout.write(f"dry run: would write {len(plan.files)} file(s), nothing written:\n{plan.show(root)}")
            return 0
        count = plan.write(root, force)
    except IgnityError as e:
        sys.stdout.flush()
        sys.stderr.write(f"ignity migrate: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"ignity migrate: {e.filename or ''}: {e.strerror}: stopped; run again with --force\n")
        return 1
    sys.stdout.write(f"wrote {count} file(s) under {root or ''}/etc/ignity; next: ignity check\n")
    return 0
