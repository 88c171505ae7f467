"""The house rules of the package, read from the code's own imports (docs/architecture.md explains them).

Every import counts: module level, inside functions, and under `TYPE_CHECKING` (a cycle is a design smell even
when Python tolerates it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pytest_promptguard"
ROOT = PACKAGE.name

# The stages, bottom first. A package may import only from packages of a lower rank (and from itself).
RANKS = {
    "core": 0,  # records, errors, files, YAML, schemas, similarity: what every stage shares
    "config": 1,  # promptguard.yaml, model specs, prices
    "report": 1,  # figures and writers: they read records only
    "providers": 2,  # one module per wire format
    "golden": 2,  # the golden store: entries, sampling, files, the session-end book
    "call": 3,  # the scheduler and what every call obeys
    "checks": 4,  # one registry, one module per family; the models checks call
    "suite": 5,  # suites, templates, prompt files, tools: built into planned cases
    "drift": 6,  # statistics, verdicts, the board
    "run": 7,  # one run in one process: options become run state; the one path that judges a case
    "plugin": 8,  # the only package that imports pytest
    "cli": 9,  # python -m pytest_promptguard
}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The project modules `module` imports (a `from package import name` counts as the module `name` when it is one)."""
    path = MODULES[module]
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if name in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else None


def _rank(module: str) -> int:
    stage = _stage(module)
    if stage is not None:
        return RANKS[stage]
    return RANKS["cli"] + 1 if module == f"{ROOT}.__main__" else -1  # the root package: FORMAT_VERSION


def test_every_module_belongs_to_a_stage():
    loose = [m for m in MODULES if _stage(m) is None and m not in (ROOT, f"{ROOT}.__main__")]
    assert loose == [], "put each module in the stage package it serves (see RANKS)"


def test_packages_import_only_from_packages_below_them():
    wrong = [
        f"{module} ({_stage(module) or 'root'}) imports {imported} ({_stage(imported) or 'root'})"
        for module in MODULES
        for imported in sorted(_imports(module))
        if _stage(imported) != _stage(module) and _rank(imported) >= _rank(module)
    ]
    assert wrong == [], "an import against the stages' order:\n" + "\n".join(wrong)


def test_modules_form_no_cycle():
    graph = {module: _imports(module) for module in MODULES}
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_only_the_plugin_imports_pytest():
    importers = []
    for module, path in MODULES.items():
        if _stage(module) == "plugin":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "pytest" or n.startswith(("pytest.", "_pytest")) for n in names):
                importers.append(module)
    assert importers == []


def test_modules_stay_small():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these where a seam is real (over {MAX_LINES} lines)"


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components
