"""The IGNITY_* settings: parsed once, validated strictly.

A value that is not a number is a start-up error naming the variable and the
value, never a silent default: a typo in a grace time must not turn into a
container that is SIGKILLed mid-write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ignity.errors import IgnityError

# name -> (default, kind); kind "ms" is milliseconds, "bool" is 0/1, "level" is 0..2.
KNOWN: dict[str, tuple[int, str]] = {
    "IGNITY_CMD_WAIT_FOR_SERVICES": (0, "bool"),
    "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": (5000, "ms"),
    "IGNITY_KILL_FINALIZE_MAXTIME": (5000, "ms"),
    "IGNITY_SERVICES_GRACETIME": (5000, "ms"),
    "IGNITY_KILL_GRACETIME": (3000, "ms"),
    "IGNITY_SKIP_PERMS": (0, "bool"),
    "IGNITY_SYNC_DISKS": (0, "bool"),
    "IGNITY_VERBOSITY": (1, "level"),
}


@dataclass(frozen=True)
class Config:
    """Validated settings; attribute names are the variables without IGNITY_."""

    cmd_wait_for_services: int = 0
    cmd_wait_for_services_maxtime: int = 5000
    kill_finalize_maxtime: int = 5000
    services_gracetime: int = 5000
    kill_gracetime: int = 3000
    skip_perms: int = 0
    sync_disks: int = 0
    verbosity: int = 1

    def dump(self) -> str:
        """Serialise for the later stages (one NAME=VALUE a line)."""
        return "".join(f"IGNITY_{f.name.upper()}={getattr(self, f.name)}\n" for f in fields(self))


def _parse_value(name: str, raw: str, kind: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        what = {"ms": "a whole number of milliseconds", "bool": "0 or 1", "level": "0, 1 or 2"}
        raise IgnityError(f"{name}={raw!r}: not a valid value, expected {what[kind]}")
    value = int(text)
    if kind == "bool" and value not in (0, 1):
        raise IgnityError(f"{name}={raw!r}: not a valid value, expected 0 or 1")
    if kind == "level" and value > 2:
        raise IgnityError(f"{name}={raw!r}: not a valid value, expected 0, 1 or 2")
    if kind == "ms" and value > 2**31 - 1:
        raise IgnityError(f"{name}={raw!r}: too large (at most {2**31 - 1} ms)")
    return value


def from_env(env: Mapping[str, str]) -> Config:
    """Read every known IGNITY_* variable from `env`; unknown ones are ignored here."""
    values: dict[str, int] = {}
    for name, (default, kind) in KNOWN.items():
        raw = env.get(name)
        key = name[len("IGNITY_") :].lower()
        values[key] = default if raw is None or raw == "" else _parse_value(name, raw, kind)
    return Config(**values)


def load(path: str) -> Config:
    """Read the config stage 1 wrote; missing file means defaults."""
    env: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.rstrip("\n").partition("=")
                env[name] = value
    except FileNotFoundError:
        pass
    return from_env(env)
