"""The `ignity` command: a thin layer over the modules that do the work."""

from __future__ import annotations

import argparse
import os
import sys

from ignity import __version__, log, paths, status, tools
from ignity.errors import IgnityError

TYPE_CHECKING = False  # typing costs milliseconds at every boot; only mypy needs it
if TYPE_CHECKING:
    from typing import NoReturn


def halt(code: int) -> int:
    """Bring the container down with exit status `code` (for a service's finish script).

    Records nothing when the calling service is itself being stopped (its
    finish runs in its service directory, wanted down: an operator's
    `s6-svc -d`, `s6-svscanctl -t`, or stage 3), or when the container is
    already stopping: a service being stopped cannot change the status.
    """
    if _caller_wanted_down():
        log.info("halt", "this service is being stopped: nothing recorded")
        return 0
    if status.stopping():
        log.info("halt", "the container is already stopping")
        return 0
    if not (os.access(paths.STATE, os.W_OK) and os.access(paths.SVSCAN_CONTROL, os.W_OK)):
        log.error("halt", f"uid {os.geteuid()} cannot stop the container (only the user Ignity runs as can; "
                  "call ignity halt before any s6-setuidgid): nothing recorded")  # fmt: skip
        return 1
    try:
        if not status.latch(f"halt {code}"):
            log.info("halt", "the container is already stopping")
            return 0
    except OSError as e:
        log.error("halt", f"cannot record exit status {code} in {paths.STOPPING}: {e.strerror}")
        return 1
    try:
        from ignity import runtime

        runtime.close_cmd_gate()
        argv = runtime.stop_argv()
        os.execv(argv[0], argv)
    except (OSError, IgnityError) as e:
        log.error("halt", f"cannot stop the container: {e}")
    return 111


def _caller_wanted_down() -> bool:
    """Whether we run in a supervised service directory whose service is wanted down."""
    if not os.path.exists("supervise/status"):
        return False
    import subprocess

    try:
        out = subprocess.run(
            [tools.find("s6-svstat"), "-o", "wantedup", "."], capture_output=True, text=True, check=False
        ).stdout.strip()
    except (OSError, IgnityError):
        return False
    return out == "false"


def _code(text: str) -> int:
    if not text.isdigit() or int(text) > 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not an exit status (0-255)")
    return int(text)


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines")
    return int(text)


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="ignity", description="Process supervision for containers, on s6.")
    parser.add_argument("--version", action="version", version=f"ignity {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="lay out /init and the helpers in this image")
    p_install.add_argument("--root", default="", help="install under this directory instead of /")
    p_install.add_argument("--python", default=None, help="interpreter for /init (default: this one)")
    p_check = sub.add_parser("check", help="validate /etc/ignity without running anything")
    p_check.add_argument("--root", default="", help="check the tree under this directory instead of /")
    p_check.add_argument("--json", action="store_true", help='print {"errors": [...], "warnings": [...]}')
    sub.add_parser("status", help="the services' state; exit 0 when every wanted service is up (and ready)",
                   add_help=False)  # fmt: skip
    p_halt = sub.add_parser("halt", help="stop the container with exit status CODE (default 0)")
    p_halt.add_argument("code", nargs="?", type=_code, default=0)
    # logs and reload (README "Logs and reload")
    p_logs = sub.add_parser("logs", help="the last lines services wrote (stdout |, stderr !); -f follows")
    p_logs.add_argument("-f", "--follow", action="store_true", help="then print new lines as they come")
    p_logs.add_argument("-n", "--lines", type=_count, default=None, metavar="N", help="the last N lines a service")
    p_logs.add_argument("names", nargs="*", metavar="NAME")
    sub.add_parser("reload", help="apply the changes made to /etc/ignity/services since the boot")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["status"]:  # its own options: ignity status --help
        from ignity import svstatus

        sys.exit(svstatus.main(argv[1:]))
    args = parser.parse_args(argv)
    if args.command == "check":
        from ignity import check

        sys.exit(check.main(args.root, args.json))
    if args.command == "logs":
        from ignity import logs

        sys.exit(logs.main(args.names, args.lines, args.follow))
    if args.command == "reload":
        from ignity import reload

        sys.exit(reload.main())
    if args.command == "install":
        from ignity import install

        sys.exit(install.main(args.root, args.python))
    sys.exit(halt(args.code))
