"""The service dependency graph: read from dependencies.d/, checked for cycles, cut into start waves.

The one reader of the graph, shared by stage 2 (which starts the waves in
order) and `ignity check` (which reports what is wrong before a boot). The
format is s6-rc's source format, so an s6-overlay user recognises it: the
service NAME depends on OTHER when the file NAME/dependencies.d/OTHER exists.

It runs at every boot, so it only lists directories (no reads of the files,
which must be empty anyway) and walks the graph once, without recursion: a
deep chain must not hit Python's recursion limit.
"""

from __future__ import annotations

import os

from ignity.errors import IgnityError

DEPENDENCIES = "dependencies.d"


def _names(directory: str) -> list[str]:
    """The entries of `directory` that are not dot-files, sorted; none when it does not exist."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as e:
        raise IgnityError(f"{directory}: cannot list: {e.strerror}") from None
    return sorted(name for name in names if not name.startswith("."))


def read(services_dir: str) -> dict[str, list[str]]:
    """name -> sorted names of its dependencies, for every service directory in `services_dir`.

    A missing `services_dir` or `dependencies.d` means no services or no
    dependencies; names are not checked here (levels() does that).
    """
    graph: dict[str, list[str]] = {}
    for name in _names(services_dir):
        path = os.path.join(services_dir, name)
        if os.path.isdir(path):
            graph[name] = _names(os.path.join(path, DEPENDENCIES))
    return graph


def any_dependencies(services_dir: str) -> bool:
    """Whether a service of `services_dir` depends on another: its stop then keeps an order.

    Without one, every stop has s6-svscan tell every supervisor at once
    (runtime.stop_argv). For the callers that do not have the graph at hand
    (stage 2 has: services.Service.deps). The SIGTERM
    handler asks the same with a shell glob (`*/dependencies.d/*`): non-dot
    names only, as here.
    """
    try:
        names = os.listdir(services_dir)
    except OSError:
        return False
    for name in names:
        if name.startswith("."):
            continue
        try:
            if any(not n.startswith(".") for n in os.listdir(os.path.join(services_dir, name, DEPENDENCIES))):
                return True
        except OSError:
            continue
    return False


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle as the path that closes it (["a", "b", "a"]; ["a", "a"] for a self-dependency), or None.

    Deterministic: services and their dependencies are walked in sorted
    order, so the same graph always names the same cycle. Names that are
    not in the graph are skipped (levels() reports them).
    """
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        # Depth-first with an explicit stack: (node, iterator over its deps); `path` is the current chain.
        path = [start]
        on_path = {start: 0}
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                node = path.pop()
                del on_path[node]
                done.add(node)
                continue
            if nxt in on_path:
                return [*path[on_path[nxt] :], nxt]
            if nxt in done or nxt not in graph:
                continue
            on_path[nxt] = len(path)
            path.append(nxt)
            stack.append(iter(sorted(graph[nxt])))
    return None


def levels(graph: dict[str, list[str]]) -> list[list[str]]:
    """The start waves: each service after all its dependencies, each wave sorted; [] for no services.

    A service's wave is one more than its latest dependency's, so
    independent services share the first wave and start in parallel.
    Raises IgnityError naming the first unknown dependency, or the cycle.
    """
    for name in sorted(graph):
        for dep in graph[name]:
            if dep not in graph:
                raise IgnityError(
                    f"service {name} depends on {dep}, which is not a service "
                    f"(remove {name}/{DEPENDENCIES}/{dep}, or add the service {dep})"
                )
    cycle = find_cycle(graph)
    if cycle is not None:
        raise IgnityError(f"dependency cycle: {' -> '.join(cycle)} (remove one of these dependencies)")
    # Kahn's algorithm, one wave at a time: a service is ready once no dependency is left unstarted.
    waiting = {name: len(set(deps)) for name, deps in graph.items()}
    needed_by: dict[str, list[str]] = {name: [] for name in graph}
    for name, deps in graph.items():
        for dep in set(deps):
            needed_by[dep].append(name)
    wave = sorted(name for name, count in waiting.items() if count == 0)
    waves: list[list[str]] = []
    while wave:
        waves.append(wave)
        following = []
        for name in wave:
            for user in needed_by[name]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    following.append(user)
        wave = sorted(following)
    return waves
