"""dependencies.d: s6-rc's format (NAME/dependencies.d/OTHER, empty files), checked before a boot waits on it.

A name that is no service, a service with a `down` file (never started, so
never up: its dependents would wait for ever) and a cycle (nothing in it
can start) are errors; the graph is deps.py's, the one stage 2 starts from.
"""

from __future__ import annotations

import stat

from ignity import deps
from ignity.check.report import did_you_mean, show
from ignity.check.root import kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ignity.check.context import Context

DEPENDENCIES = deps.DEPENDENCIES


def check(ctx: Context, directory: str, found: dict[str, tuple[str, set[str]]]) -> None:
    """Every service's dependencies.d, then the cycles of the graph (`found`: name -> (shown, entries))."""
    graph: dict[str, list[str]] = {}
    for name, (shown, entries) in found.items():
        graph[name] = []
        if DEPENDENCIES in entries:
            graph[name] = _entries(ctx, f"{directory}/{name}", shown, name, found)
    for cycle in _cycles(graph):
        first = found[cycle[0]][0]
        ctx.error(
            f"{first}/{DEPENDENCIES}",
            None,
            f"dependency cycle: {' -> '.join(show(n) for n in cycle)}: none of these services can start",
            f"remove one of these dependencies, e.g. {first}/{DEPENDENCIES}/{show(cycle[1])}",
        )


def _entries(ctx: Context, path: str, shown: str, name: str, found: dict[str, tuple[str, set[str]]]) -> list[str]:
    """The known dependencies of one service; every bad entry reported."""
    directory, shown_dir = f"{path}/{DEPENDENCIES}", f"{shown}/{DEPENDENCIES}"
    st = ctx.view.stat(directory)
    if isinstance(st, str) or not stat.S_ISDIR(st.st_mode):
        why = st if isinstance(st, str) else f"is {kind(st.st_mode)}, expected a directory"
        ctx.error(shown_dir, None, why, f"make it a directory with one empty file per service {name} needs")
        return []
    known = []
    for dep in ctx.listdir(directory):
        if dep.startswith("."):
            continue
        entry, where = f"{directory}/{dep}", f"{shown_dir}/{show(dep)}"
        fix = f"make it an empty file: : > {where}"
        est = ctx.regular(entry, where, "an empty file named after a service", fix)
        if est is None:
            continue
        if est.st_size:
            ctx.error(where, None, "is not empty: a dependency is an empty file named after the service", fix)
        if dep not in found:
            close = did_you_mean(dep, found)
            ctx.error(
                where,
                None,
                f"{show(name)} depends on {show(dep)}, which is not a service",
                f"did you mean {show(close)}?" if close else f"remove it, or add the service {show(dep)}",
            )
            continue
        dep_shown, dep_entries = found[dep]
        if "down" in dep_entries:
            ctx.error(
                where,
                None,
                f"{show(name)} depends on {show(dep)}, which has a down file: it is never started, "
                f"so {show(name)} would wait for it for ever",
                f"remove {dep_shown}/down, or this dependency",
            )
        known.append(dep)
    return known


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Every cycle deps.find_cycle finds, one edge of each removed before looking again."""
    graph = {name: list(ds) for name, ds in graph.items()}
    cycles: list[list[str]] = []
    while True:
        cycle = deps.find_cycle(graph)
        if cycle is None:
            return cycles
        cycles.append(cycle)
        graph[cycle[0]].remove(cycle[1])
