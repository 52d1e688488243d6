"""deps: the dependency graph reader, cycle finder and start waves (issue #13)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SRC = str(Path(__file__).resolve().parents[2] / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

from ignity import deps  # noqa: E402
from ignity.errors import IgnityError  # noqa: E402

NAMES = st.sampled_from([f"s{i}" for i in range(12)])


def service(root: Path, name: str, *depends_on: str) -> Path:
    directory = root / name
    (directory / "dependencies.d").mkdir(parents=True, exist_ok=True)
    for dep in depends_on:
        (directory / "dependencies.d" / dep).touch()
    return directory


# --- read ---------------------------------------------------------------------------


def test_read_lists_every_service_with_its_sorted_dependencies(tmp_path: Path) -> None:
    service(tmp_path, "web", "db", "cache")
    service(tmp_path, "cache", "db")
    (tmp_path / "db").mkdir()  # no dependencies.d at all
    (tmp_path / "web" / "dependencies.d" / ".gitkeep").touch()  # dot-files are skipped
    (tmp_path / ".hidden").mkdir()  # so are dot services
    (tmp_path / "README").write_text("not a service\n")  # and files
    assert deps.read(str(tmp_path)) == {"cache": ["db"], "db": [], "web": ["cache", "db"]}


def test_read_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert deps.read(str(tmp_path / "nothing")) == {}


def test_read_follows_a_linked_service_directory(tmp_path: Path) -> None:
    service(tmp_path / "elsewhere", "real", "db")
    service(tmp_path / "services", "db")
    (tmp_path / "services" / "real").symlink_to(tmp_path / "elsewhere" / "real")
    assert deps.read(str(tmp_path / "services")) == {"db": [], "real": ["db"]}


def test_read_of_an_unlistable_dependencies_dir_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "dependencies.d").symlink_to("dependencies.d")  # a loop: ELOOP, even for root
    with pytest.raises(IgnityError, match=r"web/dependencies\.d: cannot list: ") as info:
        deps.read(str(tmp_path))
    assert "\n" not in str(info.value)


# --- find_cycle / levels: examples ---------------------------------------------------


def test_chain_and_diamond_levels() -> None:
    assert deps.levels({"db": [], "cache": ["db"], "web": ["cache"]}) == [["db"], ["cache"], ["web"]]
    diamond = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert deps.levels(diamond) == [["a"], ["b", "c"], ["d"]]
    assert deps.levels({}) == []
    assert deps.levels({"z": [], "a": [], "m": []}) == [["a", "m", "z"]]


def test_a_wave_waits_for_its_latest_dependency() -> None:
    graph = {"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"]}
    assert deps.levels(graph) == [["a"], ["b"], ["c"], ["d"]]


def test_find_cycle_names_the_whole_cycle() -> None:
    assert deps.find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert deps.find_cycle({"a": ["a"]}) == ["a", "a"]
    assert deps.find_cycle({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert deps.find_cycle({"a": [], "b": ["a"]}) is None
    assert deps.find_cycle({"a": ["unknown"]}) is None


def test_levels_names_a_cycle() -> None:
    with pytest.raises(IgnityError, match=r"^dependency cycle: a -> b -> a "):
        deps.levels({"a": ["b"], "b": ["a"], "c": []})


def test_levels_names_the_service_and_the_unknown_dependency() -> None:
    with pytest.raises(IgnityError) as info:
        deps.levels({"web": ["db"]})
    message = str(info.value)
    assert "service web depends on db" in message and "\n" not in message


def test_a_deep_chain_needs_no_recursion_and_is_fast() -> None:
    depth = 20_000  # far past Python's recursion limit
    graph = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(depth)}
    started = time.monotonic()
    waves = deps.levels(graph)
    assert time.monotonic() - started < 2  # a bound, not a benchmark
    assert len(waves) == depth and waves[0] == ["s0"] and waves[-1] == [f"s{depth - 1}"]
    graph["s0"] = [f"s{depth - 1}"]
    cycle = deps.find_cycle(graph)
    assert cycle is not None and len(cycle) == depth + 1 and cycle[0] == cycle[-1]


# --- properties -------------------------------------------------------------------------


graphs = st.dictionaries(NAMES, st.lists(NAMES, max_size=4, unique=True), max_size=12)


def known_only(graph: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: sorted(d for d in ds if d in graph) for name, ds in graph.items()}


def acyclic(graph: dict[str, list[str]]) -> dict[str, list[str]]:
    """Keep only edges to a smaller name: never a cycle."""
    return {name: [d for d in ds if d < name] for name, ds in known_only(graph).items()}


def is_cycle(graph: dict[str, list[str]], cycle: list[str]) -> bool:
    return (
        len(cycle) >= 2
        and cycle[0] == cycle[-1]
        and len(set(cycle[:-1])) == len(cycle) - 1
        and all(b in graph[a] for a, b in zip(cycle, cycle[1:]))
    )


@given(graphs)
@settings(max_examples=300, deadline=None)
def test_levels_respect_every_edge_and_hold_every_service_once(raw: dict[str, list[str]]) -> None:
    graph = acyclic(raw)
    waves = deps.levels(graph)
    flat = [name for wave in waves for name in wave]
    assert sorted(flat) == sorted(graph)  # every service, once
    assert all(wave == sorted(wave) and wave for wave in waves)
    level = {name: i for i, wave in enumerate(waves) for name in wave}
    for name, ds in graph.items():
        for dep in ds:
            assert level[dep] < level[name]
        # as early as possible: right after the latest dependency
        assert level[name] == (max(level[d] for d in ds) + 1 if ds else 0)


@given(graphs)
@settings(max_examples=300, deadline=None)
def test_a_cycle_is_found_exactly_when_there_is_one(raw: dict[str, list[str]]) -> None:
    graph = known_only(raw)
    cycle = deps.find_cycle(graph)
    if cycle is None:
        deps.levels(graph)  # no cycle: waves exist
    else:
        assert is_cycle(graph, cycle)
        with pytest.raises(IgnityError, match="dependency cycle: " + " -> ".join(cycle)):
            deps.levels(graph)


@given(graphs, st.data())
@settings(max_examples=200, deadline=None)
def test_a_closed_loop_is_always_found(raw: dict[str, list[str]], data: st.DataObject) -> None:
    graph = known_only(raw)
    loop = data.draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    for a, b in zip(loop, loop[1:] + loop[:1]):
        graph.setdefault(a, [])
        graph.setdefault(b, [])
        if b not in graph[a]:
            graph[a] = sorted([*graph[a], b])
    cycle = deps.find_cycle(graph)
    assert cycle is not None and is_cycle(graph, cycle)


@given(graphs, NAMES, st.sampled_from(["ghost", "db-old", "x"]))
@settings(max_examples=200, deadline=None)
def test_an_unknown_name_always_raises_naming_both(raw: dict[str, list[str]], name: str, unknown: str) -> None:
    graph = known_only(raw)
    graph.setdefault(name, [])
    graph[name] = sorted({*graph[name], unknown})
    with pytest.raises(IgnityError) as info:
        deps.levels(graph)
    message = str(info.value)
    assert f"depends on {unknown}," in message and message.startswith("service ")


@given(graphs)
@settings(max_examples=100, deadline=None)
def test_read_gives_back_the_graph_written(tmp_path_factory: pytest.TempPathFactory, raw: dict[str, list[str]]) -> None:
    root = tmp_path_factory.mktemp("services")
    for name, ds in raw.items():
        service(root, name, *ds)
    assert deps.read(str(root)) == {name: sorted(ds) for name, ds in raw.items()}
