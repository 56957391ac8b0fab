"""The llm app's import graph: no cycles, and no imports hidden inside functions to dodge one.

The layers themselves are import-linter contracts in pyproject.toml (`make lint`); these tests
state the two properties a layers contract cannot: the whole graph is acyclic, and nobody
defers an llm import into a function body (how the old registry ↔ services ↔ usage ↔ budget
cycle was hidden).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

LLM_DIR = Path(__file__).resolve().parents[2] / "llm"

# (file relative to the repo, imported module): the only function-level llm imports allowed.
FUNCTION_LEVEL_ALLOWED = {
    ("llm/apps.py", "llm.signals"),  # AppConfig.ready() connecting signals: Django's idiom
}


def import_cycles(graph: grimp.ImportGraph, prefix: str) -> list[list[str]]:
    """One shortest cycle through each direct import between `prefix` modules that has one."""
    cycles = []
    for importer in sorted(m for m in graph.modules if m.startswith(prefix)):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if not imported.startswith(prefix):
                continue
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append([importer, *back])
    return cycles


def function_level_imports(root: Path) -> list[tuple[str, str, int]]:
    """(file, module, line) of every llm import inside a function body under `root`."""
    found = set()  # a set: an import in a nested function is seen from both functions
    for path in sorted(root.rglob("*.py")):
        relative = str(path.relative_to(root.parent))
        tree = ast.parse(path.read_text(), filename=relative)
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                modules = []
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    base = node.module
                    modules = [base] if base != "llm" else [f"llm.{a.name}" for a in node.names]
                elif isinstance(node, ast.ImportFrom):  # relative: inside the package
                    modules = [f"(relative) {node.module or ''}"]
                for module in modules:
                    if module.split(".")[0] in ("llm", "(relative)"):
                        found.add((relative, module, node.lineno))
    return sorted(found)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # The whole project, so that a cycle leaving llm and coming back counts too.
    return grimp.build_graph("llm", "daarion", "memory", "toolcore", cache_dir=None)


def test_llm_has_no_import_cycle(graph):
    assert import_cycles(graph, "llm") == []


def test_no_llm_import_is_deferred_into_a_function():
    found = [
        (file, module, line)
        for file, module, line in function_level_imports(LLM_DIR)
        if (file, module) not in FUNCTION_LEVEL_ALLOWED
    ]
    assert found == [], "import at module level; a deferred import hides a cycle"


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The two checks above are not vacuous: a cycle and a deferred import are reported."""
    cyclic = grimp.ImportGraph()
    cyclic.add_import(importer="llm.a", imported="llm.b")
    cyclic.add_import(importer="llm.b", imported="llm.c")
    cyclic.add_import(importer="llm.c", imported="llm.a")
    cyclic.add_import(importer="llm.c", imported="llm.d")
    cycles = import_cycles(cyclic, "llm")
    assert ["llm.a", "llm.b", "llm.c", "llm.a"] in cycles
    assert all("llm.d" not in cycle for cycle in cycles)

    package = tmp_path / "llm"
    package.mkdir()
    (package / "registry.py").write_text(
        "import os\n\ndef key():\n    from llm.services import note\n    import json\n"
    )
    assert function_level_imports(package) == [("llm/registry.py", "llm.services", 4)]
