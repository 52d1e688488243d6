"""reload: what changed between /etc/ignity/services and the boot's copies, the stop order,
and the one line it prints."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import reload, runtime  # noqa: E402


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755 if rel.endswith("run") else 0o644)
    return root


def kept_copy(etc: Path, kept: Path, strip: int = 0o022) -> None:
    kept.mkdir()
    for name in os.listdir(etc):
        runtime.copy(str(etc / name), str(kept / name), strip=strip)


def test_added_removed_changed(tmp_path: Path) -> None:
    etc = tree(tmp_path / "etc", {"same/run": "a", "edit/run": "a", "mode/run": "a", "deep/x/y": "1", "gone/run": "a"})
    (etc / "link").mkdir()
    (etc / "link" / "run").symlink_to("/bin/true")
    kept = tmp_path / "kept"
    kept_copy(etc, kept)
    os.chmod(etc / "same" / "run", 0o775)  # group write: stripped by the copy as by the boot
    (etc / "edit" / "run").write_text("b")
    os.chmod(etc / "mode" / "run", 0o644)
    (etc / "deep" / "x" / "y").write_text("2")
    (etc / "link" / "run").unlink()
    (etc / "link" / "run").symlink_to("/bin/false")
    import shutil

    shutil.rmtree(etc / "gone")
    tree(etc, {"new/run": "n"})
    added, removed, changed = reload.differences(str(etc), str(kept), 0o022)
    assert (added, removed, changed) == (["new"], ["gone"], ["deep", "edit", "link", "mode"])


def test_a_file_added_or_removed_inside_is_a_change(tmp_path: Path) -> None:
    etc = tree(tmp_path / "etc", {"a/run": "a", "b/run": "b", "b/down": ""})
    kept = tmp_path / "kept"
    kept_copy(etc, kept)
    (etc / "a" / "down").write_text("")
    (etc / "b" / "down").unlink()
    assert reload.differences(str(etc), str(kept), 0o022) == ([], [], ["a", "b"])


def test_nothing_changed(tmp_path: Path) -> None:
    etc = tree(tmp_path / "etc", {"a/run": "a", "a/dependencies.d/b": "", "b/run": "b", ".hidden/run": "x"})
    kept = tmp_path / "kept"
    kept_copy(etc, kept)
    (kept / ".hidden").rename(kept / ".other")
    assert reload.differences(str(etc), str(kept), 0o022) == ([], [], [])


def test_stop_order_dependents_first() -> None:
    graph = {"app": ["db", "cache"], "db": [], "cache": ["db"], "web": ["app"], "other": []}
    order = reload.stop_order({"app", "db", "web", "other"}, graph)
    assert order.index("web") < order.index("app") < order.index("db")
    assert sorted(order) == ["app", "db", "other", "web"]


def test_summary() -> None:
    assert reload.summary(["newsvc"], ["other"], ["svc"]) == "added newsvc; removed other; restarted svc"
    assert reload.summary([], [], ["a", "b"]) == "restarted a, b"
