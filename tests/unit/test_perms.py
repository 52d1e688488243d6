"""perms: the perms file format of SPEC.md ("Perms file format") and applying rules without following links."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import perms  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown)")

DAEMON = pwd.getpwnam("daemon")
NOGROUP = grp.getgrnam("nogroup")
MAX_ID = 2**32 - 2  # 2**32 - 1 is (uid_t)-1, "no change"


def parse(text: str, source: str = "perms/10-test", variables: dict[str, str] | None = None) -> list[perms.Rule]:
    return perms.parse(text, source, variables or {})


def parse_error(text: str, source: str = "perms/10-test", variables: dict[str, str] | None = None) -> str:
    with pytest.raises(IgnityError) as info:
        perms.parse(text, source, variables or {})
    return str(info.value)


def values(rule: perms.Rule) -> tuple[str, bool, int, int, int, int]:
    return (rule.path, rule.recurse, rule.uid, rule.gid, rule.fmode, rule.dmode)


# --- parse: valid input -------------------------------------------------------


def test_four_fields_are_recursive() -> None:
    [rule] = parse("/var/lib/mysql 1000:1001 0600 0700\n")
    assert values(rule) == ("/var/lib/mysql", True, 1000, 1001, 0o600, 0o700)
    assert rule.source == "perms/10-test:1"


def test_five_fields_with_recurse_true_and_false() -> None:
    rules = parse("/a true 1:2 0644 0755\n/b false 3:4 0640 0750\n")
    assert [values(r) for r in rules] == [
        ("/a", True, 1, 2, 0o644, 0o755),
        ("/b", False, 3, 4, 0o640, 0o750),
    ]


@pytest.mark.parametrize("flag", ["True", "yes", "1", "FALSE", "no", "0"])
def test_recurse_flag_must_be_true_or_false(flag: str) -> None:
    message = parse_error(f"/a {flag} 1:2 0644 0755")
    assert message.startswith("perms/10-test:1: ")
    assert repr(flag) in message


def test_names_are_resolved() -> None:
    [rule] = parse("/srv daemon:nogroup 0644 0755")
    assert (rule.uid, rule.gid) == (DAEMON.pw_uid, NOGROUP.gr_gid)
    [rule] = parse("/srv root:daemon 0644 0755")
    assert (rule.uid, rule.gid) == (0, grp.getgrnam("daemon").gr_gid)


def test_names_and_numbers_mix() -> None:
    [rule] = parse("/srv 4242:nogroup 0644 0755")
    assert (rule.uid, rule.gid) == (4242, NOGROUP.gr_gid)
    [rule] = parse("/srv daemon:4343 0644 0755")
    assert (rule.uid, rule.gid) == (DAEMON.pw_uid, 4343)


def test_user_alone_takes_gid_from_passwd() -> None:
    nobody = pwd.getpwnam("nobody")
    [rule] = parse("/srv nobody 0644 0755")
    assert (rule.uid, rule.gid) == (nobody.pw_uid, nobody.pw_gid)
    [rule] = parse(f"/srv {DAEMON.pw_uid} 0644 0755")
    assert (rule.uid, rule.gid) == (DAEMON.pw_uid, DAEMON.pw_gid)
    [rule] = parse("/srv false daemon 0600 0700")
    assert (rule.recurse, rule.uid, rule.gid) == (False, DAEMON.pw_uid, DAEMON.pw_gid)


def test_numeric_user_alone_without_passwd_entry_is_an_error() -> None:
    free = next(uid for uid in range(54321, 60000) if uid not in {p.pw_uid for p in pwd.getpwall()})
    message = parse_error(f"\n/srv {free} 0644 0755")
    assert message.startswith("perms/10-test:2: ")
    assert str(free) in message


@pytest.mark.parametrize("account", ["no-such-user-xyz:0", "0:no-such-group-xyz", "no-such-user-xyz"])
def test_unknown_names_are_an_error(account: str) -> None:
    message = parse_error(f"/srv {account} 0644 0755")
    assert message.startswith("perms/10-test:1: ")
    assert "no-such-" in message


@pytest.mark.parametrize("account", [":0", "0:", ":", "daemon:"])
def test_malformed_account_is_an_error(account: str) -> None:
    assert parse_error(f"/srv {account} 0644 0755").startswith("perms/10-test:1: ")


@pytest.mark.parametrize("uid", [str(2**32 - 1), str(2**32), "99999999999999999999"])
def test_out_of_range_ids_are_an_error(uid: str) -> None:
    assert "out of range" in parse_error(f"/srv {uid}:0 0644 0755")
    assert "out of range" in parse_error(f"/srv 0:{uid} 0644 0755")


def test_largest_id_is_accepted() -> None:
    [rule] = parse(f"/srv {MAX_ID}:{MAX_ID} 0644 0755")
    assert (rule.uid, rule.gid) == (MAX_ID, MAX_ID)


def test_templating() -> None:
    variables = {"USERMAP_UID": "1234", "USERMAP_GID": "5678"}
    [rule] = parse("/data {{USERMAP_UID}}:{{USERMAP_GID}} 0640 0750", variables=variables)
    assert (rule.uid, rule.gid) == (1234, 5678)
    [rule] = parse("/data true {{USERMAP_UID}}:{{USERMAP_GID}} 0640 0750", variables=variables)
    assert (rule.uid, rule.gid) == (1234, 5678)


def test_templating_user_alone() -> None:
    [rule] = parse("/data {{USERMAP_UID}} 0640 0750", variables={"USERMAP_UID": "daemon"})
    assert (rule.uid, rule.gid) == (DAEMON.pw_uid, DAEMON.pw_gid)


def test_unknown_placeholder_is_an_error() -> None:
    message = parse_error("# c\n/data {{USERMAP_UID}}:{{NOPE}} 0640 0750", variables={"USERMAP_UID": "1"})
    assert message.startswith("perms/10-test:2: ")
    assert "'{{NOPE}}'" in message


def test_placeholder_without_variables_is_an_error() -> None:
    assert "'{{USERMAP_UID}}'" in parse_error("/data {{USERMAP_UID}}:0 0640 0750")


def test_unterminated_placeholder_is_named_in_the_error() -> None:
    assert "{{USERMAP_UID" in parse_error("/data {{USERMAP_UID:0 0640 0750")


def test_comments_and_blank_lines_are_skipped() -> None:
    text = "# comment\n\n   \n\t# indented {{NOT_A_PLACEHOLDER}}\n/a 1:2 0644 0755\n#/b 1:2 0644 0755\n\n"
    [rule] = parse(text)
    assert values(rule) == ("/a", True, 1, 2, 0o644, 0o755)
    assert rule.source == "perms/10-test:5"


def test_empty_input_gives_nothing() -> None:
    assert parse("") == []
    assert parse("\n\n# only\n") == []


def test_blanks_between_fields_and_around_line() -> None:
    [rule] = parse("  \t/a \t 1:2   0644\t0755  \r\n")
    assert values(rule) == ("/a", True, 1, 2, 0o644, 0o755)


@pytest.mark.parametrize("mode", ["644", "0644", "7777", "000", "0000"])
def test_three_or_four_octal_digits(mode: str) -> None:
    [rule] = parse(f"/a 0:0 {mode} {mode}")
    assert rule.fmode == rule.dmode == int(mode, 8)


@pytest.mark.parametrize("mode", ["0648", "0x1a", "rwx", "64", "7", "01777 ", "00644", "u+rw", "-644", "+644", "٦٤٤"])
def test_bad_modes_are_an_error(mode: str) -> None:
    mode = mode.strip()
    fmode_error = parse_error(f"\n\n/a 0:0 {mode} 0755")
    assert fmode_error.startswith("perms/10-test:3: ")
    assert "FMODE" in fmode_error
    dmode_error = parse_error(f"/a 0:0 0644 {mode}")
    assert dmode_error.startswith("perms/10-test:1: ")
    assert "DMODE" in dmode_error


@pytest.mark.parametrize("path", ["relative/path", "./x", "~/x", "data"])
def test_relative_path_is_an_error(path: str) -> None:
    message = parse_error(f"{path} 0:0 0644 0755")
    assert message.startswith("perms/10-test:1: ")
    assert "not absolute" in message


@pytest.mark.parametrize("path", ["/", "//", "///"])
def test_root_is_refused(path: str) -> None:
    message = parse_error(f"{path} 0:0 0644 0755")
    assert message.startswith("perms/10-test:1: ")
    assert "'/'" in message


@pytest.mark.parametrize("path", ["/.", "/tmp/..", "/tmp/../"])
def test_paths_naming_root_are_refused(path: str) -> None:
    parse_error(f"{path} 0:0 0644 0755")


@pytest.mark.parametrize(
    "line",
    ["/a", "/a 0:0", "/a 0:0 0644", "/a true 0:0 0644 0755 extra", "/a b c d e f g"],
)
def test_wrong_field_count_is_an_error(line: str) -> None:
    message = parse_error(f"/ok 0:0 0644 0755\n{line}\n")
    assert message.startswith("perms/10-test:2: ")
    assert f"got {len(line.split())} field(s)" in message


def test_one_bad_line_fails_the_whole_file() -> None:
    assert parse_error("/a 0:0 0644 0755\n/b 0:0 0644 0755\n/c 0:0 999 0755\n").startswith("perms/10-test:3: ")


def test_read_files_names_the_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "10-good", tmp_path / "20-bad"
    good.write_text("/a 1:2 0644 0755\n")
    bad.write_text("\n/b 1:2 0644\n")
    assert [values(r) for r in perms.read_files([str(good)], {})] == [("/a", True, 1, 2, 0o644, 0o755)]
    with pytest.raises(IgnityError, match="^" + re.escape(f"{tmp_path}/20-bad:2: ")):
        perms.read_files([str(good), str(bad)], {})
    with pytest.raises(IgnityError, match="^" + re.escape(f"{tmp_path}: is a directory")):
        perms.read_files([str(tmp_path)], {})
    with pytest.raises(IgnityError, match="^" + re.escape(f"{tmp_path}/missing: cannot read")):
        perms.read_files([str(tmp_path / "missing")], {})


@pytest.mark.parametrize("account", ["a\0b:0", "0:a\0b", "a\0b"])
def test_nul_in_account_name_is_an_ignity_error(account: str, tmp_path: Path) -> None:
    path = tmp_path / "10-nul"
    path.write_bytes(f"/srv {account} 0644 0755\n".encode())
    with pytest.raises(IgnityError, match=r"10-nul:1: "):
        perms.read_files([str(path)], {})


def test_huge_numeric_id_is_an_ignity_error() -> None:
    assert "out of range" in parse_error(f"/srv {'9' * 5000}:0 0644 0755")


# --- parse: properties --------------------------------------------------------

_segment = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="/{",
    ).filter(lambda c: not c.isspace()),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
paths = st.lists(_segment, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))
ids = st.integers(min_value=0, max_value=MAX_ID)
modes = st.integers(min_value=0, max_value=0o7777)
rules = st.tuples(paths, st.sampled_from([None, True, False]), ids, ids, modes, modes)


def render(rule: tuple[str, bool | None, int, int, int, int]) -> str:
    path, flag, uid, gid, fmode, dmode = rule
    recurse = "" if flag is None else f" {str(flag).lower()}"
    return f"{path}{recurse} {uid}:{gid} {fmode:04o} {dmode:04o}"


@given(st.lists(st.tuples(rules, st.sampled_from(["", "# comment", "   "])), max_size=10))
def test_rendered_rules_parse_back(items: list[tuple[tuple[str, bool | None, int, int, int, int], str]]) -> None:
    lines, expected = [], []
    for rule, filler in items:
        if filler:
            lines.append(filler)
        lines.append(render(rule))
        path, flag, uid, gid, fmode, dmode = rule
        expected.append(((path, flag is not False, uid, gid, fmode, dmode), f"src:{len(lines)}"))
    parsed = perms.parse("\n".join(lines) + "\n", "src", {})
    assert [(values(r), r.source) for r in parsed] == expected


@given(rules, ids, ids)
def test_templated_rule_parses_to_the_variables(
    rule: tuple[str, bool | None, int, int, int, int], uid: int, gid: int
) -> None:
    path, flag, _, _, fmode, dmode = rule
    text = render((path, flag, 0, 0, fmode, dmode)).replace(" 0:0 ", " {{USERMAP_UID}}:{{USERMAP_GID}} ")
    [parsed] = perms.parse(text, "src", {"USERMAP_UID": str(uid), "USERMAP_GID": str(gid)})
    assert values(parsed) == (path, flag is not False, uid, gid, fmode, dmode)


# Lines made of plausible tokens reach every check; arbitrary text checks the rest.
# NUL and huge digit strings are left out: they are the known bugs above.


def _no_nul(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=size)


_tokens = st.one_of(
    paths,
    st.sampled_from(["/", "rel", "true", "false", "#", "{{", "}}", "{{USERMAP_UID}}", ":", "root", "nogroup"]),
    st.builds(lambda a, b: f"{a}:{b}", st.sampled_from(["", "0", "daemon", "nope", "4294967295"]), _no_nul(4)),
    st.text(alphabet="0123456789abc", max_size=6),
    _no_nul(6),
)
_lines = st.lists(_tokens, max_size=7).map(" ".join)


@settings(max_examples=300)
@given(st.lists(_lines, max_size=5).map("\n".join))
def test_token_soup_parses_or_raises_ignity_error(text: str) -> None:
    try:
        perms.parse(text, "src", {"USERMAP_UID": "1000"})
    except IgnityError as e:
        assert str(e).startswith("src:")


@given(st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=200))
@example("/a b c d")
@example("/a b:c 0644 0755")
def test_arbitrary_text_parses_or_raises_ignity_error(text: str) -> None:
    try:
        perms.parse(text, "src", {})
    except IgnityError as e:
        assert str(e).startswith("src:")


# --- apply --------------------------------------------------------------------


def rule_for(
    path: Path, account: str = "daemon:nogroup", fmode: str = "0640", dmode: str = "0750", recurse: bool | None = None
) -> perms.Rule:
    flag = "" if recurse is None else f" {str(recurse).lower()}"
    [rule] = perms.parse(f"{path}{flag} {account} {fmode} {dmode}", "perms/10-test", {})
    return rule


def info(path: Path) -> tuple[int, int, int]:
    st_ = os.lstat(path)
    return st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)


def make(path: Path, mode: int, owner: tuple[int, int] = (0, 0), directory: bool = False) -> Path:
    if directory:
        path.mkdir()
    else:
        path.write_text("x")
    os.chown(path, *owner)
    os.chmod(path, mode)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """data/{a.txt, sub/{b.txt, deeper/c.txt}}: everything root, 0600 / 0700."""
    data = make(tmp_path / "data", 0o700, directory=True)
    make(data / "a.txt", 0o600)
    sub = make(data / "sub", 0o700, directory=True)
    make(sub / "b.txt", 0o600)
    deeper = make(sub / "deeper", 0o700, directory=True)
    make(deeper / "c.txt", 0o600)
    return data


UG = (DAEMON.pw_uid, NOGROUP.gr_gid)
FILES = ["a.txt", "sub/b.txt", "sub/deeper/c.txt"]
DIRS = ["", "sub", "sub/deeper"]


def test_recursive_rule_sets_owner_and_modes(tree: Path) -> None:
    stats = perms.apply(rule_for(tree))
    for name in FILES:
        assert info(tree / name) == (*UG, 0o640), name
    for name in DIRS:
        assert info(tree / name) == (*UG, 0o750), name
    assert (stats.seen, stats.changed, stats.failed) == (6, 6, 0)


def test_non_recursive_rule_changes_only_path(tree: Path) -> None:
    stats = perms.apply(rule_for(tree, recurse=False))
    assert info(tree) == (*UG, 0o750)
    for name in FILES:
        assert info(tree / name) == (0, 0, 0o600), name
    for name in DIRS[1:]:
        assert info(tree / name) == (0, 0, 0o700), name
    assert (stats.seen, stats.changed) == (1, 1)


def test_explicit_recurse_true_is_recursive(tree: Path) -> None:
    stats = perms.apply(rule_for(tree, recurse=True))
    assert info(tree / "sub/deeper/c.txt") == (*UG, 0o640)
    assert (stats.seen, stats.changed) == (6, 6)


def test_rule_on_a_single_file_uses_fmode(tree: Path) -> None:
    stats = perms.apply(rule_for(tree / "a.txt"))
    assert info(tree / "a.txt") == (*UG, 0o640)
    assert info(tree) == (0, 0, 0o700)
    assert (stats.seen, stats.changed) == (1, 1)


def test_trailing_slash_in_path(tree: Path) -> None:
    stats = perms.apply(rule_for(Path(f"{tree}/sub/")))
    assert info(tree / "sub") == (*UG, 0o750)
    assert info(tree / "sub/b.txt") == (*UG, 0o640)
    assert info(tree) == (0, 0, 0o700)
    assert stats.seen == 4


@pytest.fixture
def changes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every owner or mode change made, as (kind, base name), whichever call made it."""
    seen: list[tuple[str, str]] = []

    def spy(func_name: str, kind: str, by_fd: bool) -> None:
        real = getattr(os, func_name)

        def wrapper(target: Any, *args: Any, **kw: Any) -> Any:
            name = os.readlink(f"/proc/self/fd/{target}") if by_fd else os.fspath(target)
            seen.append((kind, os.path.basename(name)))
            return real(target, *args, **kw)

        monkeypatch.setattr(os, func_name, wrapper)

    spy("chown", "own", False)
    spy("lchown", "own", False)
    spy("chmod", "mode", False)
    spy("fchown", "own", True)
    spy("fchmod", "mode", True)
    return seen


