"""SECURITY.md holds only what tests hold (issue #20 point 7): every test it names exists, every
claim names one, every known hole is an xfail test; and the claims no other unit test holds.

How SECURITY.md names a test: `tests/PATH.py::test_name` (a `[param]` suffix allowed), or a bare
`test_name` that is in the file named last before it; `tests/PATH.py` alone names a whole file.
"""

from __future__ import annotations

import ast
import os
import re
import stat
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = str(REPO / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import runtime  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402
from tests.unit.test_install import EXECLINE, S6, _fake, _install, _python_in  # noqa: E402

SECURITY = REPO / "SECURITY.md"
HOLES = "Known holes"
# Sections that hold no claims about the code.
NO_CLAIMS = ("Reporting",)


def _functions(path: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse((REPO / path).read_text())
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def _cited() -> list[tuple[int, str, str]]:
    """(line, file, test name or "") of every test SECURITY.md names, in order."""
    text = SECURITY.read_text()
    found, last = [], ""
    for m in re.finditer(r"`([^`\n]+)`", text):
        token, line = m.group(1), text.count("\n", 0, m.start()) + 1
        if token.startswith("tests/") and token != "tests/...::test_name":
            path, _, name = token.partition("::")
            found.append((line, path, re.sub(r"\[.*\]$", "", name)))
            last = path
        elif re.fullmatch(r"test_\w+(\[[^\]]*\])?", token) and token != "test_name":
            found.append((line, last, re.sub(r"\[.*\]$", "", token)))
    return found


def test_every_test_security_md_names_exists():
    cited = _cited()
    assert len(cited) > 50
    for line, path, name in cited:
        assert path and (REPO / path).exists(), f"SECURITY.md:{line}: no file {path!r}"
        if name:
            assert path.endswith(".py") and name in _functions(path), f"SECURITY.md:{line}: {name} is not in {path}"


def _bullets() -> list[tuple[str, int, str]]:
    """(section, first line, text) of every bullet of SECURITY.md, continuation lines joined."""
    items: list[tuple[str, int, str]] = []
    section = ""
    for number, line in enumerate(SECURITY.read_text().splitlines(), start=1):
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith(("#", "|")) or not line.strip():
            if not line.strip() or line.startswith("#"):
                items.append(("", 0, ""))  # a blank line ends a bullet
        elif line.startswith("- "):
            items.append((section, number, line))
        elif line.startswith("  ") and items and items[-1][1]:
            items[-1] = (items[-1][0], items[-1][1], items[-1][2] + " " + line.strip())
    return [item for item in items if item[1]]


def test_every_claim_names_a_test():
    """Each bullet (a claim) names at least one test; so does each table of the trust model."""
    for section, line, text in _bullets():
        if section in NO_CLAIMS:
            continue
        assert re.search(r"`tests/|`test_", text), f"SECURITY.md:{line}: a claim that names no test: {text[:80]}"
    tables = re.findall(r"((?:^\|.*\n)+)\n?(.*)", SECURITY.read_text(), re.MULTILINE)
    assert tables
    for _, after in tables:  # the line after a table names the tests that hold it
        assert re.search(r"`tests/|`test_", after), f"a table without its tests: followed by {after[:80]!r}"


def test_every_known_hole_is_a_strict_xfail_test():
    """A hole fixed turns its xfail into an XPASS (a failure): the list cannot outlive the hole."""
    text = SECURITY.read_text()
    holes = text[text.index(HOLES) :]
    names = re.findall(r"^- `(test_\w+)", holes, re.MULTILINE)
    assert names
    for name in names:
        path = next(p for line, p, n in _cited() if n == name)
        source = (REPO / path).read_text()
        node = _functions(path)[name]
        decorators = " ".join(ast.get_source_segment(source, d) or "" for d in node.decorator_list)
        marks = set(re.findall(r"^(\w+) = pytest\.mark\.xfail\(", source, re.MULTILINE))
        assert "xfail(" in decorators or any(m in decorators for m in marks), f"{name} is not marked xfail"
        assert re.search(r"xfail\(\s*strict=True", source), path


# --- claims held here -------------------------------------------------------------


def test_stage1_takes_its_directories_through_o_nofollow_and_refuses_a_link(tmp_path: Path):
    """ "Control state is root's": chown root, chmod, through a descriptor; a link is refused."""
    if os.geteuid() != 0:
        pytest.fail("needs root (chown)")
    mine = tmp_path / "state"
    mine.mkdir()
    mine.chmod(0o777)
    os.chown(mine, 1000, 1000)
    runtime._take(str(mine), 0o700)
    st = mine.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    elsewhere.chmod(0o777)
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(IgnityError, match="is a link or not a directory: refusing to use it"):
        runtime._take(str(tmp_path / "link"), 0o700)
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o777


NETWORK_MODULES = {"socket", "ssl", "http", "urllib", "ftplib", "smtplib", "xmlrpc", "asyncio", "socketserver"}


def test_ignity_has_no_network_code_and_installs_nothing_setuid(tmp_path: Path):
    """ "Nothing Ignity starts is setuid, listens on a socket or reads from the network"."""
    for path in sorted(Path(SRC, "ignity").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & NETWORK_MODULES, (path, names)
    _fake(tmp_path, S6, "/usr/bin")
    _fake(tmp_path, EXECLINE, "/usr/lib/execline/bin")
    _python_in(tmp_path)
    before = {p for p in tmp_path.rglob("*")}
    assert _install(tmp_path).returncode == 0
    written = [p for p in tmp_path.rglob("*") if p not in before and not p.is_symlink()]
    assert written
    assert not [p for p in written if p.stat().st_mode & (stat.S_ISUID | stat.S_ISGID | 0o022)]


@pytest.mark.skipif(os.geteuid() != 0, reason="sealing is root's")
def test_sealing_empties_an_event_fifodir_of_what_another_uid_planted(tmp_path: Path):
    """An `event/` made before root took it (an old 3730 one) loses every entry another uid put there."""
    event = tmp_path / "svc" / "event"
    event.mkdir(parents=True)
    event.chmod(0o3730)
    planted = event / "ftrig1:@400000006b0f4f0a2b860df3:hostil"
    planted.symlink_to(tmp_path / "victim")
    os.lchown(planted, 1234, 0)
    ours = event / "ftrig1:@400000006b0f4f0a2b860df3:rootsb"
    os.mkfifo(ours)
    runtime.seal_supervision(str(tmp_path))
    assert sorted(os.listdir(event)) == [ours.name], "the planted link stays; root's own subscriber goes"
    assert stat.S_IMODE(event.stat().st_mode) == 0o700 and (event.stat().st_uid, event.stat().st_gid) == (0, 0)
