"""The package's shape: no import cycle anywhere in normbench/ (function-local imports included),
every op package with the same modules, and one checking algorithm."""
from __future__ import annotations

import ast
from pathlib import Path

import normbench

ROOT = Path(normbench.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the normbench modules it imports anywhere in its body. ``from P import name``
    counts as importing P.name when that is a module, else P."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        package = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[m] |= {t for t in targets if t in mods and t != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert graph["normbench.worker"] and "normbench.bench" in graph  # the graph is really built
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_worker_is_transport_only():
    assert not {m for m in import_graph()["normbench.worker"]} & {"normbench.bench", "normbench.discovery",
                                                                   "normbench.conformance.runner"}


def test_every_op_package_holds_the_same_modules():
    shapes = {p.name: sorted(f.stem for f in p.glob("*.py")) for p in (ROOT / "ops").iterdir() if (p / "__init__.py").exists()}
    assert len(shapes) == 5
    first = next(iter(shapes.values()))
    assert all(v == first for v in shapes.values()), shapes
    assert {"reference", "cases", "check", "bench", "api"} <= set(first)


def test_no_op_brings_a_checker_of_its_own():
    """Only normbench.conformance.checker calls a backend's pass in a conformance case."""
    for path in (ROOT / "ops").rglob("*.py"):
        names = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
        assert "run_case" not in names, path
