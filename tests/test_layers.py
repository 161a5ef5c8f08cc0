"""The layers point one way: `access` sits at the bottom and imports nothing from the apps above
it (they plug in through providers registered at start-up)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ABOVE_ACCESS = ("crm", "teams", "locking", "automation", "demo")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """Every absolute module an import statement names, with its line (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def upward_imports(root: Path = ROOT, app: str = "access", above: tuple[str, ...] = ABOVE_ACCESS) -> list[str]:
    found = []
    for path in sorted((root / app).rglob("*.py")):
        for line, module in imported_modules(path.read_text()):
            if module.split(".")[0] in above:
                found.append(f"{path.relative_to(root)}:{line}: {module}")
    return found


def test_access_imports_nothing_above_it():
    assert upward_imports() == []


def test_the_check_catches_an_upward_import(tmp_path):
    (tmp_path / "access").mkdir()
    (tmp_path / "access" / "views.py").write_text(
        "import json\nfrom .models import User\n\ndef f():\n    from crm.modules import org_modules\n")
    assert upward_imports(tmp_path) == ["access/views.py:5: crm.modules"]