def test_only_what_differs_is_changed(tree: Path, changes: list[tuple[str, str]]) -> None:
    # a.txt and sub/deeper already right; sub wrong mode only; sub/b.txt wrong owner only.
    for name, mode in [("a.txt", 0o640), ("sub", 0o700), ("sub/b.txt", 0o640), ("sub/deeper", 0o750)]:
        os.chown(tree / name, *UG)
        os.chmod(tree / name, mode)
    os.chown(tree / "sub/b.txt", 0, 0)
    ctime_a = os.lstat(tree / "a.txt").st_ctime_ns
    ctime_deeper = os.lstat(tree / "sub/deeper").st_ctime_ns
    del changes[:]

    stats = perms.apply(rule_for(tree))

    assert sorted(set(changes)) == [
        ("mode", "c.txt"),
        ("mode", "data"),
        ("mode", "sub"),
        ("own", "b.txt"),
        ("own", "c.txt"),
        ("own", "data"),
    ]
    assert (stats.seen, stats.changed) == (6, 4)
    assert os.lstat(tree / "a.txt").st_ctime_ns == ctime_a
    assert os.lstat(tree / "sub/deeper").st_ctime_ns == ctime_deeper
    for name in FILES:
        assert info(tree / name) == (*UG, 0o640), name
    for name in DIRS:
        assert info(tree / name) == (*UG, 0o750), name


