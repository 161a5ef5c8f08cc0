"""What an organisation archive holds, found by walking the app registry.

- Org tables: every model with an `org` foreign key to Organization (minus EXCLUDED).
- Child tables: models without `org` whose foreign key leads to an org table (the many-to-many
  tables of groups and notes), scoped through that key.
- Owned parents: rows an org table owns through a one-to-one key although they have no `org`
  themselves (each org group's hidden auth group, which guardian's group shares name).

Ids hide outside foreign keys too. This module lists them in one place, so the importer remaps
them all and a test fails when a new model or column holds ids the lists do not name:
- ID_COLUMNS: integer (or text) columns holding the id of a row of some table;
- KEY_COLUMNS: text columns holding a module key ("team-12") or a field key ("f_34");
- JSON_RULES: JSON and array columns, by what they hold (see the kinds below).
"""
from __future__ import annotations

import graphlib
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models

# Tables shared by every organisation: rows are matched, never copied.
USER = settings.AUTH_USER_MODEL.lower()
GLOBAL = {"access.organization", USER, "contenttypes.contenttype", "auth.permission"}

# Org tables deliberately left out of an archive.
EXCLUDED: dict[str, str] = {
    "automation.pendingevent": "the event outbox: events not yet handled belong to the installation that "
                               "took them; restored, they would run the rules a second time",
    "imports.importedrecord": "what an import wrote, kept for its undo within 7 days: an undo belongs to the "
                              "installation that ran the import",
    "imports.importfailure": "the failing rows of an import, kept for its error file: the uploader's file, not "
                             "the organisation's data",
}

# Integer columns (not foreign keys) that hold an id:
#   ("model", label)          the id of a row of that table ("user" for users)
#   ("generic", ct_column)    the id of a row of the table the content-type column names
#   ("module", module_column) the id of a record of the module the module-key column names
#   ("rule", kind_column)     the id of a rule of the kind the column names (automation.rule_kinds)
#   ("object", type_column)   text: the id of the audit entry's object, whose `app.model` the column names
ID_COLUMNS: dict[str, tuple[str, str]] = {
    "crm.recordlink.source_id": ("generic", "source_type_id"),
    "crm.recordlink.target_id": ("generic", "target_type_id"),
    "locking.recordlock.record_id": ("module", "module"),
    "blueprints.blueprintrecord.record_id": ("module", "module"),
    "approvals.approvalrequest.record_id": ("module", "module"),
    "approvals.approvalwaiter.record_id": ("module", "module"),
    "reviews.reviewcase.record_id": ("module", "module"),
    "automation.notification.record_id": ("module", "module"),
    "automation.rulerun.record_id": ("module", "module"),
    "automation.scheduledaction.record_id": ("module", "module"),
    "automation.webhookdelivery.record_id": ("module", "module"),
    "automation.outgoingemail.record_id": ("module", "module"),
    "automation.rulerun.rule_id": ("rule", "rule_kind"),
    "automation.webhookdelivery.rule_id": ("rule", "rule_kind"),
    "automation.webhookdelivery.run_id": ("model", "automation.rulerun"),
    "automation.outgoingemail.run_id": ("model", "automation.rulerun"),
    "automation.assignmententry.last_user_id": ("model", "user"),
    "access.auditentry.object_id": ("object", "object_type"),
    "crm.account.pool_id": ("model", "pool.pool"),
    "crm.lead.pool_id": ("model", "pool.pool"),
    "pool.poolstate.record_id": ("module", "module"),
    "pool.poolmove.record_id": ("module", "module"),
    "pool.possibleduplicate.record_id": ("module", "module"),
    "pool.possibleduplicate.other_id": ("module", "module"),
}
# Generic foreign keys declared on models (notes, attachments, timeline, a task's related record)
# are found by walking them; see id_columns().

# Text columns whose whole value may be a module key or a field key.
KEY_COLUMNS = {"module", "target", "field", "field_key", "status_field", "date_field", "level_field"}
# Text columns with merge fields ("{{f_34}}") inside.
MERGE_TEXT_COLUMNS = {"automation.emailtemplate.subject", "automation.emailtemplate.body"}
# Text columns listing ids of one table as "/3/7/" (a role's ancestors).
PATH_COLUMNS = {"access.orgrole.path": "access.orgrole"}
# Idempotency keys ("approval:7:9"): they name old ids, and a new row of the installation could
# come to carry the same ids; the restored ones are marked so that no new key ever equals them.
RESTORED_KEY_COLUMNS = {"automation.notification.key", "automation.rulerun.key", "automation.webhookdelivery.key",
                        "automation.outgoingemail.key", "automation.scheduledaction.key"}
RESTORED_PREFIX = "restored:"
# Text columns naming a rule as "rule:<kind>:<id>" (the timeline's path).
RULE_PATH_COLUMNS = {"crm.timelineentry.path", "automation.outgoingemail.path"}

