"""The import rule (README "For developers", DESIGN section 1), read from the source with `ast`:
every import of one of our packages, at module level or inside a function, points one way.

    schemas  <-  warehouse  <-  pipeline
    schemas  <-  annotators <-  llm  <-  pipeline
    schemas, annotators     <-  trainer      (reads exports; never warehouse, llm or pipeline)

    .venv/bin/python -m pytest tests/test_layering.py -q
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("schemas", "warehouse", "annotators", "llm", "pipeline", "trainer")
ALLOWED = {
    "schemas": set(),
    "warehouse": {"schemas"},
    "annotators": {"schemas"},
    "llm": {"schemas", "annotators"},
    "trainer": {"schemas", "annotators"},
    "pipeline": set(OURS),
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(OURS)
    return found


def test_every_import_points_the_allowed_way():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for other in imported_packages(path) - allowed - {package}:
                wrong.append(f"{path.relative_to(ROOT)} imports {other}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipeline.console import fail\n    import warehouse.lake\n")
    assert imported_packages(module) == {"pipeline", "warehouse"}
