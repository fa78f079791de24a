"""The package's import graph: no circles (imports inside functions count too), and the
three rooms keep their direction: teaching code imports neither the torch-rechub bridge
(``reference``) nor the fast path (``perf``); models import only features and models."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "recsys_course"


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    root = package_dir.parent
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports anywhere in its file (at module level,
    inside functions, inside ``if``/``try``): ``import a.b``, ``from .x import y`` and
    ``from . import submodule`` all count."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
        else:
            continue
        for t in targets:
            # a module's own parent packages are imported before it runs: no edge
            if t in modules and t != name and not name.startswith(t + "."):
                found.add(t)
    return found


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    modules = module_files(package_dir)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each a
    circle of imports."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_package_has_no_import_circle():
    graph = import_graph()
    assert "recsys_course.models.din" in graph and "recsys_course.reference" in graph
    assert find_cycles(graph) == []


def test_the_cycle_finder_sees_a_circle_closed_inside_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("from ..b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from .sub import a\n    return a\n")
    (pkg / "c.py").write_text("from . import b\n")
    graph = import_graph(pkg)
    assert graph["pkg.b"] == {"pkg.sub", "pkg.sub.a"}
    assert graph["pkg.c"] == {"pkg.b"}
    assert find_cycles(graph) == [["pkg.b", "pkg.sub", "pkg.sub.a"]]


def test_models_import_only_features_and_other_models():
    for name, deps in import_graph().items():
        if name.startswith("recsys_course.models"):
            outside = {d for d in deps if not d.startswith("recsys_course.models")}
            assert outside <= {"recsys_course.features"}, (name, outside)


def test_teaching_code_imports_neither_the_bridge_nor_the_fast_path():
    rooms = ("recsys_course.reference", "recsys_course.perf")
    for name, deps in import_graph().items():
        if name.startswith(rooms) or name == "recsys_course.cli":   # cli: instructor commands
            continue
        crossing = {d for d in deps if d.startswith(rooms)}
        assert not crossing, f"{name} imports {sorted(crossing)}"


def test_the_bridge_does_not_import_the_fast_path():
    for name, deps in import_graph().items():
        if name.startswith("recsys_course.reference"):
            assert not {d for d in deps if d.startswith("recsys_course.perf")}, name
