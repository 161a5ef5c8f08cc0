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


def crm_template_urls_of_other_apps(root: Path = ROOT) -> list[str]:
    """`{% url 'teams:...' %}` / `{% url 'locking:...' %}` in crm's templates (links to other apps'
    pages come from providers those apps register)."""
    import re

    pattern = re.compile(r"""\{%\s*url\s+['"](teams|locking|automation):""")
    return [f"{path.relative_to(root)}:{number}"
            for path in sorted((root / "templates" / "crm").rglob("*.html"))
            for number, line in enumerate(path.read_text().splitlines(), start=1) if pattern.search(line)]


def test_crm_templates_name_no_url_of_the_apps_above():
    assert crm_template_urls_of_other_apps() == []


def test_the_template_check_catches_a_link(tmp_path):
    (tmp_path / "templates" / "crm").mkdir(parents=True)
    (tmp_path / "templates" / "crm" / "page.html").write_text(
        "<a href=\"{% url 'crm:list' m %}\">x</a>\n<a href=\"{% url 'teams:kanban' m %}\">y</a>\n")
    assert crm_template_urls_of_other_apps(tmp_path) == ["templates/crm/page.html:2"]
