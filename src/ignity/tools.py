"""Where the s6 and execline programs are, and what to install when they are not.

Debian keeps execline's commands in /usr/lib/execline/bin, off PATH, so the
programs Ignity chains are always named by absolute path.
"""

from __future__ import annotations

import os

from ignity.errors import IgnityError

SEARCH = (
    "/usr/lib/execline/bin",
    "/usr/bin",
    "/bin",
    "/usr/sbin",
    "/sbin",
    "/usr/local/bin",
    "/command",
)

PACKAGE = {
    "s6": "s6 (Debian/Ubuntu: apt-get install s6; Alpine: apk add s6)",
    "execline": "execline (Debian/Ubuntu: apt-get install execline; Alpine: apk add execline)",
}

# program -> package it comes from
PROGRAMS = {
    "s6-svscan": "s6",
    "s6-svscanctl": "s6",
    "s6-svc": "s6",
    "s6-svstat": "s6",
    "s6-envdir": "s6",
    "s6-ftrig-listen": "s6",
    "execlineb": "execline",
    "foreground": "execline",
    "tryexec": "execline",
    "exit": "execline",
    "importas": "execline",
    "redirfd": "execline",
}

_cache: dict[str, str] = {}


def find(name: str, root: str = "") -> str:
    """Absolute path of `name` (as seen inside `root`), or an IgnityError naming the package."""
    key = f"{root}\0{name}"
    if key in _cache:
        return _cache[key]
    dirs = list(SEARCH)
    if not root:
        dirs += [p for p in os.environ.get("PATH", "").split(":") if p.startswith("/")]
    for d in dirs:
        candidate = f"{d}/{name}"
        if os.access(root + candidate, os.X_OK) and not os.path.isdir(root + candidate):
            if name == "execlineb" and d == "/usr/bin" and _is_debian_wrapper(root + candidate):
                continue
            _cache[key] = candidate
            return candidate
    package = PROGRAMS.get(name)
    hint = f": install {PACKAGE[package]}" if package else ""
    raise IgnityError(f"{name} not found{hint}")


def has_option(name: str, option: str, root: str = "") -> bool:
    """Whether the program `name` (under `root`) takes `-OPTION`, read from the usage line
    compiled into it (skarnet programs print `USAGE "prog [ -a ] [ -b ] ..."`).

    Read, not run: `ignity install --root DIR` must not execute the image's
    programs. The options Ignity asks about came in with a known version
    (s6-envdir -L: s6 2.11.1.0); older ones lack both the option and its
    mention, newer ones keep both.
    """
    marker = f"[ -{option} ]".encode()
    try:
        with open(root + find(name, root), "rb") as f:
            return marker in f.read(4 << 20)
    except OSError:
        return False


def _is_debian_wrapper(path: str) -> bool:
    """Debian's /usr/bin/execlineb is a shell wrapper that costs three execs a script."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def check_all(root: str = "") -> None:
    """Fail with one line naming every missing package."""
    missing: dict[str, list[str]] = {}
    for name, package in PROGRAMS.items():
        try:
            find(name, root)
        except IgnityError:
            missing.setdefault(package, []).append(name)
    if missing:
        parts = [f"{', '.join(progs)} not found: install {PACKAGE[pkg]}" for pkg, progs in missing.items()]
        raise IgnityError("; ".join(parts))
