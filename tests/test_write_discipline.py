"""Every state change goes through an action: no other module writes rows."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("access", "crm", "teams", "locking", "automation")
WRITE = re.compile(r"\.save\(|\.delete\(|objects\.create\(|\.update\(\s*\w+\s*=|bulk_create|bulk_update|"
                   r"update_or_create|get_or_create|select_for_update")
# Writers by design: action modules (*actions.py), and the timeline and audit-log helpers the actions call.
ALLOWED = ("actions.py", "timeline.py", "audit.py")


def offending_lines(root: Path = ROOT) -> list[str]:
    found = []
    for app in APPS:
        for path in (root / app).rglob("*.py"):
            relative = path.relative_to(root)
            if "migrations" in relative.parts or path.name.endswith(ALLOWED) or "actions" in relative.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                code = line.split("#", 1)[0]
                if WRITE.search(code) and '"""' not in code:
                    found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_only_actions_write():
    assert offending_lines() == []


def test_the_check_catches_a_write(tmp_path):
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "views.py").write_text("def f(record):\n    record.save()\n")
    (tmp_path / "crm" / "actions.py").write_text("def do_f(record):\n    record.save()\n")
    assert offending_lines(tmp_path) == ["crm/views.py:2: record.save()"]
