"""Every state change goes through an action: no other module writes rows.

The check reads every line of the apps (outside migrations) for the ways Django writes: saving,
deleting, creating, queryset `.update(...)` (with keywords or `**kw`), bulk writes, row locks,
raw SQL, and many-to-many `.set/.add/.remove/.clear` on a related manager. Only the modules named
in WRITERS may do so; nothing is exempt by its file name alone.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("access", "crm", "teams", "locking", "automation", "demo", "reviews", "work", "approvals", "blueprints", "exports",
        "backup", "imports", "dedupe", "pool", "security")
WRITE = re.compile(
    r"\.save\(|\.delete\(|objects\.create\(|\.update\(\s*(\w+\s*=|\*\*)|bulk_create|bulk_update|"
    r"update_or_create|get_or_create|select_for_update|"
    r"connection\.cursor\(|\.execute\(|\.executemany\(|\.raw\(|RawSQL|"  # raw SQL
    r"\b\w+\.\w+\.(set|add|remove|clear)\(")  # a many-to-many manager: record.mentions.set(...)
# Writers by design: the action modules (one file per module, by path) and the helpers the actions
# call to write their side rows.
WRITERS = {
    "access/actions.py", "access/sharing_actions.py", "access/share_actions.py",
    "crm/actions/__init__.py", "crm/actions/base.py", "crm/actions/records.py", "crm/actions/owners.py",
    "crm/actions/notes.py", "crm/actions/attachments.py", "crm/actions/batch.py", "crm/actions/batch_update.py",
    "crm/actions/fields.py", "crm/actions/recycle_bin.py",
    "teams/actions.py", "locking/actions.py", "automation/actions.py", "automation/assignment_actions.py",
    "automation/rule_actions.py",
    "crm/actions/bulk.py",  # COPY of many rows, for the batch actions (records, timeline entries, outbox events)
    "crm/timeline.py",  # timeline entries, written by the actions inside their transaction
    "access/audit.py",  # the org audit log, written by the configuration actions
    "automation/outbox.py", "automation/runs.py",  # the event outbox and the rules' run log, for the tasks
    "automation/mail_actions.py", "automation/webhook_actions.py",  # e-mail templates, e-mails and webhook deliveries
    "automation/workflow_rule_actions.py",  # workflow rules' configuration
    "automation/workflow.py", "automation/workflow_schedule.py",  # workflow runs: retries, schedule, date scans
    "approvals/actions.py",  # approval processes, requests and their steps
    "crm/field_indexes.py",  # custom fields' expression indexes (DDL) and their state, for the field actions and task
    "reviews/actions.py",  # review processes and the cases they open
    "blueprints/actions/config.py", "blueprints/actions/transitions.py",  # blueprints, their transitions and records
    "blueprints/actions/after.py",  # the run of a transition's after-actions (automation's run log)
    "exports/actions.py",  # export jobs: their progress, file and expiry
    # restores a whole organisation from an archive; no record action exists for foreign rows
    "backup/restore.py",
    "imports/actions.py",  # import jobs, their templates, results and uploaded files
    "dedupe/actions.py",  # merging duplicates: moves notes, files, timeline, links and tasks to the survivor
    "pool/actions.py",  # customer pools, and records' moves into and out of them (state, history, counters)
    "pool/recycle_actions.py",  # recycling rules, protected customers, records returned to their pool
    "pool/recycle.py",  # the due dates of claimed records (pool states), kept by events and the job
    "security/actions.py",  # login events, the security log, the index of sessions, ending sessions
    "pool/door_actions.py",  # dedupe at the door: merges into the waiting record, possible-duplicate pairs
    "pool/management/commands/rebuild_door_indexes.py",  # the door's expression indexes and statistics (DDL)
    "access/seal.py",  # the tenant seal's binding: the connection's settings (set_config), no row
    "access/unsent.py",  # jobs the broker refused, kept until sent again
    "access/seal_policies.py",  # the tenant seal's policies, role and grants (DDL, after migrate)
}
# Lines that match a write pattern but write no row ("path: code" -> the reason).
NOT_WRITES: dict[str, str] = {
    "access/models.py: return super().update(**kwargs)":
        "the append-only audit queryset lets the database's SET_NULL through and refuses every other update",
    "crm/selectors.py: with connection.cursor() as cursor:": "EXPLAIN for the planner's row estimate: reads only",
    'crm/selectors.py: cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)': "the same EXPLAIN (reads only)",
    "crm/selectors.py: cursor.execute(f\"SELECT {', '.join(parts)}\", params)":
        "bounded counts: a SELECT of count(*) over LIMITed subqueries (reads only)",
    'crm/selectors.py: cursor.execute(f"SELECT {group}, {counts} FROM ({sql}) AS bounded GROUP BY {group}", params)':
        "bounded chart groups: a GROUP BY over a LIMITed subquery (reads only)",
    'crm/selectors.py: cursor.execute("SELECT v FROM unnest(%s::text[]) AS v ORDER BY v", [list(values)])':
        "sorting a few texts by the database's collation (reads nothing)",
    "dedupe/selectors.py: with connection.cursor() as cursor:  # a SELECT of expressions over the given values: "
    "reads nothing": "normalises values given (an import's, a pool's entering rows) by the stored values' SQL",
    "dedupe/selectors.py: cursor.execute(sql, params)": "the same SELECT of normalised values (reads nothing)",
    "locking/state.py: result.restricted_actions.add(restricted)": "a Python set of action names, not a relation",
    "blueprints/selectors.py: cache.delete(_active_key(org_id, module_key))": "forgets a cached list, writes no row",
    "backup/export.py: with connection.cursor() as cursor:": "the export's read-only snapshot (writes nothing)",
    'backup/export.py: cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")':
        "makes the export's transaction a read-only snapshot",
}


def offending_lines(root: Path = ROOT, writers: set[str] = WRITERS) -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root)
            if "migrations" in relative.parts or relative.as_posix() in writers:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                code = line.split("#", 1)[0]
                allowed = f"{relative.as_posix()}: {line.strip()}" in NOT_WRITES
                if WRITE.search(code) and '"""' not in code and not allowed:
                    found.append(f"{relative.as_posix()}:{number}: {line.strip()}")
    return found


def test_only_actions_write():
    assert offending_lines() == []


def test_the_check_catches_a_write(tmp_path):
    (tmp_path / "crm" / "actions").mkdir(parents=True)
    lines = ["record.save()", "Deal.objects.filter(pk=1).update(**changes)", "Deal.objects.bulk_update(rows, ['x'])",
             "cursor.execute('UPDATE crm_deal SET name = %s', [name])", "with connection.cursor() as c:",
             "Deal.objects.raw('SELECT 1')", "qs.annotate(x=RawSQL('1', []))", "note.mentions.set(users)",
             "group.users.add(user)", "group.roles.remove(role)", "note.mentions.clear()", "seen.add(pk)"]
    (tmp_path / "crm" / "views.py").write_text("".join(f"{line}\n" for line in lines))
    # An actions-like name is not enough: only the listed writer modules may write.
    (tmp_path / "crm" / "my_actions.py").write_text("record.save()\n")
    (tmp_path / "crm" / "actions" / "records.py").write_text("record.save()\n")
    found = offending_lines(tmp_path, writers={"crm/actions/records.py"})
    assert found == ["crm/my_actions.py:1: record.save()"] + [
        f"crm/views.py:{n}: {line}" for n, line in enumerate(lines[:-1], start=1)]