# JSON (and array) columns. The kind says how the importer reads them:
#   "config"   module and field keys are rewritten wherever they stand whole (keys and texts);
#              the paths below name the ids ("users[]": the ids in the list under "users")
#   "record"   a record's values by field key: keys rewritten, values typed by their field
#   "changes"  a timeline entry's {field key: [old, new]}, typed like record values
#   "criteria" crm criteria: field keys rewritten, values typed by their field
#   "actions"  automation action settings (a list of them, or one)
#   "records"  a list of ids of records of the row's module
#   "typed_default"  a custom field's default, typed by the row's own type and target
#   "trigger_value"  the value a workflow rule waits for, typed by its (first) trigger field
#   "opaque"   kept as written (logs of what happened, texts)
USERS, ROLES, GROUPS, PROFILES = "user", "access.orgrole", "access.group", "access.profile"
PEOPLE = [("users[]", USERS), ("roles[]", ROLES), ("groups[]", GROUPS)]
JSON_RULES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "access.profile.permissions": ("config", []),
    "pool.pool.masked_fields": ("config", []),
    "pool.recyclepolicy.rules": ("opaque", []),
    "pool.poolmove.coded_reason": ("opaque", []),
    "pool.possibleduplicate.fields": ("config", []),
    "access.profile.field_levels": ("config", []),
    "access.sharingrule.criteria": ("criteria", []),
    "access.accesslog.filters": ("config", []),
    "access.auditentry.old_value": ("opaque", []),
    "access.auditentry.new_value": ("opaque", []),
    "security.securityevent.details": ("opaque", []),
    "crm.account.custom": ("record", []),
    "crm.contact.custom": ("record", []),
    "crm.lead.custom": ("record", []),
    "crm.deal.custom": ("record", []),
    "crm.task.custom": ("record", []),
    "teams.teamrecord.data": ("record", []),
    "crm.timelineentry.changes": ("changes", []),
    "crm.fielddefinition.default": ("typed_default", []),
    "crm.fielddefinition.options": ("opaque", []),
    "teams.teammodule.statuses": ("opaque", []),
    "teams.teammodule.manager_only_statuses": ("opaque", []),
    "teams.teammodule.done_statuses": ("opaque", []),
    "locking.lockconfig.profiles": ("config", [("[]", PROFILES)]),
    "locking.lockconfig.roles": ("config", [("[]", ROLES)]),
    "locking.lockconfig.team_roles": ("opaque", []),
    "locking.lockconfig.restricted_actions": ("opaque", []),
    "locking.lockconfig.editable_fields": ("config", []),
    "locking.lockconfig.locker_profiles": ("config", [("[]", PROFILES)]),
    "locking.lockconfig.locker_roles": ("config", [("[]", ROLES)]),
    "locking.lockconfig.locker_team_roles": ("opaque", []),
    "locking.lockrule.profiles": ("config", [("[]", PROFILES)]),
    "locking.lockrule.roles": ("config", [("[]", ROLES)]),
    "locking.lockrule.team_roles": ("opaque", []),
    "locking.lockrule.restricted_actions": ("opaque", []),
    "locking.lockrule.editable_fields": ("config", []),
    "locking.lockrule.criteria": ("criteria", []),
    "locking.fieldlock.fields": ("config", []),
    "locking.fieldlock.profiles": ("config", [("[]", PROFILES)]),
    "locking.fieldlock.roles": ("config", [("[]", ROLES)]),
    "locking.fieldlock.team_roles": ("opaque", []),
    "locking.fieldlock.criteria": ("criteria", []),
    "automation.notification.params": ("opaque", []),
    "automation.rulerun.actions": ("opaque", []),
    "automation.assignmentrule.closed_values": ("opaque", []),
    "automation.assignmententry.criteria": ("criteria", []),
    "automation.assignmententry.pool_users": ("config", [("[]", USERS)]),
    "automation.assignmentjob.record_ids": ("records", []),
    "automation.assignmentjob.filters": ("config", []),
    "automation.workflowrule.trigger_fields": ("config", []),
    "automation.workflowrule.trigger_value": ("trigger_value", []),
    "automation.workflowrule.criteria": ("criteria", []),
    "automation.workflowrule.actions": ("actions", []),
    "automation.scheduledaction.action": ("actions", []),
    "automation.validationrule.criteria": ("criteria", []),
    "automation.layoutrule.criteria": ("criteria", []),
    "automation.layoutrule.show_fields": ("config", []),
    "automation.layoutrule.hide_fields": ("config", []),
    "automation.layoutrule.require_fields": ("config", []),
    "blueprints.blueprint.criteria": ("criteria", []),
    "blueprints.blueprint.sla": ("config", [("*.users[]", USERS)]),
    "blueprints.transition.from_states": ("opaque", []),
    "blueprints.transition.owners": ("config", PEOPLE),
    "blueprints.transition.before": ("criteria", []),
    "blueprints.transition.during": ("config", []),
    "blueprints.transition.after": ("actions", []),
    "blueprints.blueprintrecord.signoffs": ("opaque", []),  # transition keys, shared across installations
    "approvals.approvalprocess.criteria": ("criteria", []),
    "approvals.approvalprocess.admins": ("config", [("[]", USERS)]),
    "approvals.approvalprocess.editable_fields": ("config", []),
    "approvals.approvalprocess.on_approve": ("actions", []),
    "approvals.approvalprocess.on_reject": ("actions", []),
    "approvals.approvallevel.approvers": ("config", PEOPLE),
    "approvals.approvalrequest.slots": ("config", [("[].users[]", USERS)]),
    "approvals.approvalrequest.waiting_on": ("config", [("[]", USERS)]),
    "reviews.reviewprocess.criteria": ("criteria", []),
    "reviews.reviewprocess.paths": ("opaque", []),
    "reviews.reviewprocess.reviewers": ("config", PEOPLE),
    "reviews.reviewprocess.fields": ("config", []),
    "reviews.reviewcase.fields": ("config", []),
    "reviews.reviewcase.reviewer_ids": ("config", [("[]", USERS)]),
    "reviews.reviewcase.verdicts": ("config", [("*.by", USERS)]),
    "exports.exportjob.query": ("config", []),
    "exports.exportjob.columns": ("config", []),
    "imports.importjob.headers": ("opaque", []),
    "imports.importjob.samples": ("opaque", []),
    "imports.importjob.mapping": ("config", []),
    "imports.importjob.match_fields": ("config", []),
    "imports.importjob.preview": ("opaque", []),
    "imports.importjob.expected": ("opaque", []),
    "imports.importjob.undo_report": ("opaque", []),
    "imports.importtemplate.columns": ("config", []),
    "imports.importtemplate.options": ("config", []),
}