def test_second_run_changes_nothing(tree: Path, changes: list[tuple[str, str]]) -> None:
    rule = rule_for(tree)
    assert perms.apply(rule).changed == 6
    assert len(set(changes)) == 12
    ctimes = {name: os.lstat(tree / name).st_ctime_ns for name in FILES + DIRS}
    del changes[:]
    stats = perms.apply(rule)
    assert changes == []
    assert (stats.seen, stats.changed, stats.failed) == (6, 0, 0)
    assert {name: os.lstat(tree / name).st_ctime_ns for name in FILES + DIRS} == ctimes


def test_missing_path_is_skipped(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    stats = perms.apply(rule_for(tmp_path / "missing"))
    assert (stats.seen, stats.changed) == (0, 0)
    assert "does not exist" in capfd.readouterr().err
    stats = perms.apply(rule_for(tmp_path / "missing" / "deeper"))
    assert (stats.seen, stats.changed) == (0, 0)
    assert not (tmp_path / "missing").exists()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Link targets outside the tree: root-owned, with modes no rule uses."""
    out = make(tmp_path / "outside", 0o711, directory=True)
    make(out / "secret", 0o604)
    make(out / "inner", 0o701)
    return out


def test_links_inside_the_tree_are_not_followed(tree: Path, outside: Path, changes: list[tuple[str, str]]) -> None:
    os.symlink(outside / "secret", tree / "link-to-file")
    os.symlink(outside, tree / "sub" / "link-to-dir")
    os.symlink("../../outside/secret", tree / "sub" / "relative-link")
    os.symlink(tree / "dangling-target", tree / "dangling")
    links = ["link-to-file", "sub/link-to-dir", "sub/relative-link", "dangling"]
    before = {name: info(tree / name) for name in links}

    stats = perms.apply(rule_for(tree))

    assert info(outside) == (0, 0, 0o711)
    assert info(outside / "secret") == (0, 0, 0o604)
    assert info(outside / "inner") == (0, 0, 0o701)
    assert {name: info(tree / name) for name in links} == before
    assert not (tree / "dangling-target").exists()
    assert (stats.seen, stats.changed) == (6, 6)  # the links are not counted
    assert info(tree / "sub/deeper/c.txt") == (*UG, 0o640)
    touched = {name for _, name in changes}
    assert touched == {"data", "a.txt", "sub", "b.txt", "deeper", "c.txt"}


def test_special_files_get_fmode_and_owner(tree: Path) -> None:
    os.mkfifo(tree / "sub" / "fifo", 0o600)
    stats = perms.apply(rule_for(tree))
    assert info(tree / "sub" / "fifo") == (*UG, 0o640)
    assert (stats.seen, stats.changed) == (7, 7)


def test_top_level_link_is_not_followed(tmp_path: Path, outside: Path, capfd: pytest.CaptureFixture[str]) -> None:
    os.symlink(outside, tmp_path / "link-to-dir")
    os.symlink(outside / "secret", tmp_path / "link-to-file")
    for name in ("link-to-dir", "link-to-file", "link-to-dir/"):
        for recurse in (True, False):
            stats = perms.apply(rule_for(Path(f"{tmp_path}/{name}"), recurse=recurse))
            assert (stats.seen, stats.changed) == (0, 0), name
    assert info(outside) == (0, 0, 0o711)
    assert info(outside / "secret") == (0, 0, 0o604)
    assert info(outside / "inner") == (0, 0, 0o701)
    assert "symbolic link, not followed" in capfd.readouterr().err


@pytest.mark.parametrize("mode", ["4755", "2755", "6750", "6711"])
def test_set_id_bits_survive_the_owner_change(tmp_path: Path, mode: str) -> None:
    data = make(tmp_path / "data", 0o755, directory=True)
    make(data / "tool", int(mode, 8))  # mode already right: only the owner differs
    stats = perms.apply(rule_for(data, fmode=mode, dmode="0755"))
    assert info(data / "tool") == (*UG, int(mode, 8))
    assert (stats.seen, stats.changed) == (2, 2)


def test_set_id_bits_need_no_change_when_owner_is_right(tmp_path: Path) -> None:
    tool = make(tmp_path / "tool", 0o4755, owner=UG)
    ctime = os.lstat(tool).st_ctime_ns
    stats = perms.apply(rule_for(tool, fmode="4755"))
    assert (stats.seen, stats.changed) == (1, 0)
    assert os.lstat(tool).st_ctime_ns == ctime


def test_set_gid_directory_mode(tree: Path) -> None:
    perms.apply(rule_for(tree, dmode="2770"))
    assert info(tree / "sub") == (*UG, 0o2770)


def test_without_chown_ownership_is_left_and_modes_fixed(tree: Path) -> None:
    stats = perms.apply(rule_for(tree), can_chown=False)
    for name in FILES:
        assert info(tree / name) == (0, 0, 0o640), name
    for name in DIRS:
        assert info(tree / name) == (0, 0, 0o750), name
    assert (stats.seen, stats.changed) == (6, 6)
    stats = perms.apply(rule_for(tree), can_chown=False)
    assert (stats.seen, stats.changed) == (6, 0)


def test_without_chown_right_modes_are_left_alone(tree: Path) -> None:
    os.chmod(tree / "a.txt", 0o640)
    ctime = os.lstat(tree / "a.txt").st_ctime_ns
    stats = perms.apply(rule_for(tree / "a.txt"), can_chown=False)
    assert (stats.seen, stats.changed) == (1, 0)
    assert os.lstat(tree / "a.txt").st_ctime_ns == ctime


def test_permission_denied_is_counted(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kw: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", denied)
    monkeypatch.setattr(os, "fchmod", denied)
    stats = perms.apply(rule_for(tree), can_chown=False)
    assert (stats.seen, stats.changed, stats.failed) == (6, 0, 6)


@pytest.fixture
def swap_on_open(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Run a callback just before the walk opens a given name: the race of an entry swapped after it was read."""
    race: dict[str, object] = {"name": None, "then": None, "done": False}
    real_open = os.open

    def racing_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if path == race["name"] and dir_fd is not None and not race["done"]:
            race["done"] = True
            then = race["then"]
            assert callable(then)
            then()
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", racing_open)
    return race


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("data"),
        "sub",
    ],
)
def test_directory_swapped_for_a_link_during_the_walk_is_not_followed(
    tree: Path, outside: Path, swap_on_open: dict[str, object], name: str
) -> None:
    victim = tree if name == "data" else tree / "sub"

    def swap() -> None:
        os.rename(victim, victim.parent / f"{name}-moved")
        os.symlink(outside, victim)

    swap_on_open.update(name=name, then=swap)
    perms.apply(rule_for(tree))
    assert swap_on_open["done"]
    assert info(outside) == (0, 0, 0o711)
    assert info(outside / "secret") == (0, 0, 0o604)
    assert info(outside / "inner") == (0, 0, 0o701)


