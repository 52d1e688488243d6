"""The `ignity` command: a thin layer over the modules that do the work."""

from __future__ import annotations

import argparse
import os
import sys

from ignity import __version__, log, paths, status
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
    """Whether we run in a supervised service directory whose service is wanted down.

    Only a run-time copy under /run/ignity/services counts (a finish runs
    there): another uid's directory could hold a fifo or a forged status.
    The status is read as stage 3 reads it (svfile: ours, regular, bounded).
    """
    try:
        cwd = os.getcwd()
    except OSError:
        return False
    rest = cwd[len(paths.SERVICES) + 1 :].split("/") if cwd.startswith(paths.SERVICES + "/") else []
    if not (len(rest) == 1 or (len(rest) == 2 and rest[1] == "log")) or not all(rest):
        return False
    from ignity import svfile

    try:
        return not svfile.wanted_up(cwd)
    except (OSError, IgnityError):
        return False


def _code(text: str) -> int:
    if not text.isdigit() or int(text) > 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not an exit status (0-255)")
    return int(text)


# The docs page of each command, named at the end of its --help (docs/*.md, also the site mkdocs builds).
DOCS = {
    "ignity": "reference.md",
    "install": "getting-started.md",
    "check": "operating.md",
    "status": "operating.md",
    "start": "operating.md",
    "stop": "operating.md",
    "restart": "operating.md",
    "signal": "operating.md",
    "halt": "services.md",
    "migrate": "from-s6-overlay.md",
    "logs": "operating.md",
    "reload": "operating.md",
}


def epilog(command: str) -> str:
    """The last line of `ignity COMMAND --help`: the docs page that says more."""
    return f"Docs: docs/{DOCS[command]} (in Ignity's source, and a page of its docs site)."


# Commands that parse their own options, one line each: name -> help.
OWN_PARSER_HELP = {
    "status": "the phase and the services' state; exit 0 when ready (--live: alive; --wait-ready)",
    "start": "start services (and their dependencies); return once up, or ready",
    "stop": "stop services; return once down (stopped by operator)",
    "restart": "stop, then start services; return once up again",
    "signal": "send a signal to running services: ignity signal HUP NAME",
}


def _own_parser(command: str, argv: list[str]) -> int:
    """Run a command that parses its own options; its exit status."""
    if command == "status":
        from ignity import svstatus

        return svstatus.main(argv)
    from ignity import control  # start, stop, restart, signal

    return control.main(command, argv)


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines")
    return int(text)


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(
        prog="ignity", description="Process supervision for containers, on s6.", epilog=epilog("ignity")
    )
    parser.add_argument("--version", action="version", version=f"ignity {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="lay out /init and the helpers in this image", epilog=epilog("install"))
    p_install.add_argument("--root", default="", help="install under this directory instead of /")
    p_install.add_argument("--python", default=None, help="interpreter for /init (default: this one)")
    p_check = sub.add_parser("check", help="validate /etc/ignity without running anything", epilog=epilog("check"))
    p_check.add_argument("--root", default="", help="check the tree under this directory instead of /")
    p_check.add_argument("--json", action="store_true", help='print {"errors": [...], "warnings": [...]}')
    for name, what in OWN_PARSER_HELP.items():
        sub.add_parser(name, help=what, add_help=False)
    p_halt = sub.add_parser("halt", help="stop the container with exit status CODE (default 0)", epilog=epilog("halt"))
    p_halt.add_argument("code", nargs="?", type=_code, default=0)
    p_migrate = sub.add_parser(
        "migrate", help="write /etc/ignity from an s6-overlay or supervisord setup", epilog=epilog("migrate")
    )
    p_migrate.add_argument("--from", dest="source", required=True, choices=("s6-overlay", "supervisord"))
    p_migrate.add_argument("file", nargs="?", default=None, help="supervisord: the supervisord.conf")
    p_migrate.add_argument("--root", default="", help="the image's root directory (default /)")
    p_migrate.add_argument("--dry-run", action="store_true", help="show the plan and the report, write nothing")
    p_migrate.add_argument("--force", action="store_true", help="replace files already in /etc/ignity")
    # logs and reload (docs/operating.md)
    p_logs = sub.add_parser(
        "logs", help="the last lines services wrote (stdout |, stderr !); -f follows", epilog=epilog("logs")
    )
    p_logs.add_argument("-f", "--follow", action="store_true", help="then print new lines as they come")
    p_logs.add_argument("-n", "--lines", type=_count, default=None, metavar="N", help="the last N lines a service")
    p_logs.add_argument("names", nargs="*", metavar="NAME")
    sub.add_parser(
        "reload", help="apply the changes made to /etc/ignity/services since the boot", epilog=epilog("reload")
    )
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in OWN_PARSER_HELP:  # commands with their own options: ignity status --help
        sys.exit(_own_parser(argv[0], argv[1:]))
    args = parser.parse_args(argv)
    if args.command == "check":
        from ignity import check

        sys.exit(check.main(args.root, args.json))
    if args.command == "migrate":
        from ignity import migrate

        sys.exit(migrate.main(args.source, args.root, args.file, args.dry_run, args.force))
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
