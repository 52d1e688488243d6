"""check, issue 24: an unported s6-overlay image seen whole in one pass; quoted env values; programs only
s6-overlay brings; a with-contenv link to with-env; an s6-rc oneshot or bundle moved into services.

Same method as test_check.py: from the clean image, change one thing, and
assert that exactly that problem, and nothing else, is reported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from tests.unit.test_check import ETC, Image, clean, only, summary  # noqa: E402

SERVICES = f"{ETC}/services"


@pytest.fixture
def image(tmp_path: Path) -> Image:
    image = clean(tmp_path / "root")
    assert image.problems() == []
    return image


# --- quotes in env files ----------------------------------------------------------------------


@pytest.mark.parametrize(("line", "bare"), [('A="b"', "A=b"), ("A='b c'", "A=b c"), ('A=""', "A=")])
def test_quoted_env_value_is_a_warning_with_file_and_line(image: Image, line: str, bare: str) -> None:
    image.file("envs/20-app", f"X=1\n{line}\n")
    p = only(image.problems(), "warning", f"{ETC}/envs/20-app", 2, "the value of A is in quotes")
    assert p.fix.startswith(f"write {bare} ")


@pytest.mark.parametrize("value", ['"b', 'b"', "'b\"", '"', 'a"b"c', "x 'y'"])
def test_values_that_are_not_quoted_whole_are_fine(image: Image, value: str) -> None:
    image.file("envs/20-app", f"A={value}\n")
    assert image.problems() == []


# --- programs s6-overlay brings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "program"),
    [
        ("s6-test $1 -eq 0 || exit 1", "s6-test"),
        ("if s6-test -f /x; then exit 0; fi", "s6-test"),
        ("exec s6-echo hi", "s6-echo"),
        ("true && s6-sleep 1", "s6-sleep"),
        ("foreground { s6-rmrf /tmp/x }", "s6-rmrf"),
        ("x=$(printcontenv HOME)", "printcontenv"),
    ],
)
def test_missing_s6_overlay_program_in_finish_is_an_error(image: Image, body: str, program: str) -> None:
    image.script("services/web/finish", f"# comment naming {program}\n{body}")
    p = only(image.problems(), "error", f"{SERVICES}/web/finish", 3, f"calls {program}, which the image lacks")
    assert "fails at run time" in p.problem


def test_the_program_present_in_the_image_is_fine(image: Image) -> None:
    image.program("/usr/bin/s6-test")
    image.script("services/web/finish", "s6-test $1 -eq 0")
    assert image.problems() == []


def test_execline_bin_counts(image: Image) -> None:
    image.program("/usr/lib/execline/bin/s6-echo")
    image.script("init/10-x", "s6-echo hi")
    assert image.problems() == []


@pytest.mark.parametrize("body", ["echo s6-test", "my-s6-test -x", "cat /usr/share/s6-test.txt", "s6-testing"])
def test_words_that_only_mention_a_program(image: Image, body: str) -> None:
    image.script("init/10-x", body)
    assert image.problems() == []


# --- with-contenv as a link to with-env ----------------------------------------------------------


def test_with_contenv_linked_to_with_env_is_fine(image: Image) -> None:
    (image.root / "command").mkdir()
    (image.root / "command/with-contenv").symlink_to("/usr/bin/with-env")
    (image.root / "usr/bin/with-contenv").symlink_to("with-env")
    image.script("services/web/run", "exec sleep 1", shebang="#!/command/with-contenv sh")
    image.script("init/10-x", "true", shebang="#!/usr/bin/with-contenv bash")
    image.program("/usr/bin/bash")
    image.script("init/20-y", "true", shebang="#!/usr/bin/env with-contenv")
    assert image.problems() == []


def test_with_contenv_linked_elsewhere_still_warns(image: Image) -> None:
    image.program("/usr/bin/other")
    (image.root / "usr/bin/with-contenv").symlink_to("other")
    image.script("services/web/run", "exec sleep 1", shebang="#!/usr/bin/with-contenv sh")
    only(image.problems(), "warning", f"{SERVICES}/web/run", 1, "with-contenv is s6-overlay's")


# --- s6-rc definitions moved into services --------------------------------------------------------


def test_oneshot_in_services_is_named_as_one(image: Image) -> None:
    image.file("services/init-db/type", "oneshot\n")
    image.file("services/init-db/up", "/etc/s6-overlay/scripts/init-db\n")
    p = only(image.problems(), "error", f"{SERVICES}/init-db", None, "is an s6-rc oneshot")
    assert "/etc/ignity/init script" in p.fix


def test_up_without_type_is_a_oneshot_too(image: Image) -> None:
    image.file("services/init-db/up", "true\n")
    only(image.problems(), "error", f"{SERVICES}/init-db", None, "is an s6-rc oneshot")


def test_bundle_in_services_is_named_as_one(image: Image) -> None:
    image.file("services/user/type", "bundle\n")
    image.file("services/user/contents.d/web", "")
    only(image.problems(), "error", f"{SERVICES}/user", None, "is an s6-rc bundle")


def test_longrun_with_a_type_file_is_a_service(image: Image) -> None:
    image.script("services/svc/run", "exec sleep 1")
    image.file("services/svc/type", "longrun\n")
    assert image.problems() == []


# --- the unported image, whole, in one pass ---------------------------------------------------------


def test_unported_image_in_one_pass(image: Image) -> None:
    root = image.root
    image.write(root / "etc/cont-init.d/10-setup", "#!/command/with-contenv bash\necho hi\n", 0o755)
    image.write(root / "etc/services.d/web/run", "#!/usr/bin/with-contenv sh\nexec sleep 1\n", 0o755)
    finish = "#!/bin/sh\necho 3 > /run/s6-linux-init-container-results/exitcode\n/run/s6/basedir/bin/halt\n"
    image.write(root / "etc/services.d/web/finish", finish, 0o755)
    image.write(root / "etc/s6-overlay/s6-rc.d/init/type", "oneshot\n")
    image.write(root / "etc/s6-overlay/s6-rc.d/init/up", "if { s6-test -d /x } /run/s6/basedir/bin/halt\n")
    image.write(root / "etc/s6-overlay/s6-rc.d/api/type", "longrun\n")
    image.write(root / "etc/s6-overlay/s6-rc.d/api/run", "#!/bin/sh\ns6-sleep 1\n", 0o755)
    problems = image.problems({"S6_KEEP_ENV": "1"})
    where = [(p.path, p.line) for p in problems]
    assert ("/etc/cont-init.d/10-setup", 1) in where  # with-contenv shebang
    assert ("/etc/services.d/web/run", 1) in where
    assert ("/etc/services.d/web/finish", 2) in where and ("/etc/services.d/web/finish", 3) in where
    assert ("/etc/s6-overlay/s6-rc.d/init/up", 1) in where
    assert ("/etc/s6-overlay/s6-rc.d/api/run", 2) in where  # s6-sleep
    assert ("environment", None) in where
    assert {p.severity for p in problems} == {"warning"}, summary(problems)
    assert "ignity migrate --from s6-overlay" in next(p.fix for p in problems if p.path == "/etc/services.d")
