"""The shape of the code: no import cycles among the project's modules, and no module over
500 lines without a written reason.

The import graph is read from the source with `ast`, nothing is imported. Every import
counts, at module level and inside functions alike: an import deferred into a function
still ties the two modules together (it only moves the failure from import time to call
time), so a cycle hidden that way is still a cycle. `if TYPE_CHECKING:` blocks never run
and are left out. `from X import Y` is an edge to X.Y when Y is a submodule, else to X;
relative imports are resolved; importing a package is an edge to its `__init__`. Modules
are discovered, not listed, so files added by any branch are checked as soon as they exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The project's own code: these packages (every .py under them, at any depth) and these
# top-level modules. tests/, bench/, migrations/ and e2e/ are not part of the application.
PACKAGES = ("accounts", "agreements", "catalogue", "core", "inventory", "remote", "reports", "scale", "support")
TOP_MODULES = ("app", "config", "extensions")

MAX_LINES = 500

# Modules over MAX_LINES that stay whole, each with the reason. A module that grows past the
# limit either splits by subject or gets an entry here that says why it should not.
LONG_MODULES_ALLOWED: dict[str, str] = {
    "remote/agent/collect.py": "the agent is a separate program installed alone on council machines; its "
                               "collector is one subject (what psutil reads, per metric) and splitting it "
                               "would add files to every installation for no reader's benefit",
}

def discover_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the project (a package is its __init__)."""
    modules: dict[str, Path] = {}
    for name in TOP_MODULES:
        path = ROOT / f"{name}.py"
        if path.exists():
            modules[name] = path
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST):
    """Every Import/ImportFrom in `node` and under it, at any depth, except in the body of an
    `if TYPE_CHECKING:` (its `else:` runs, so it counts)."""
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for statement in node.orelse:
            yield from _import_nodes(statement)
        return
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _import_nodes(child)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """`name` if it is a project module, else its longest prefix that is one (or None)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports, anywhere in its code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if found := _known(alias.name, modules):
                    targets.add(found)
            continue
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            base_parts = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            # `from X import Y`: the submodule X.Y when Y is one, else X itself.
            submodule = f"{base}.{alias.name}" if base else alias.name
            if submodule in modules:
                targets.add(submodule)
            elif found := _known(base, modules):
                targets.add(found)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = discover_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit to mind)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import one another (directly or around a ring), and modules
    that import themselves."""
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    cycles += [[name] for name, targets in graph.items() if name in targets]
    return sorted(cycles)


def _describe(cycle: list[str], graph: dict[str, set[str]]) -> str:
    members = set(cycle)
    edges = [f"    {a} -> {b}" for a in cycle for b in sorted(graph[a] & members)]
    return f"  {', '.join(cycle)}\n" + "\n".join(edges)


def test_the_project_has_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (each module, then the imports that close the ring):\n" + "\n".join(
        _describe(c, graph) for c in cycles
    )


def _line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def test_no_module_grows_past_the_size_limit_without_a_reason():
    modules = discover_modules()
    sizes = {
        path.relative_to(ROOT).as_posix(): _line_count(path)
        for path in modules.values()
    }
    too_long = sorted(f"{path} ({lines} lines)" for path, lines in sizes.items()
                      if lines > MAX_LINES and path not in LONG_MODULES_ALLOWED)
    assert not too_long, (
        f"modules over {MAX_LINES} lines: split them by subject, or add them to LONG_MODULES_ALLOWED "
        "with the reason they stay whole:\n  " + "\n  ".join(too_long)
    )
    # The allow-list says what is true now: an entry for a module that shrank or went away
    # is removed, so that the module cannot grow back unnoticed.
    stale = sorted(path for path in LONG_MODULES_ALLOWED if sizes.get(path, 0) <= MAX_LINES)
    assert not stale, f"LONG_MODULES_ALLOWED lists modules no longer over {MAX_LINES} lines: {stale}"
    assert all(reason.strip() for reason in LONG_MODULES_ALLOWED.values()), "every allowed module needs a reason"
