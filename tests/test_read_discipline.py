"""Every read of records goes through `access` (`visible`, `get_record`): no other module queries
a record model directly.

The check reads every line of the apps (outside migrations) for a record model's manager
(`Deal.objects`, `TeamRecord.objects`, a module's `model.objects`, `_default_manager`) and for a
module's unrestricted base queryset (`base_queryset(`, the set `access.visible` filters). Only
`access`, the action modules and the short allow-list below (file and reason) may do so.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("access", "crm", "teams", "locking", "automation", "demo", "reviews", "work", "approvals", "blueprints", "exports",
        "backup", "imports", "dedupe", "pool", "security")
RECORD_MODELS = ("Account", "Contact", "Lead", "Deal", "Task", "TeamRecord", "Note", "Attachment")
READ = re.compile(r"\b(" + "|".join(RECORD_MODELS) + r")\.(objects|_default_manager|_base_manager)\b|"
                  r"\bmodel\.(objects|_default_manager|_base_manager)\b|\bbase_queryset\(")
# The door and the writers: access itself, and the actions (which read the rows they lock and write).
DOOR = ("access/",)
ACTIONS = ("crm/actions/", "teams/actions.py", "locking/actions.py", "approvals/actions.py", "dedupe/actions.py",
           "pool/actions.py", "pool/recycle_actions.py")
ALLOWED: dict[str, str] = {
    # The schemas define the unrestricted base queryset that `access.visible` filters.
    "crm/schema.py": "defines ModuleSchema.base_queryset, the set access.visible filters",
    "teams/schema.py": "defines the team module's base_queryset, the set access.visible filters",
    # Children of a record the view already fetched through access.get_record, narrowed by the
    # module's own notes_for / attachments_for rules.
    "crm/views.py": "notes and files of a record fetched through access",
    "crm/file_views.py": "the file of a file field the user may see, on a record fetched through access",
    "teams/views.py": "the deliverables of a request fetched through access",
    "crm/timeline.py": "which notes and files of a record opened through access the viewer may read",
    "crm/sharing.py": "whether a record fetched through access matches each sharing rule (one query)",
    # The name of a linked record the viewer may not open (issue 9: one helper in access).
    "crm/forms.py": "the current value of a lookup the user may keep without seeing it",
    "teams/public.py": "the public fields of the accounts a team record looks up",
    "crm/settings_views.py": "administrators only: the records a departing user owns, to reassign them",
    "automation/delivery.py": "whom to tell about a record event; each one is checked with access.can first",
    "automation/rule_kinds.py": "reads rules (a registered rule model, not a record model) to name them",
    "backup/export.py": "operators only: writes every row of one organisation to its archive",
    "pool/recycle.py": "recycling reads the follow-ups, deals and level of claimed records to date them; nothing is shown",
    "pool/dashboard.py": "counts of a pool's claimed records that got a deal or were won; no record is shown",
    "pool/door.py": "dedupe at the door compares entering records with every record waiting in the pool, whoever "
                    "enters them (a refusal names the record to claim instead)",
    "pool/selectors.py": ("a pool's limits count the records a rep owns (and their won deals); the pool grant and "
                          "masks of contacts name the accounts waiting in a pool; nothing is shown"),
    "backup/restore.py": "restores a whole organisation from an archive; no record action exists for foreign rows",
}


def offending_lines(root: Path = ROOT, allowed: dict[str, str] = ALLOWED) -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if ("/migrations/" in relative or relative.startswith(DOOR) or relative.startswith(ACTIONS)
                    or relative in allowed):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                code = line.split("#", 1)[0]
                if READ.search(code):
                    found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_only_access_and_the_actions_read_records():
    assert offending_lines() == []


def test_the_allow_list_names_only_files_that_still_read():
    """An entry whose file no longer reads records directly is removed, so the list stays short."""
    stale = [name for name in ALLOWED
             if not any(READ.search(line.split("#", 1)[0]) for line in (ROOT / name).read_text().splitlines())]
    assert stale == []


def test_the_check_catches_a_read(tmp_path):
    (tmp_path / "crm" / "actions").mkdir(parents=True)
    (tmp_path / "access").mkdir()
    lines = ["Deal.objects.filter(org=org)", "TeamRecord.objects.get(pk=pk)", "Note.objects.filter(record_id=pk)",
             "schema.model.objects.all()", "Deal._default_manager.all()", "module.base_queryset(org).first()",
             "Membership.objects.filter(org=org)", "visible(user, schema, 'view').filter(pk=pk)"]
    (tmp_path / "crm" / "views.py").write_text("".join(f"{line}\n" for line in lines))
    (tmp_path / "crm" / "actions" / "records.py").write_text("Deal.objects.filter(pk=1)\n")
    (tmp_path / "access" / "visibility.py").write_text("module.base_queryset(org)\n")
    (tmp_path / "crm" / "tables.py").write_text("target.base_queryset(org)\n")
    found = offending_lines(tmp_path, allowed={"crm/tables.py": "names of linked records"})
    assert found == [f"crm/views.py:{n}: {line}" for n, line in enumerate(lines[:6], start=1)]
