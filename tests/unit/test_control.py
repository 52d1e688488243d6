"""control: who may, and the orders dependencies impose (the integration tests boot the real thing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ignity import control, svstatus
from ignity.errors import IgnityError


def graph(tmp_path: Path, deps: dict[str, list[str]]) -> dict[str, svstatus.Service]:
    by_name = {}
    for name, ds in deps.items():
        (tmp_path / name).mkdir()
        s = svstatus.Service(name, str(tmp_path / name))
        s.deps = ds
        by_name[name] = s
    return by_name


def names(services: list[svstatus.Service]) -> list[str]:
    return [s.name for s in services]


def test_dependencies_first_and_dependents_first(tmp_path: Path):
    g = graph(tmp_path, {"db": [], "cache": ["db"], "web": ["cache", "db"], "other": []})
    assert names(control.dependencies_first([g["web"]], g)) == ["db", "cache", "web"]
    assert names(control.dependencies_first([g["web"], g["db"]], g)) == ["db", "cache", "web"]
    assert names(control.dependents_first([g["db"]], g)) == ["web", "cache", "db"]
    assert names(control.dependents_first([g["other"]], g)) == ["other"]


class Ids:
    def __init__(self, euid: int) -> None:
        self.euid = euid
        self.calls: list[tuple[str, object]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(os, "geteuid", lambda: self.euid)
        for name in ("setgroups", "setgid", "setuid"):
            monkeypatch.setattr(os, name, lambda value, name=name: self.calls.append((name, value)))


def test_another_uid_is_refused_before_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    owner = os.stat(tmp_path).st_uid
    ids = Ids(owner + 1000 if owner else 2000)
    ids.install(monkeypatch)
    with pytest.raises(IgnityError) as e:
        control.become_owner(str(tmp_path))
    assert e.value.status == 111 and "may not control services" in str(e.value)
    assert ids.calls == []


def test_root_acts_as_the_uid_ignity_runs_as(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    os.chown(tmp_path, 1000, 1001)
    ids = Ids(0)
    ids.install(monkeypatch)
    control.become_owner(str(tmp_path))
    assert ids.calls == [("setgroups", []), ("setgid", 1001), ("setuid", 1000)]


def test_the_owner_and_root_of_a_root_tree_stay_who_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    os.chown(tmp_path, 1000, 1000)
    ids = Ids(1000)
    ids.install(monkeypatch)
    control.become_owner(str(tmp_path))
    assert ids.calls == []


def test_the_stop_bound_is_the_grace_time_plus_the_finish_bound(tmp_path: Path):
    d = tmp_path / "svc"
    d.mkdir()
    (d / "timeout-kill").write_text("3000\n")
    s = svstatus.Service("svc", str(d))
    assert control.stop_bound(s) == 3000 + control.DEFAULT_FINISH_MS + control.MARGIN_MS
    (d / "timeout-finish").write_text("700\n")
    assert control.stop_bound(s) == 3000 + 700 + control.MARGIN_MS
