"""The IGNITY_* settings: parsed once, validated strictly.

A value that is not a number is a start-up error naming the variable and the
value, never a silent default: a typo in a grace time must not turn into a
container that is SIGKILLed mid-write.
"""

from __future__ import annotations

from ignity.errors import IgnityError

TYPE_CHECKING = False  # collections.abc costs ~1 ms at each start; only mypy needs it
if TYPE_CHECKING:
    from collections.abc import Mapping

# name -> (default, kind); kind "ms" is milliseconds, "bool" is 0/1, "level" is
# 0..2, "output" is one of OUTPUT_MODES (a word, not a number), "bytes" a size, "delay" and
# "limit" the two-number syntax of restarts.py (kept as text, normalised).
KNOWN: dict[str, tuple[int | str, str]] = {
    "IGNITY_CMD_FORWARD_SIGNALS": (1, "bool"),
    "IGNITY_CMD_RECEIVE_SIGNALS": (0, "bool"),
    "IGNITY_CMD_WAIT_FOR_SERVICES": (0, "bool"),
    "IGNITY_CMD_WAIT_FOR_SERVICES_MAXTIME": (5000, "ms"),
    "IGNITY_KILL_FINALIZE_MAXTIME": (5000, "ms"),
    "IGNITY_SERVICES_GRACETIME": (5000, "ms"),
    "IGNITY_KILL_GRACETIME": (3000, "ms"),
    "IGNITY_SKIP_PERMS": (0, "bool"),
    "IGNITY_SYNC_DISKS": (0, "bool"),
    "IGNITY_VERBOSITY": (1, "level"),
    "IGNITY_SERVICES_OUTPUT": ("raw", "output"),
    "IGNITY_SERVICES_RESTART_DELAY": ("1000", "delay"),
    "IGNITY_SERVICES_RESTART_LIMIT": ("0", "limit"),
    "IGNITY_SERVICES_LOG_BYTES": (65536, "bytes"),
}

# How a service without its own log/ reaches the container's stdout/stderr
# (docs/output.md); also the accepted content of a service's output-mode file.
OUTPUT_MODES = ("raw", "prefixed", "json")


MAX_MS = 2**31 - 1


class Config:
    """Validated settings; attribute names are the variables without IGNITY_.

    A plain class, not a dataclass: importing dataclasses costs PID 1 ~7 ms.
    """

    __slots__ = tuple(name[len("IGNITY_") :].lower() for name in KNOWN)

    def __init__(self, **values: int | str) -> None:
        for name, (default, _) in KNOWN.items():
            key = name[len("IGNITY_") :].lower()
            object.__setattr__(self, key, values.get(key, default))

    cmd_forward_signals: int
    cmd_receive_signals: int
    cmd_wait_for_services: int
    cmd_wait_for_services_maxtime: int
    kill_finalize_maxtime: int
    services_gracetime: int
    kill_gracetime: int
    skip_perms: int
    sync_disks: int
    verbosity: int
    services_output: str
    services_restart_delay: str
    services_restart_limit: str
    services_log_bytes: int

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.__slots__) + ")"

    def dump(self) -> str:
        """Serialise for the later stages (one NAME=VALUE a line, also read by sh's `.`:
        a value with a space is single-quoted, and load() takes the quotes off)."""
        return "".join(f"IGNITY_{k.upper()}={_sh_value(str(getattr(self, k)))}\n" for k in self.__slots__)


def _sh_value(value: str) -> str:
    return f"'{value}'" if " " in value else value


def _parse_value(name: str, raw: str, kind: str) -> int | str:
    shown = repr(raw) if len(raw) <= 40 else repr(raw[:40]) + "..."
    if kind == "output":
        if raw not in OUTPUT_MODES:
            raise IgnityError(f"{name}={shown}: not a valid value, expected raw, prefixed or json")
        return raw
    if kind in ("delay", "limit"):
        from ignity import restarts

        try:
            numbers = restarts.parse_delay(raw) if kind == "delay" else restarts.parse_limit(raw)
        except ValueError as e:
            raise IgnityError(f"{name}={shown}: {e}") from None
        first, second = numbers  # normalised: "FIRST" when MAX is FIRST, "0" for no limit
        if (kind == "delay" and first == second) or (kind == "limit" and first == 0):
            return str(first)
        return f"{first} {second}"
    what = {
        "ms": "a whole number of milliseconds",
        "bytes": "a whole number of bytes",
        "bool": "0 or 1",
        "level": "0, 1 or 2",
    }[kind]
    if not raw.isascii() or not raw.isdigit():
        raise IgnityError(f"{name}={shown}: not a valid value, expected {what}")
    # Checked before int(): Python refuses to convert more than 4300 digits.
    digits = raw.lstrip("0") or "0"
    value = int(digits) if len(digits) <= 10 else 2**63
    if kind == "ms" and value > MAX_MS:
        raise IgnityError(f"{name}={shown}: too large (at most {MAX_MS} ms)")
    if kind == "bytes" and value > MAX_MS:
        raise IgnityError(f"{name}={shown}: too large (at most {MAX_MS} bytes)")
    if (kind == "bool" and value > 1) or (kind == "level" and value > 2):
        raise IgnityError(f"{name}={shown}: not a valid value, expected {what}")
    return value


def from_env(env: Mapping[str, str]) -> Config:
    """Read every known IGNITY_* variable from `env`; unknown ones are ignored here."""
    values: dict[str, int | str] = {}
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
                if len(value) > 1 and value[0] == value[-1] == "'":
                    value = value[1:-1]  # dump()'s quoting
                env[name] = value
    except FileNotFoundError:
        pass
    return from_env(env)
