"""rules/ is a functional core: no I/O, no clock, no environment."""

import ast
from pathlib import Path

import pytest

RULES = sorted((Path(__file__).resolve().parents[2] / "rules").glob("*.py"))
ALLOWED_MODULES = {"__future__", "collections", "dataclasses", "datetime", "enum", "hashlib", "json", "re",
                   "tomllib", "typing"}
FORBIDDEN_CALLS = {"open", "print", "input", "now", "utcnow", "today", "time", "sleep", "getenv"}


@pytest.mark.parametrize("path", RULES, ids=[p.name for p in RULES])
def test_rules_module_is_pure(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    assert ast.get_docstring(tree), f"{path.name} needs a one-line docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [] if node.level else [(node.module or "").split(".")[0]]
        else:
            names = []
        for name in names:
            assert name in ALLOWED_MODULES, f"{path.name}:{node.lineno} imports {name}"
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            assert called not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {called}()"
        if isinstance(node, ast.Attribute):
            assert node.attr != "environ", f"{path.name}:{node.lineno} reads the environment"
