"""The import graph of src/tuneshift, built with ast (imports inside functions and under TYPE_CHECKING count): no
module imports itself through others; and the benchmarks load without the torch-heavy model code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tuneshift

ROOT = Path(tuneshift.__file__).parent


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module name → the package modules it imports anywhere in its source (a submodule importing its own package's
    ``__init__`` does not count: that is the package's face, not a dependency of the package on it)."""
    paths = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
        graph[name] = {t for t in targets if t in paths and t != name and not name.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_loop_through_a_function_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from pkg import c\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    (package / "d.py").write_text("import pkg\nfrom pkg import a\n")
    graph = module_graph(package)
    assert graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"} and "pkg" not in graph["pkg.d"]
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_import_cycle_inside_tuneshift():
    found = cycles(module_graph())
    assert not found, "import loops: " + "; ".join(" <-> ".join(loop) for loop in found)


@pytest.mark.parametrize("module", ["tuneshift.benchmarks", "tuneshift.study.stats", "tuneshift.models.subject"])
def test_benchmarks_and_the_subject_contract_load_without_torch(module):
    """The registry, its options (POOLINGS) and the statistics cost no torch: model code loads when a model does."""
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
