"""The layers point one way: `access` sits at the bottom and imports nothing from the apps above
it (they plug in through providers registered at start-up)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every app of the project (a folder with an apps.py): a new app is checked the day it is added.
PROJECT_APPS = tuple(sorted(path.parent.name for path in ROOT.glob("*/apps.py")))
ABOVE_ACCESS = tuple(app for app in PROJECT_APPS if app != "access")


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


APPS = (*PROJECT_APPS, "config")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT, apps: tuple[str, ...] = APPS) -> dict[str, set[str]]:
    """module -> the project modules it imports (relative imports resolved, imports inside
    functions included: a lazy import is still a dependency)."""
    files = {_module_name(p, root): p for app in apps if (root / app).is_dir()
             for p in (root / app).rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for candidate in candidates:
                if candidate in files:  # `from . import x` names a module; `from .m import f` the module m
                    targets.add(candidate)
                    break
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_files():
    assert cycles(import_graph()) == []


def test_the_cycle_check_catches_a_cycle(tmp_path):
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "__init__.py").write_text("")
    (tmp_path / "crm" / "views.py").write_text("from .sharing_views import sharing_context\n")
    (tmp_path / "crm" / "sharing_views.py").write_text("def f():\n    from crm.views import ModuleView\n")
    (tmp_path / "crm" / "forms.py").write_text("from . import views\n")
    assert cycles(import_graph(tmp_path)) == [["crm.sharing_views", "crm.views"]]