def test_file_gone_during_the_walk_is_skipped(tree: Path, swap_on_open: dict[str, object]) -> None:
    swap_on_open.update(name="a.txt", then=(tree / "a.txt").unlink)
    stats = perms.apply(rule_for(tree))
    assert swap_on_open["done"]
    assert not (tree / "a.txt").exists()
    assert info(tree / "sub/b.txt") == (*UG, 0o640)
    assert stats.changed == 5


def test_file_swapped_for_a_link_during_the_walk_is_not_followed(
    tree: Path, outside: Path, swap_on_open: dict[str, object]
) -> None:
    victim = tree / "a.txt"

    def swap() -> None:
        victim.unlink()
        os.symlink(outside / "secret", victim)

    swap_on_open.update(name="a.txt", then=swap)
    perms.apply(rule_for(tree))
    assert swap_on_open["done"]
    assert info(outside / "secret") == (0, 0, 0o604)
    assert os.lstat(victim).st_uid == 0  # the link itself is not touched either


def as_user(uid: int, gid: int, func: Callable[[], str]) -> str:
    """func() in a child process running as uid:gid; its result, or the name of what it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            result = func()
        except BaseException as e:
            result = type(e).__name__
        os.write(w, result.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's own tmp dirs are 0700)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


def test_non_root_fixes_modes_of_its_own_files_and_leaves_owners(open_dir: Path) -> None:
    data = make(open_dir / "data", 0o700, owner=UG, directory=True)
    make(data / "mine", 0o600, owner=UG)
    make(data / "roots", 0o600)

    def run() -> str:
        stats = perms.apply(rule_for(data, account="root:root"))  # can_chown defaults to "am I root"
        return f"{stats.seen} {stats.changed} {stats.failed}"

    assert as_user(*UG, run) == "3 2 1"
    assert info(data) == (*UG, 0o750)
    assert info(data / "mine") == (*UG, 0o640)
    assert info(data / "roots") == (0, 0, 0o600)


def test_non_root_on_an_unreadable_path_is_not_an_exception(open_dir: Path) -> None:
    data = make(open_dir / "data", 0o711, directory=True)  # a root-owned volume

    def run() -> str:
        stats = perms.apply(rule_for(data))
        return f"{stats.seen} {stats.changed}"

    assert as_user(*UG, run) == "1 0"
    assert info(data) == (0, 0, 0o711)


# --- hostile paths: no link at any position of a rule's path -----------------------


def deep_rule_tree(tmp_path: Path) -> Path:
    """vol/a/b/c/target/{f, sub/g}: all root, 0600/0700. Returns vol."""
    vol = make(tmp_path / "vol", 0o700, directory=True)
    for name in ("a", "a/b", "a/b/c", "a/b/c/target", "a/b/c/target/sub"):
        make(vol / name, 0o700, directory=True)
    make(vol / "a/b/c/target/f", 0o600)
    make(vol / "a/b/c/target/sub/g", 0o600)
    return vol


def mirror(outside: Path) -> None:
    """outside/{b/c/target, c/target, target}/...: what a link at each position would lead to."""
    for prefix in ("b/c/target", "c/target", "target"):
        node = outside
        for part in prefix.split("/"):
            node = node / part
            if not node.exists():
                make(node, 0o701, directory=True)
        make(node / "f", 0o604)


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            found[path] = info(Path(path))
    return found


@pytest.mark.parametrize("position", ["a", "a/b", "a/b/c"])
@pytest.mark.parametrize("target", ["outside", "dangling", "slash", "etc"])
def test_a_link_at_any_position_of_the_rule_path_skips_the_rule(
    tmp_path: Path, outside: Path, capfd: pytest.CaptureFixture[str], position: str, target: str
) -> None:
    vol = deep_rule_tree(tmp_path)
    mirror(outside)
    before = snapshot(outside)
    etc = snapshot(Path("/etc/ssl")) if Path("/etc/ssl").exists() else {}
    # The real directory moves aside; a link takes its place.
    os.rename(vol / position, vol / f"{position}-real")
    rest = {"a": "", "a/b": "b", "a/b/c": "b/c"}[position]
    link = {"outside": str(outside / rest) if rest else str(outside), "dangling": str(tmp_path / "nowhere"),
            "slash": "/", "etc": "/etc"}[target]  # fmt: skip
    os.symlink(link, vol / position)
    rule = rule_for(vol / "a/b/c/target")
    stats = perms.apply(rule)
    assert (stats.seen, stats.changed) == (0, 0)
    assert snapshot(outside) == before
    if etc:
        assert snapshot(Path("/etc/ssl")) == etc
    err = capfd.readouterr().err
    assert f"perms/10-test:1: {vol}/{position} is a symbolic link, not followed: rule for {rule.path} skipped" in err
    assert err.count("\n") == 1


def test_a_link_as_the_last_component_is_not_followed(tmp_path: Path, outside: Path) -> None:
    os.symlink(outside, tmp_path / "last")
    stats = perms.apply(rule_for(tmp_path / "last"))
    assert (stats.seen, stats.changed) == (0, 0)
    assert info(outside) == (0, 0, 0o711)


def test_a_file_in_the_middle_of_the_path_is_named(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    make(tmp_path / "plain", 0o600)
    stats = perms.apply(rule_for(tmp_path / "plain" / "below"))
    assert (stats.seen, stats.changed) == (0, 0)
    assert f"{tmp_path}/plain is not a directory: rule for {tmp_path}/plain/below skipped" in capfd.readouterr().err


def test_the_whole_path_is_opened_without_following_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep_rule_tree(tmp_path)
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        opened.append((os.fspath(path), flags))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", spy)
    perms.apply(rule_for(tmp_path / "vol/a/b/c/target"))
    components = [p for p, _ in opened[: len(tmp_path.parts) + 5]]
    assert components[0] == "/"
    assert components[1:] == [*tmp_path.parts[1:], "vol", "a", "b", "c", "target"]
    assert all(flags & os.O_NOFOLLOW for path, flags in opened if path != "/")


# --- the walk: any depth, a bounded number of descriptors ----------------------------


def in_child(func: Callable[[], str]) -> str:
    """func() in a forked child (its own limits); its result, or what it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            result = func()
        except BaseException as e:
            result = f"{type(e).__name__}: {e}"
        os.write(w, result.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def chain(top: Path, depth: int, sibling_file: bool = True) -> list[str]:
    """top/d/d/d... `depth` levels below top, a file in each; relative names of every directory made."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    made = []
    try:
        for level in range(depth):
            os.mkdir("d", 0o700, dir_fd=fd)
            if sibling_file:
                os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            made.append(level)
    finally:
        os.close(fd)
    return [str(n) for n in made]


def check_chain(top: Path, depth: int, owner: tuple[int, int], dmode: int, fmode: int) -> str:
    """'ok', or the first level that is wrong."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            f = os.stat("f", dir_fd=fd, follow_symlinks=False)
            if (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode)) != (*owner, fmode):
                return f"file at level {level}"
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            d = os.fstat(fd)
            if (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) != (*owner, dmode):
                return f"directory at level {level + 1}"
    finally:
        os.close(fd)
    return "ok"


