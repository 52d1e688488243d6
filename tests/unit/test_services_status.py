"""svstatus: how held, permanently failed and health-checked services read in
`ignity status` (the integration tests boot the real thing)."""

from __future__ import annotations

from pathlib import Path

from ignity import svstatus


def service(tmp_path: Path, name: str, **files: str) -> svstatus.Service:
    d = tmp_path / name
    (d / ".ignity").mkdir(parents=True)
    for fname, content in files.items():
        (d / fname.replace("_", "-").replace("-ignity-", ".ignity/")).write_text(content)
    return svstatus.Service(name, str(d))


def test_held_service_is_wanted_up_and_says_what_it_waits_for(tmp_path: Path):
    db = service(tmp_path, "db", notification_fd="3\n")
    web = service(tmp_path, "web", down="", _ignity_held="")
    web.deps = ["db"]
    svstatus.parse_svstat(db, "up (pid 7) 1 seconds, normally up")
    svstatus.parse_svstat(web, "down (exitcode 0) 1 seconds, normally down")
    svstatus._orchestration([db, web])
    assert web.normally_up and not web.in_order
    assert web.waits_for == ["db"] and web.note == "waits for db"
    assert web.as_row()[7] == "up"  # WANTED: Ignity wants it up
    assert db.note is None and db.waits_for == []


def test_finish_125_while_wanted_up_is_a_failure(tmp_path: Path):
    broken = service(tmp_path, "broken", _ignity_failed="125\n")
    svstatus.parse_svstat(broken, "down (exitcode 1) 3 seconds, normally up, want down, ready 3 seconds")
    svstatus._orchestration([broken])
    assert broken.failed and not broken.in_order
    assert broken.as_json()["note"] == "given up: finish exited 125"
    assert broken.state == "failed" and not broken.live


def test_a_125_then_an_operator_start_is_not_a_failure(tmp_path: Path):
    svc = service(tmp_path, "svc", _ignity_failed="125\n")
    svstatus.parse_svstat(svc, "up (pid 9) 1 seconds")
    svstatus._orchestration([svc])
    assert not svc.failed and svc.in_order


def test_an_author_down_service_given_up_on_is_failed_too(tmp_path: Path):
    # docs/service-states.md: `failed` is the record and "down", whoever started it (ignity start).
    svc = service(tmp_path, "svc", down="", _ignity_failed="125\n")
    svstatus.parse_svstat(svc, "down (exitcode 1) 3 seconds, ready 3 seconds")
    svstatus._orchestration([svc])
    assert svc.failed and not svc.in_order


def test_an_author_down_service_never_started_is_in_order(tmp_path: Path):
    svc = service(tmp_path, "svc", down="", _ignity_failed="")
    svstatus.parse_svstat(svc, "down (exitcode 0) 3 seconds, ready 3 seconds")
    svstatus._orchestration([svc])
    assert not svc.failed and svc.in_order and svc.state == "down"


def test_health_columns(tmp_path: Path):
    svc = service(tmp_path, "svc", health="#!/bin/sh\n", _ignity_health="failing 2\n",
                  _ignity_health_last="exit 1: refused\n", _ignity_health_restarts="\n")  # fmt: skip
    svstatus.parse_svstat(svc, "up (pid 9) 1 seconds")
    svstatus._orchestration([svc])
    row = dict(zip(svstatus.HEADER, svc.as_row()))
    assert row["HEALTH"] == "failing 2 (1 restart)"
    assert row["NOTE"] == "last failed check: exit 1: refused"
    assert svc.in_order  # health is shown, not a readiness condition
    j = svc.as_json()
    assert (j["health"], j["health_failures"], j["health_restarts"]) == ("failing", 2, 1)
