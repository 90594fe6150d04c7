"""The package's shape: import-linter's contracts (pyproject.toml), every op package with the same
modules, one checking algorithm, and no plugin reaching into private modules."""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import normbench

ROOT = Path(normbench.__file__).parent
PYPROJECT = ROOT.parent / "pyproject.toml"


def test_import_linter_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts: the layers from the commands down to the
    runtime, the worker as transport only, every op package on its own, the plugin contract
    free of the harness, no plugin importing a private module, no cycle between siblings."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True) == 0


def test_every_subsystem_is_in_the_layers():
    """A new private subsystem (normbench._*) cannot dodge the layers contract by being left out."""
    contracts = {c["id"]: c for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]}
    layered = {m.strip() for layer in contracts["layers"]["layers"] for m in layer.split("|")}
    private = {f"normbench.{p.name}" for p in ROOT.iterdir() if p.name.startswith("_") and (p / "__init__.py").exists()}
    assert private and private <= layered, private - layered
    assert {"normbench.cli", "normbench.store", "normbench.conformance"} <= layered


def test_no_plugin_in_this_repository_imports_a_private_module():
    """What import-linter's private_modules contract checks for the installed plugins, for every
    plugin's source here (the out-of-tree ones too, installed or not) and their tests."""
    found = []
    for path in (ROOT.parent / "plugins").rglob("*.py"):
        if "build" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path}:{node.lineno} {n}" for n in names
                      if n.startswith("normbench.") and any(part.startswith("_") for part in n.split(".")[1:])]
    assert found == []


def test_the_old_import_paths_still_work_with_a_warning():
    """0.14's paths of the moved modules resolve to the very same module until 0.16."""
    import importlib
    import sys
    import warnings

    from normbench._timing import bench

    sys.modules.pop("normbench.bench", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("normbench.bench")
    assert old is bench and old.Config is bench.Config
    assert any(issubclass(w.category, DeprecationWarning) and "normbench._timing.bench" in str(w.message)
               for w in caught)


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