@pytest.fixture
def deep_dir() -> Iterator[Path]:
    """A directory for trees too deep for shutil.rmtree (pytest's clean-up would choke on them)."""
    tmp = tempfile.mkdtemp(prefix="ignity-deep-")
    try:
        yield Path(tmp)
    finally:
        subprocess.run(["rm", "-rf", tmp], check=True)


def test_ten_thousand_levels_under_a_1024_open_file_limit(deep_dir: Path) -> None:
    import resource

    top = make(deep_dir / "deep", 0o700, directory=True)
    chain(top, 10_000)

    def run() -> str:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        stats = perms.apply(rule_for(top))
        return f"{stats.seen} {stats.changed} {stats.failed} {stats.raced}"

    assert in_child(run) == "20001 20001 0 0"
    assert check_chain(top, 10_000, UG, 0o750, 0o640) == "ok"


def test_the_walk_holds_a_bounded_number_of_descriptors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = make(tmp_path / "deep", 0o700, directory=True)
    chain(top, 300)
    held = {"now": 0, "most": 0}
    real_open, real_close = os.open, os.close

    def counting_open(*args: Any, **kw: Any) -> int:
        fd = real_open(*args, **kw)
        held["now"] += 1
        held["most"] = max(held["most"], held["now"])
        return fd

    def counting_close(fd: int) -> None:
        held["now"] -= 1
        real_close(fd)

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr(os, "close", counting_close)
    stats = perms.apply(rule_for(top))
    assert held["now"] == 0  # every descriptor closed
    assert held["most"] <= perms.HELD_DIRS + 4, held
    assert stats.changed == 601


