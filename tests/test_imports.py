"""The package's import graph, read with `ast`: no cycles, and no host adapter imports another host's package.

Every import counts: at module level, inside functions, and under `if TYPE_CHECKING:` (a cycle that only type
hints close is still two modules that cannot be understood, or moved, one without the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).parent.parent / "bot"
HOSTS = ("bot.hosts.github", "bot.hosts.gitlab")


def _name(path: Path) -> str:
    return ".".join(path.relative_to(BOT.parent).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_name(p): p for p in sorted(BOT.rglob("*.py"))}


def _owner(name: str) -> str | None:
    """Return the module of ours that an imported name lives in (`bot.a.b.func` -> `bot.a.b`), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """Return the modules of ours that one import statement names (a `from package import module` names the module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importing module's package, up level - 1
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(parts + ([base] if base else []))
        names = [f"{base}.{alias.name}" for alias in node.names]
    found = {_owner(name) for name in names if name == "bot" or name.startswith("bot.")}
    return {target for target in found if target is not None and target != module}


def import_graph() -> dict[str, set[str]]:
    """Return each module of `bot` and the modules of `bot` it imports, wherever in the file the import is."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = set().union(*(_targets(module, n) for n in ast.walk(tree)
                                      if isinstance(n, (ast.Import, ast.ImportFrom))))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one path around each cycle found by a depth-first walk (empty when the graph has none)."""
    found, state = [], dict.fromkeys(graph, "new")
    for start in sorted(graph):
        if state[start] != "new":
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        state[start] = "open"
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = "done"
                stack.pop()
                continue
            nxt = todo.pop(0)
            if state[nxt] == "open":
                path = [n for n, _ in stack]
                found.append(path[path.index(nxt):] + [nxt])
            elif state[nxt] == "new":
                state[nxt] = "open"
                stack.append((nxt, sorted(graph[nxt])))
    return found


def test_the_graph_is_read_from_every_kind_of_import() -> None:
    graph = import_graph()
    assert "bot.core.diff" in graph["bot.cli"]  # module level
    assert "bot.server.serve" in graph["bot.cli"]  # inside a function
    assert "bot.review.ports" in graph["bot.pullcommand"]  # under TYPE_CHECKING
    assert "bot.hosts.gitlab.posting" in graph["bot.hosts.gitlab.merge_request"]  # `from package import module`


def test_the_cycle_finder_finds_a_cycle_closed_by_any_edge() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_bot_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("host", HOSTS)
def test_a_host_adapter_imports_nothing_from_another_hosts_package(host: str) -> None:
    others = [other for other in HOSTS if other != host]
    for module, imported in import_graph().items():
        if module == host or module.startswith(host + "."):
            wrong = {name for name in imported for other in others if name == other or name.startswith(other + ".")}
            assert wrong == set(), f"{module} imports {sorted(wrong)}"
