"""usermap: USER / USERMAP_UID / USERMAP_GID (SPEC.md "Variables", "User mapping (preboot)") on fake /etc dirs."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import usermap  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ensure keeps file owners with fchown)")

PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
www-data:x:33:
shadow:x:42:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""
SHADOW = """\
root:*:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
bin:*:19700:0:99999:7:::
sys:*:19700:0:99999:7:::
www-data:*:19700:0:99999:7:::
_apt:*:19700:0:99999:7:::
nobody:*:19700:0:99999:7:::
"""
SHADOW_GID = 42


def make_etc(
    etc: Path, passwd: str = PASSWD, group: str = GROUP, shadow: str | None = SHADOW, gshadow: bool = False
) -> Path:
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(passwd)
    os.chmod(etc / "passwd", 0o644)
    (etc / "group").write_text(group)
    os.chmod(etc / "group", 0o644)
    if shadow is not None:
        (etc / "shadow").write_text(shadow)
        os.chown(etc / "shadow", 0, SHADOW_GID)
        os.chmod(etc / "shadow", 0o640)
    return etc


def ensure(etc: Path, name: str, uid: int, gid: int) -> bool:
    return usermap.ensure(usermap.Account(name, uid, gid), etc=str(etc))


def lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.read_text() else []


def rows(path: Path) -> list[list[str]]:
    return [line.split(":") for line in lines(path)]


def named(path: Path, name: str) -> list[str]:
    return [line for line in lines(path) if line.split(":")[0] == name]


def snapshot(etc: Path) -> dict[str, tuple[bytes, int, int, int, int]]:
    out = {}
    for entry in sorted(os.listdir(etc)):
        st_ = os.stat(etc / entry)
        out[entry] = ((etc / entry).read_bytes(), st_.st_ino, stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid)
    return out


# --- from_env -----------------------------------------------------------------


def account(env: dict[str, str]) -> tuple[str, int, int]:
    m = usermap.from_env(env)
    return m.name, m.uid, m.gid


def test_defaults_are_root() -> None:
    assert account({}) == ("root", 0, 0)
    assert account({"USER": "", "USERMAP_UID": "", "USERMAP_GID": ""}) == ("root", 0, 0)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"USER": "app", "USERMAP_UID": "1000", "USERMAP_GID": "1001"}, ("app", 1000, 1001)),
        ({"USER": "www-data"}, ("www-data", 0, 0)),
        ({"USER": "a.b_c-1", "USERMAP_UID": "0"}, ("a.b_c-1", 0, 0)),
        ({"USER": "A" * 32, "USERMAP_GID": "4294967294"}, ("A" * 32, 0, 4294967294)),
        ({"USERMAP_UID": "0000001000"}, ("root", 1000, 0)),
        ({"USER": "_apt", "USERMAP_UID": "42", "USERMAP_GID": "65534"}, ("_apt", 42, 65534)),
    ],
)
def test_valid_values(env: dict[str, str], expected: tuple[str, int, int]) -> None:
    assert account(env) == expected


@pytest.mark.parametrize("name", ["-app", "a b", "a:b", "a/b", "app$", "é", "a\nb", "a" * 33, " app", "app\0"])
def test_bad_user_names(name: str) -> None:
    with pytest.raises(IgnityError) as info:
        usermap.from_env({"USER": name, "USERMAP_UID": "1000"})
    assert str(info.value).startswith(f"USER={name!r}: ")


@pytest.mark.parametrize("variable", ["USERMAP_UID", "USERMAP_GID"])
@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "-1",
        "+1",
        "1.5",
        " 1000",
        "1000 ",
        "0x10",
        "１０",
        "٣",
        "4294967295",
        "4294967296",
        "99999999999",
        "9" * 5000,
    ],
)
def test_bad_ids_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(IgnityError) as info:
        usermap.from_env({"USER": "app", variable: value})
    assert str(info.value).startswith(f"{variable}={value!r}: ")


@given(st.integers(min_value=0, max_value=2**32 - 2), st.integers(min_value=0, max_value=2**32 - 2))
def test_every_valid_id_is_accepted(uid: int, gid: int) -> None:
    assert account({"USER": "app", "USERMAP_UID": str(uid), "USERMAP_GID": str(gid)}) == ("app", uid, gid)


@given(st.dictionaries(st.sampled_from(["USER", "USERMAP_UID", "USERMAP_GID"]), st.text(max_size=40)))
def test_from_env_returns_or_raises_ignity_error(env: dict[str, str]) -> None:
    try:
        m = usermap.from_env(env)
    except IgnityError:
        return
    assert 0 <= m.uid < 2**32 - 1 and 0 <= m.gid < 2**32 - 1
    assert m.name and ":" not in m.name and "\n" not in m.name


# --- ensure -------------------------------------------------------------------


def test_root_with_zero_ids_writes_nothing(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    before = snapshot(etc)
    assert ensure(etc, "root", 0, 0) is False
    assert snapshot(etc) == before


def test_creates_group_and_user(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    assert ensure(etc, "app", 1000, 1001) is True
    assert lines(etc / "passwd") == [*PASSWD.splitlines(), "app:x:1000:1001::/nonexistent:/bin/false"]
    assert lines(etc / "group") == [*GROUP.splitlines(), "app:x:1001:"]
    assert lines(etc / "shadow") == [*SHADOW.splitlines(), "app:!:::::::"]


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    assert ensure(etc, "app", 1000, 1000) is True
    after_first = snapshot(etc)
    assert ensure(etc, "app", 1000, 1000) is False
    assert snapshot(etc) == after_first  # same bytes, same inodes: nothing rewritten
    assert len(named(etc / "passwd", "app")) == len(named(etc / "group", "app")) == 1
    assert len(named(etc / "shadow", "app")) == 1


def test_no_shadow_file_is_created(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc", shadow=None)
    assert ensure(etc, "app", 1000, 1000) is True
    assert named(etc / "passwd", "app") == ["app:x:1000:1000::/nonexistent:/bin/false"]
    assert not (etc / "shadow").exists()


def test_existing_shadow_entry_is_not_duplicated(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc", shadow=SHADOW + "app:$6$salt$hash:19700:0:99999:7:::\n")
    assert ensure(etc, "app", 1000, 1000) is True
    assert named(etc / "shadow", "app") == ["app:$6$salt$hash:19700:0:99999:7:::"]


def test_taken_gid_is_reused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    etc = make_etc(tmp_path / "etc")
    assert ensure(etc, "app", 1000, 100) is True
    assert lines(etc / "group") == GROUP.splitlines()  # no new group: "users" is reused
    assert named(etc / "passwd", "app") == ["app:x:1000:100::/nonexistent:/bin/false"]
    err = capfd.readouterr().err
    assert "gid 100" in err and "'users'" in err


def test_taken_uid_is_reused(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    etc = make_etc(tmp_path / "etc")
    before = snapshot(etc)
    assert ensure(etc, "app", 33, 1000) is True  # the group is new
    assert lines(etc / "group") == [*GROUP.splitlines(), "app:x:1000:"]
    after = snapshot(etc)
    assert after["passwd"] == before["passwd"]  # www-data keeps uid 33: no new line, file untouched
    assert after["shadow"] == before["shadow"]
    err = capfd.readouterr().err
    assert "uid 33" in err and "'www-data'" in err


def test_taken_uid_and_gid_write_nothing(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    before = snapshot(etc)
    assert ensure(etc, "app", 33, 33) is False
    assert snapshot(etc) == before


def test_existing_name_gets_the_wanted_ids(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    etc = make_etc(
        tmp_path / "etc",
        passwd=PASSWD + "app:x:1001:1001:The App,,,:/home/app:/bin/sh\n",
        group=GROUP + "app:x:1001:alice,bob\n",
        shadow=SHADOW + "app:!:19700:0:99999:7:::\n",
    )
    assert ensure(etc, "app", 2000, 2001) is True
    assert lines(etc / "passwd") == [*PASSWD.splitlines(), "app:x:2000:2001:The App,,,:/home/app:/bin/sh"]
    assert lines(etc / "group") == [*GROUP.splitlines(), "app:x:2001:alice,bob"]
    assert named(etc / "shadow", "app") == ["app:!:19700:0:99999:7:::"]
    err = capfd.readouterr().err
    assert "had uid 1001" in err and "had gid 1001" in err
    assert ensure(etc, "app", 2000, 2001) is False


def test_existing_user_gets_the_wanted_gid(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc", passwd=PASSWD + "app:x:1000:100::/home/app:/bin/sh\n")
    assert ensure(etc, "app", 1000, 1000) is True
    assert named(etc / "passwd", "app") == ["app:x:1000:1000::/home/app:/bin/sh"]
    assert named(etc / "group", "app") == ["app:x:1000:"]


def test_existing_system_user_with_its_own_ids_writes_nothing(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    before = snapshot(etc)
    assert ensure(etc, "www-data", 33, 33) is False
    assert snapshot(etc) == before


def test_root_keeps_uid_zero(tmp_path: Path) -> None:
    # USER defaults to root: USERMAP_UID=1000 alone must not turn root into uid 1000.
    etc = make_etc(tmp_path / "etc")
    ensure(etc, "root", 1000, 1000)
    assert named(etc / "passwd", "root") == ["root:x:0:0:root:/root:/bin/bash"]
    assert named(etc / "group", "root") == ["root:x:0:"]


def test_modes_and_owners_are_kept(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    os.chown(etc / "group", 0, SHADOW_GID)
    os.chmod(etc / "group", 0o664)
    os.chmod(etc / "passwd", 0o444)
    before = snapshot(etc)
    assert ensure(etc, "app", 1000, 1000) is True
    after = snapshot(etc)
    for name in ("passwd", "group", "shadow"):
        assert after[name][2:] == before[name][2:], name  # mode, uid, gid
        assert after[name][1] != before[name][1], name  # a new inode: replaced, not rewritten in place
    assert after["shadow"][2:] == (0o640, 0, SHADOW_GID)


def test_writing_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc")
    with open(etc / "passwd") as reader:  # a reader holding the old file sees all of it
        assert ensure(etc, "app", 1000, 1000) is True
        assert reader.read() == PASSWD
    assert sorted(os.listdir(etc)) == ["group", "passwd", "shadow"]


def test_stale_temporary_file_does_not_block(tmp_path: Path) -> None:
    # An earlier run interrupted before its rename, with the same pid (PID 1 in a container).
    etc = make_etc(tmp_path / "etc")
    (etc / f"passwd.ignity-{os.getpid()}").write_text("half of a passwd fi")
    assert ensure(etc, "app", 1000, 1000) is True
    assert named(etc / "passwd", "app") == ["app:x:1000:1000::/nonexistent:/bin/false"]


def test_group_file_without_trailing_newline(tmp_path: Path) -> None:
    etc = make_etc(tmp_path / "etc", group=GROUP.rstrip("\n"), passwd=PASSWD.rstrip("\n"))
    assert ensure(etc, "app", 1000, 1000) is True
    assert (etc / "group").read_text() == GROUP + "app:x:1000:\n"
    assert (etc / "passwd").read_text() == PASSWD + "app:x:1000:1000::/nonexistent:/bin/false\n"


def test_missing_group_and_passwd_files_are_created(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    assert ensure(etc, "app", 1000, 1000) is True
    assert lines(etc / "group") == ["app:x:1000:"]
    assert lines(etc / "passwd") == ["app:x:1000:1000::/nonexistent:/bin/false"]
    assert stat.S_IMODE(os.stat(etc / "passwd").st_mode) == 0o644
    assert not (etc / "shadow").exists()


@pytest.mark.parametrize(
    "extra",
    [
        "# managed by the image\n",
        "bob:x:1001:1001:Bob\x0cSmith:/home/bob:/bin/sh\n",
        "bob:x:1001:1001:Bob\u2028Smith:/home/bob:/bin/sh\n",
    ],
)
def test_other_lines_are_kept_byte_for_byte(tmp_path: Path, extra: str) -> None:
    etc = make_etc(tmp_path / "etc", passwd=PASSWD + extra)
    assert ensure(etc, "app", 1000, 1000) is True
    assert (etc / "passwd").read_text() == PASSWD + extra + "app:x:1000:1000::/nonexistent:/bin/false\n"


# --- ensure: properties -------------------------------------------------------

_FIRST = "abcdefghijklmnopqrstuvwxyz_"
names = st.one_of(
    st.builds(lambda a, b: a + b, st.sampled_from(_FIRST), st.text(alphabet=_FIRST + "0123456789.-", max_size=10)),
    st.sampled_from([line.split(":")[0] for line in PASSWD.splitlines()] + ["staff", "users", "nogroup"]),
)
ids = st.one_of(st.integers(min_value=0, max_value=70000), st.sampled_from([0, 1, 33, 42, 50, 100, 65534]))


@settings(max_examples=150, deadline=None)
@given(names, ids, ids, st.booleans())
def test_ensure_twice_keeps_files_sound(name: str, uid: int, gid: int, with_shadow: bool) -> None:
    assume(name != "root")  # root is never remapped (test_root_keeps_uid_zero)
    with tempfile.TemporaryDirectory() as tmp:
        etc = make_etc(Path(tmp) / "etc", shadow=SHADOW if with_shadow else None)
        uid_owner = next((r[0] for r in rows(etc / "passwd") if r[2] == str(uid)), None)
        gid_owner = next((r[0] for r in rows(etc / "group") if r[2] == str(gid)), None)
        name_known = any(r[0] == name for r in rows(etc / "passwd"))

        ensure(etc, name, uid, gid)
        after_first = snapshot(etc)
        assert ensure(etc, name, uid, gid) is False
        assert snapshot(etc) == after_first

        passwd, group = rows(etc / "passwd"), rows(etc / "group")
        assert all(len(r) == 7 for r in passwd)
        assert all(len(r) == 4 for r in group)
        assert len({r[0] for r in passwd}) == len(passwd)  # no duplicate names
        assert len({r[0] for r in group}) == len(group)
        assert sorted(os.listdir(etc)) == (["group", "passwd", "shadow"] if with_shadow else ["group", "passwd"])

        mine = [r for r in passwd if r[0] == name]
        expected = 0 if uid_owner not in (None, name) and not name_known else 1
        assert len(mine) == expected
        # The gid always exists afterwards, owned by the name unless it was taken.
        assert [r[0] for r in group if r[2] == str(gid)] == [gid_owner or name]
        if uid_owner in (None, name):
            assert mine[0][2:4] == [str(uid), str(gid)]
        else:  # reused: the owner of the uid is left alone
            assert [r[0] for r in passwd if r[2] == str(uid)] == [uid_owner]
        if with_shadow:
            shadow = rows(etc / "shadow")
            assert all(len(r) == 9 for r in shadow)
            assert len({r[0] for r in shadow}) == len(shadow)
            assert {r[0] for r in passwd} <= {r[0] for r in shadow}