def is_json(f: models.Field) -> bool:
    from django.contrib.postgres.fields import ArrayField

    return isinstance(f, (models.JSONField, ArrayField))


def label(model: type[models.Model]) -> str:
    return model._meta.label_lower


def org_fk(model: type[models.Model]) -> models.ForeignKey | None:
    try:
        f = model._meta.get_field("org")
    except Exception:
        return None
    if isinstance(f, models.ForeignKey) and label(f.related_model) == "access.organization":
        return f
    return None


def org_models(include_excluded: bool = False) -> list[type[models.Model]]:
    """Every model with an `org` foreign key to Organization."""
    return [m for m in apps.get_models(include_auto_created=True)
            if org_fk(m) is not None and (include_excluded or label(m) not in EXCLUDED)]


@dataclass
class Table:
    """One table of the archive and how its rows of one organisation are found."""

    model: type[models.Model]
    scope: str  # "org", "child" or "owned"
    path: str = ""  # child: lookup from the row to its org id ("group__org_id"); owned: "app.model.column"
    depends: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return label(self.model)


def _fks(model: type[models.Model]) -> list[models.ForeignKey]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]


def tables() -> list[Table]:
    """The archive's tables, parents before children (foreign keys point backwards)."""
    found: dict[str, Table] = {label(m): Table(m, "org") for m in org_models()}
    # Owned parents: one-to-one keys from org tables to tables that have no org of their own.
    for table in list(found.values()):
        for f in _fks(table.model):
            target = label(f.related_model)
            if isinstance(f, models.OneToOneField) and target not in found and target not in GLOBAL:
                found[target] = Table(f.related_model, "owned", f"{table.label}.{f.attname}")
    # Children: tables without org reached through a foreign key to a table found already.
    changed = True
    while changed:
        changed = False
        for model in apps.get_models(include_auto_created=True):
            name = label(model)
            if name in found or name in GLOBAL or name in EXCLUDED or org_fk(model) is not None:
                continue
            for f in _fks(model):
                parent = found.get(label(f.related_model))
                if parent is not None and parent.scope != "owned":
                    via = "org_id" if parent.scope == "org" else parent.path
                    found[name] = Table(model, "child", f"{f.name}__{via}")
                    changed = True
                    break
    for table in found.values():
        table.depends = {label(f.related_model) for f in _fks(table.model)
                         if label(f.related_model) in found and label(f.related_model) != table.label}
        # An id column that is not a foreign key (a lead's pool) needs its table restored first too.
        table.depends |= {target for kind, target in id_columns(table.model).values()
                          if kind == "model" and target in found and target != table.label}
    sorter = graphlib.TopologicalSorter({name: t.depends for name, t in found.items()})
    return [found[name] for name in sorter.static_order()]


def id_columns(model: type[models.Model]) -> dict[str, tuple[str, str]]:
    """The model's id-holding columns that are not foreign keys: ID_COLUMNS plus its generic keys."""
    name = label(model)
    columns = {key.rsplit(".", 1)[1]: rule for key, rule in ID_COLUMNS.items() if key.rsplit(".", 1)[0] == name}
    for gfk in model._meta.private_fields:
        if isinstance(gfk, GenericForeignKey):
            ct_field = model._meta.get_field(gfk.ct_field)
            columns[gfk.fk_field] = ("generic", ct_field.attname)
    return columns