@pytest.mark.parametrize("held", [1, 2, 3])
def test_ancestors_left_behind_are_reopened_with_their_remaining_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: int
) -> None:
    # A comb: at every level, a deep branch walked first and siblings walked after it.
    monkeypatch.setattr(perms, "HELD_DIRS", held)
    top = make(tmp_path / "comb", 0o700, directory=True)
    node = top
    for level in range(12):
        for sib in ("x", "y"):
            make(node / f"{sib}{level}", 0o700, directory=True)
            make(node / f"{sib}{level}" / "f", 0o600)
        node = make(node / "z", 0o700, directory=True)
    stats = perms.apply(rule_for(top))
    for path in [top, *top.rglob("*")]:
        want = 0o750 if path.is_dir() else 0o640
        assert info(path) == (*UG, want), path
    assert (stats.failed, stats.raced) == (0, 0)


@pytest.fixture
def names_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subdirectories walked in name order (the listing's order is the file system's)."""
    real_scan = perms._Walk.scan

    def scan(self: perms._Walk, top: Any) -> None:
        real_scan(self, top)
        top.subdirs.sort(reverse=True)  # taken from the end

    monkeypatch.setattr(perms._Walk, "scan", scan)


@pytest.mark.usefixtures("names_in_order")
def test_an_ancestor_swapped_while_the_walk_was_deeper_is_not_followed(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, swap_on_open: dict[str, object],
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setattr(perms, "HELD_DIRS", 1)
    data = make(tmp_path / "data", 0o700, directory=True)
    for name in ("a", "a/b", "a/b/c", "a/b/c/d", "a/x"):
        make(data / name, 0o700, directory=True)
    make(outside / "x", 0o701, directory=True)
    elsewhere = make(tmp_path / "elsewhere", 0o700, directory=True)
    listing = sorted(os.listdir(data / "a"))

    def swap() -> None:
        # Deep in a/b/c: b leaves a, and a becomes a link to `outside`.
        os.rename(data / "a/b", elsewhere / "b")
        os.rename(data / "a", tmp_path / "a-moved")
        os.symlink(outside, data / "a")

    swap_on_open.update(name="d", then=swap)
    stats = perms.apply(rule_for(data))
    assert swap_on_open["done"]
    assert info(outside) == (0, 0, 0o711)
    assert info(outside / "x") == (0, 0, 0o701)
    assert info(outside / "secret") == (0, 0, 0o604)
    assert stats.raced == 1
    # b is walked before x: x, left in a-moved, is not reached through the link, nor at all.
    assert listing == ["b", "x"]
    assert info(tmp_path / "a-moved" / "x") == (0, 0, 0o700)
    assert info(elsewhere / "b" / "c" / "d") == (*UG, 0o750)  # what was held is still the tree's
    perms.report(rule_for(data), stats)
    err = capfd.readouterr().err
    assert f"{data}/a" in err and "changed during the walk" in err


@pytest.mark.usefixtures("names_in_order")
def test_a_parent_found_again_through_its_name_when_its_child_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap_on_open: dict[str, object]
) -> None:
    monkeypatch.setattr(perms, "HELD_DIRS", 1)
    data = make(tmp_path / "data", 0o700, directory=True)
    for name in ("a", "a/b", "a/b/c", "a/b/c/d"):
        make(data / name, 0o700, directory=True)
    for sib in ("s1", "s2", "s3"):
        make(data / "a" / sib, 0o700, directory=True)
    elsewhere = make(tmp_path / "elsewhere", 0o700, directory=True)
    swap_on_open.update(name="d", then=lambda: os.rename(data / "a/b", elsewhere / "b"))
    stats = perms.apply(rule_for(data))
    assert swap_on_open["done"]
    for sib in ("s1", "s2", "s3"):  # walked after b: a was found again by its name
        assert info(data / "a" / sib) == (*UG, 0o750), sib
    assert stats.raced == 0


# --- failures: counted, reported in one line, never swallowed ----------------------------


def test_emfile_is_counted_and_reported(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    real_open = os.open

    def no_fds(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if path in ("sub", "a.txt"):
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", no_fds)
    rule = rule_for(tree)
    perms.apply_all([rule])
    err = capfd.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"[ignity/perms] perms/10-test:1: {tree}: 2 entries could not be changed, first {tree}/")
    assert err[0].endswith(": Too many open files")
    assert info(tree) == (*UG, 0o750)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EPERM, errno.EIO])
def test_a_failing_change_is_one_line_per_rule_and_the_next_rule_runs(
    tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], code: int
) -> None:
    other = make(tmp_path / "other", 0o600)
    real_fchown = os.fchown

    def refuse(fd: int, uid: int, gid: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(tree)):
            raise OSError(code, os.strerror(code))
        real_fchown(fd, uid, gid)

    monkeypatch.setattr(os, "fchown", refuse)
    perms.apply_all([rule_for(tree), rule_for(other)])
    err = capfd.readouterr().err.splitlines()
    assert err == [f"[ignity/perms] perms/10-test:1: {tree}: 6 entries could not be changed, first {tree}: "
                   f"{os.strerror(code)}"]  # fmt: skip
    assert info(other) == (*UG, 0o640)


# --- hard links, devices, fifos, sockets ---------------------------------------------------


def test_hardlinks_protected_reads_the_sysctl(monkeypatch: pytest.MonkeyPatch) -> None:
    want = Path("/proc/sys/fs/protected_hardlinks").read_text().strip() == "1"
    assert perms.hardlinks_protected() is want


def test_hard_links_are_left_alone_when_the_kernel_does_not_protect_them(
    tree: Path, outside: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    os.link(outside / "secret", tree / "shadow")
    rule = rule_for(tree)
    stats = perms.apply(rule, links_ok=False)
    assert info(outside / "secret") == (0, 0, 0o604)
    assert (stats.linked, stats.changed, stats.seen) == (1, 6, 7)
    perms.report(rule, stats)
    err = capfd.readouterr().err
    assert f"{tree}: 1 file with more than one hard link left as they are" in err
    assert f"first {tree}/shadow" in err


def test_hard_links_are_changed_when_the_kernel_protects_them(tree: Path, outside: Path) -> None:
    os.link(outside / "secret", tree / "shadow")
    stats = perms.apply(rule_for(tree), links_ok=True)
    assert info(outside / "secret") == (*UG, 0o640)  # the same inode: no one but its owner could link it
    assert (stats.linked, stats.changed) == (0, 7)


@pytest.fixture
def no_io_opens(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every os.open of a name, with its flags."""
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        opened.append((os.fspath(path), flags))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", spy)
    return opened


