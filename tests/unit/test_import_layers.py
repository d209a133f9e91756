"""The layers of docs/ARCHITECTURE.md hold: no import goes up a layer, no circle between files or
packages under connect/, function-level imports included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connect"


def _modules():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue  # Alembic loads these by path; they import no one
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _modules()


def _resolve(name):
    """The connect module an import of ``name`` loads (a module, or the package holding it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name, path):
    """Every connect module ``name`` imports, wherever the import statement sits."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from connect import clock" imports the module connect.clock; "from connect.x
            # import name" imports connect.x.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            resolved = _resolve(target) if target.startswith("connect") else None
            if resolved and resolved != name:
                found.add(resolved)
    return found


def _package(name):
    """connect.requests.services -> connect.requests; a top-level module is its own node."""
    return ".".join(name.split(".")[:2])


def _cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.add(other)
                if other == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


FILE_GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package_graph():
    graph = {}
    for name, targets in FILE_GRAPH.items():
        # The app root (connect/__init__.py: create_app) wires every package together.
        if name == "connect":
            continue
        for target in targets:
            if target != "connect" and _package(target) != _package(name):
                graph.setdefault(_package(name), set()).add(_package(target))
    return graph


# docs/ARCHITECTURE.md's table, bottom to top: a module imports from its own layer or below.
LAYERS = (
    (
        "core",
        {
            "connect.clock",
            "connect.config",
            "connect.errors",
            "connect.extensions",
            "connect.database",
            "connect.changes",
            "connect.spatial",
            "connect.validation",
            "connect.i18n",
            "connect.security",
            "connect.signals",
            "connect.gunicorn_logging",
            "connect.gunicorn_conf",
            "connect.migrating",
            "connect.geo",
            "connect.outbox",
            "connect.scheduler",
            "connect.logs",
            "connect.metrics",
            "connect.redaction",
        },
    ),
    ("web", {"connect.web"}),
    ("sms", {"connect.sms"}),
    ("accounts", {"connect.accounts"}),
    ("areas", {"connect.areas"}),
    ("requests", {"connect.requests"}),
    ("notifications", {"connect.notifications"}),
    ("safety", {"connect.safety"}),
    ("matching", {"connect.matching"}),
    ("offers", {"connect.offers"}),
    ("volunteers", {"connect.volunteers"}),
    ("coordination", {"connect.coordination"}),
    (
        "app",
        {
            "connect",
            "connect.cli",
            "connect.demo",
            "connect.health",
            "connect.home",
            "connect.jobs",
            "connect.models",
        },
    ),
)


def _layer(name):
    package = name if name == "connect" else _package(name)
    (index,) = [i for i, (_, members) in enumerate(LAYERS) if package in members]
    return index


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_no_import_goes_up_a_layer():
    upward = sorted(
        f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for name, targets in FILE_GRAPH.items()
        for target in targets
        if _layer(target) > _layer(name)
    )
    assert upward == []


def test_the_checker_sees_imports_inside_functions():
    assert "connect.web.fastpath" in FILE_GRAPH["connect"]  # imported inside add_nearby_fast_path
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_between_files():
    assert _cycles(FILE_GRAPH) == []


def test_no_import_circle_between_packages():
    assert _cycles(_package_graph()) == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nothing_under_connect_imports_the_app_root(name):
    """create_app sits on top: nothing below may import it (the wsgi module and tests do)."""
    if name == "connect":
        return
    assert "connect" not in FILE_GRAPH[name], f"{name} imports connect/__init__.py"
