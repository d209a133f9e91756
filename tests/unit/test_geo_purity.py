"""connect.geo stays pure: no Flask, no database, nothing from the rest of connect."""

import ast
import sys
from pathlib import Path

GEO = Path(__file__).resolve().parents[2] / "connect" / "geo"
ALLOWED_THIRD_PARTY = {"numpy", "rtree", "shapely"}


def imported_roots(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], 0
        elif isinstance(node, ast.ImportFrom):
            yield (node.module or "").split(".")[0], node.level


def test_geo_imports_only_stdlib_numpy_rtree_shapely():
    files = sorted(GEO.glob("*.py"))
    assert files
    for path in files:
        for root, level in imported_roots(path):
            if level:  # relative: must stay inside connect.geo
                assert level == 1, f"{path.name} reaches outside connect.geo"
                continue
            allowed = root in ALLOWED_THIRD_PARTY or root in sys.stdlib_module_names
            assert allowed, f"{path.name} imports {root}"
