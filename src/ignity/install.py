"""`ignity install`: lay out /init and the helpers in an image (or under --root).

with-env is an execline script, not Python: it sits in the shebang of every
init script and service, so it costs two small execs, not an interpreter.
"""

from __future__ import annotations

import os
import sys

from ignity import log, paths, runtime, templates, tools
from ignity.errors import IgnityError

PHASE = "install"

PYTHON_HELPERS = {
    "load-envfile": "ignity.helpers.load_envfile",
    "with-retries": "ignity.helpers.with_retries",
    "fix-perms": "ignity.helpers.fix_perms",
    "preboot": "ignity.helpers.preboot",
    "ignity": "ignity.cli",
}


def with_env_script(root: str = "") -> str:
    """The with-env program (sh/with-env.execline): the merged environment, then the empty values, then PROG.

    s6-envdir's -L (a value of any length) exists from s6 2.11.1.0 on; an older
    one (Debian 11) cuts values at 4095 bytes.
    """
    return templates.render(
        "with-env.execline",
        {
            "execlineb": tools.find("execlineb", root),
            "envdir": tools.find("s6-envdir", root),
            "flags": "-fnL" if tools.has_option("s6-envdir", "L", root) else "-fn",
            "envs": paths.ENVS,
            "empty": paths.ENVS_EMPTY,
        },
    )


def install(root: str = "", python: str | None = None, bindir: str = "/usr/bin") -> list[str]:
    """Write /init and the helpers under `root`; return the paths written."""
    root = root.rstrip("/")
    tools.check_all(root)
    python = python or sys.executable
    if not os.access(root + python, os.X_OK):
        raise IgnityError(f"{python} not found in {root or '/'}: name the image's interpreter with --python")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = here[len(root) :] if root and here.startswith(root + "/") else ("" if root else here)
    written = []

    def put(path: str, text: str) -> None:
        full = root + path
        os.makedirs(os.path.dirname(full), exist_ok=True)
        tmp = f"{full}.ignity-new"
        runtime.write_file(tmp, text, 0o755)
        os.replace(tmp, full)
        written.append(path)

    if not root:
        _compile(here)
    svscan, svscanctl = tools.find("s6-svscan", root), tools.find("s6-svscanctl", root)
    written += runtime.install_files(root, python, parent, svscan, svscanctl)
    put(f"{bindir}/with-env", with_env_script(root))
    if bindir != "/usr/bin":
        put("/usr/bin/with-env", with_env_script(root))
    for name, module in PYTHON_HELPERS.items():
        put(f"{bindir}/{name}", runtime.python_script(module, python, parent))
    os.makedirs(root + paths.ETC, exist_ok=True)
    for sub in ("envs", "perms", "init", "finalize", "services"):
        os.makedirs(f"{root}{paths.ETC}/{sub}", exist_ok=True)
    return written


def _compile(package_parent: str) -> None:
    """Byte-compile Ignity where it is installed: a container that cannot write
    there (non-root, read-only root) would otherwise compile it at every start.

    py_compile, not compileall: Debian 11's python3-minimal has a compileall
    that cannot be imported (its pathlib wants ntpath, which is not there).
    """
    import py_compile

    for directory, dirs, files in os.walk(f"{package_parent}/ignity"):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                try:
                    py_compile.compile(os.path.join(directory, name), doraise=True)
                except (OSError, py_compile.PyCompileError):
                    pass  # a read-only place: Python compiles in memory at each start, as without this


def main(root: str, python: str | None) -> int:
    try:
        written = install(root, python)
    except IgnityError as e:
        log.error(PHASE, str(e))
        return 1
    except OSError as e:
        log.error(PHASE, f"{e.filename}: {e.strerror}")
        return 1
    log.info(PHASE, f"installed {', '.join(written)}{' under ' + root if root else ''}")
    return 0