def test_devices_fifos_and_sockets_are_fixed_through_o_path_only(
    tree: Path, no_io_opens: list[tuple[str, int]]
) -> None:
    import socket

    null = os.stat("/dev/null").st_rdev
    os.mknod(tree / "sub" / "null", 0o600 | stat.S_IFCHR, null)
    os.mkfifo(tree / "fifo", 0o600)  # no writer: opening it for reading would block
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tree / "sock"))
    finally:
        sock.close()
    os.chmod(tree / "sock", 0o600)
    stats = perms.apply(rule_for(tree))
    for name in ("sub/null", "fifo", "sock"):
        assert info(tree / name) == (*UG, 0o640), name
    assert (stats.seen, stats.changed, stats.failed) == (9, 9, 0)
    special = [flags for name, flags in no_io_opens if name in ("null", "fifo", "sock")]
    assert len(special) == 3
    assert all(flags & os.O_PATH for flags in special)
    assert stat.S_ISCHR(os.lstat(tree / "sub" / "null").st_mode)


# --- properties: any tree, any window --------------------------------------------------------

_names = st.text(alphabet="abcxyz", min_size=1, max_size=3)
_trees = st.recursive(
    st.sampled_from(["file", "link", "fifo"]),
    lambda children: st.dictionaries(_names, children, max_size=4),
    max_leaves=25,
)


def build_tree(path: Path, spec: object, outside: Path, rnd: int) -> None:
    if isinstance(spec, dict):
        path.mkdir()
        os.chmod(path, 0o700 + (rnd % 8))
        for name, child in spec.items():
            build_tree(path / name, child, outside, rnd + len(name))
    elif spec == "file":
        path.write_text("x")
        os.chmod(path, 0o600 + (rnd % 8))
        if rnd % 3:
            os.chown(path, *UG)
    elif spec == "fifo":
        os.mkfifo(path, 0o600)
    else:
        os.symlink(outside / "secret" if rnd % 2 else outside, path)


@settings(max_examples=60, deadline=None)
@given(spec=st.dictionaries(_names, _trees, max_size=4), held=st.integers(min_value=1, max_value=4))
def test_any_tree_is_fixed_and_nothing_outside_it(spec: dict[str, object], held: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        outside = make(base / "outside", 0o711, directory=True)
        make(outside / "secret", 0o604)
        top = base / "top"
        build_tree(top, spec, outside, 0)
        old = perms.HELD_DIRS
        perms.HELD_DIRS = held
        try:
            rule = rule_for(top)
            first = perms.apply(rule)
            second = perms.apply(rule)
        finally:
            perms.HELD_DIRS = old
        assert info(outside) == (0, 0, 0o711)
        assert info(outside / "secret") == (0, 0, 0o604)
        entries = [top, *(p for p in top.rglob("*") if not p.is_symlink())]
        for p in entries:
            assert info(p) == (*UG, 0o750 if p.is_dir() else 0o640), p
        assert first.seen == second.seen == len(entries)
        assert (second.changed, first.failed, first.raced) == (0, 0, 0)


def test_a_failure_on_the_rule_path_itself_names_that_path(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "fchmod", read_only)
    stats = perms.apply(rule_for(tree / "a.txt"))
    assert (stats.seen, stats.changed, stats.failed) == (1, 0, 1)
    assert stats.first_failure == f"{tree}/a.txt: Read-only file system"
    stats = perms.apply(rule_for(tree, recurse=False))
    assert stats.first_failure == f"{tree}: Read-only file system"


def test_read_files_refuses_links_fifos_and_devices_without_reading_them(tmp_path: Path) -> None:
    good = tmp_path / "10-good"
    good.write_text("/a 1:2 0644 0755\n")
    os.symlink(good, tmp_path / "20-link")
    os.mkfifo(tmp_path / "30-fifo")  # no writer: reading it would block forever
    os.mknod(tmp_path / "40-dev", 0o600 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
    for name, what in [("20-link", "is a symbolic link"), ("30-fifo", "is a fifo"), ("40-dev", "is a device")]:
        with pytest.raises(IgnityError, match="^" + re.escape(f"{tmp_path}/{name}: {what}, expected a perms file")):
            perms.read_files([str(good), str(tmp_path / name)], {})


def test_read_files_keeps_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "10-latin1"
    path.write_bytes(b"# caf\xe9\n/srv/caf\xe9 1:2 0644 0755\n")
    [rule] = perms.read_files([str(path)], {})
    assert os.fsencode(rule.path) == b"/srv/caf\xe9"


@pytest.mark.usefixtures("names_in_order")
def test_an_ancestor_that_cannot_be_opened_again_is_a_failure_not_a_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(perms, "HELD_DIRS", 1)
    data = make(tmp_path / "data", 0o700, directory=True)
    for name in ("a", "a/b", "a/b/c", "a/x"):
        make(data / name, 0o700, directory=True)
    real_open = os.open
    opened: list[str] = []

    def no_fds_later(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        opened.append(os.fspath(path))
        if path == ".." or (path == "a" and opened.count("a") > 1):
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", no_fds_later)
    stats = perms.apply(rule_for(data))
    assert opened.count("a") == 2
    assert (stats.failed, stats.raced) == (1, 0)
    assert stats.first_failure == f"{data}/a: Too many open files"
    assert info(data / "a/x") == (0, 0, 0o700)  # not reached: reported, not guessed at


def test_names_that_are_not_utf8_are_walked_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make(tmp_path / "data", 0o700, directory=True)
    raw = os.fsencode(data)
    os.mkdir(raw + b"/d\xff\xfe", 0o700)
    with open(raw + b"/d\xff\xfe/f\x80", "w") as f:
        f.write("x")

    def read_only(*args: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    stats = perms.apply(rule_for(data))
    assert (stats.seen, stats.changed) == (3, 3)
    assert info(Path(os.fsdecode(raw + b"/d\xff\xfe/f\x80"))) == (*UG, 0o640)
    os.chmod(raw + b"/d\xff\xfe/f\x80", 0o600)
    monkeypatch.setattr(os, "fchmod", read_only)
    stats = perms.apply(rule_for(data))
    assert os.fsencode(stats.first_failure) == raw + b"/d\xff\xfe/f\x80: Read-only file system"


def test_non_root_without_search_permission_on_the_path_is_one_failure(open_dir: Path) -> None:
    private = make(open_dir / "private", 0o700, directory=True)  # root's
    make(private / "data", 0o700, owner=UG, directory=True)

    def run() -> str:
        rule = rule_for(private / "data", account="root:root")
        stats = perms.apply(rule)
        return f"{stats.seen} {stats.changed} {stats.failed} {stats.first_failure}"

    assert as_user(*UG, run) == f"1 0 1 {private}/data: cannot open {private}/data: Permission denied"
    assert info(private / "data") == (*UG, 0o700)


def test_non_root_needs_only_search_permission_on_the_path(open_dir: Path) -> None:
    home = make(open_dir / "home", 0o711, directory=True)  # root's: others may pass, not list
    make(home / "data", 0o700, owner=UG, directory=True)
    make(home / "data" / "f", 0o600, owner=UG)

    def run() -> str:
        stats = perms.apply(rule_for(home / "data", account="root:root"))
        return f"{stats.seen} {stats.changed} {stats.failed}"

    assert as_user(*UG, run) == "2 2 0"
    assert info(home / "data") == (*UG, 0o750)
    assert info(home / "data" / "f") == (*UG, 0o640)
