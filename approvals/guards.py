"""What a pending approval means for every write, registered with the decision point and the
write pipeline at start-up:

- who may decide a step (approve, reject, delegate) and recall a request: the decision guard,
  which alone answers `decide`'s actions "approve" and "recall" for pages and actions alike;
- the freeze (a guard): while a record awaits approval nobody but an admin (org administrators
  and the process's admins) edits, deletes, re-owns it or changes its files, except the fields the
  process leaves editable while pending; `decide` explains it on every page;
- the same as field rules, so forms and inline controls show those fields read-only;
- a hold: a record awaiting approval enters no other process;
- the triggers (an after-write hook): a record created or edited into a process's entry criteria
  awaits approval from the same transaction as the save.
"""
from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from access.decisions import GuardRefusal, WriteContext
from automation.holds import PROCESSES, hold_reason

from . import engine

FROZEN = {"update", "delete", "change_owner", "add_attachment", "delete_attachment"}
TRIGGERS = {"create": ("create", "create_or_edit"), "update": ("edit", "create_or_edit")}


def _spec(request: Any) -> engine.ProcessSpec | None:
    return engine.process_spec(request.org_id, request.module, request.process_id)


def _exempt(user: Any, request: Any) -> bool:
    spec = _spec(request)
    return engine.is_process_admin(user, spec.admins if spec else ())


def approval_guard(context: WriteContext) -> None:
    if context.action not in FROZEN:
        return
    request = engine.pending_request(context.module, context.record)
    if request is None or _exempt(context.actor, request):
        return
    spec = _spec(request)
    editable = spec.editable if spec else frozenset()
    if context.action == "update":
        changed = set(context.changes)
        if (changed and changed <= editable) or (context.dry and not changed and editable):
            return
    message = engine.pending_message(request)
    if context.action == "update" and editable:
        labels = sorted(context.module.field(k).label for k in editable if context.module.has_field(k))
        message += " " + _("You may still change: %(fields)s.") % {"fields": ", ".join(labels)}
    raise GuardRefusal(message, guard="approval")


def decision_guard(context: WriteContext) -> None:
    """"approve": an approver of the current step, or an admin of the process (taking it over);
    with changes {"delegate": True}, only an approver. "recall": the submitter or a process admin.
    The actions pass the request row they locked (changes {"request": ...}); pages ask about the
    record's awaiting request."""
    request = context.changes.get("request") or engine.pending_request(context.module, context.record)
    if request is None or request.record_id != context.record.pk or request.module != context.module.key:
        raise GuardRefusal(_("This record is not awaiting approval."), guard="approval", quiet=True, log=False)
    if not request.awaiting:
        raise GuardRefusal(_("This approval request is no longer awaiting a decision."), guard="approval",
                           quiet=True, log=False)
    actor = context.actor
    if context.action == "recall":
        if actor.pk == request.submitter_id or engine.is_admin_of(actor, request):
            return
        raise GuardRefusal(_("Only the submitter or an admin may recall this request."), guard="approval",
                           quiet=True, log=False)
    if engine.is_approver(actor, request):
        return
    if context.changes.get("delegate"):
        raise GuardRefusal(_("Only an approver of this step may delegate it."), guard="approval", quiet=True,
                           log=False)
    if engine.is_admin_of(actor, request):
        return
    raise GuardRefusal(_("You are not an approver of this step."), guard="approval", quiet=True, log=False)


def approval_field_rules(user: Any, schema: Any, record: Any) -> dict:
    """Every field but those editable while pending is read-only while the record awaits approval."""
    request = engine.pending_request(schema, record)
    if request is None or _exempt(user, request):
        return {}
    spec = _spec(request)
    editable = spec.editable if spec else frozenset()
    reason = _("Awaiting approval (“%(process)s”)") % {"process": request.process.name}
    return {"read_only": {f.key: reason for f in schema.editable_fields if f.key not in editable}}


def approval_hold(schema: Any, record: Any, scope: str) -> str | None:
    if scope != PROCESSES:
        return None
    request = engine.pending_request(schema, record)
    return engine.pending_message(request) if request is not None else None


def _criteria_fields(criteria: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(criteria, dict):
        if "field" in criteria:
            found.add(str(criteria["field"]))
        for value in criteria.values():
            found |= _criteria_fields(value)
    elif isinstance(criteria, list):
        for item in criteria:
            found |= _criteria_fields(item)
    return found


def enter_on_write(context: WriteContext, record: Any) -> None:
    """A record created into a process's criteria (trigger "create"), or edited in a field its
    criteria name while meeting them (trigger "edit"), awaits approval by the first such process.
    The process's own changes (path "approval:<id>") trigger nothing."""
    wanted = TRIGGERS.get(context.action)
    if wanted is None or context.path.startswith("approval:"):
        return
    schema = context.module
    candidates = [p for p in engine.processes(schema.org.pk, schema.key) if p.active and p.trigger in wanted]
    if not candidates:
        return
    from crm.criteria import to_predicate

    for spec in candidates:
        if context.action == "update":
            names = _criteria_fields(spec.criteria)
            keys = {schema.field(n).key for n in names if schema.has_field(n)}
            if not keys & set(context.changes):
                continue
        if not to_predicate(spec.criteria or {"all": []}, schema)(record):
            continue
        engine.forget(record)
        if hold_reason(schema, record, PROCESSES):
            return
        from .actions import do_submit_for_approval

        do_submit_for_approval(record, actor=context.actor, path=context.path, process=spec.id, schema=schema,
                               automatic=True)
        return


def path_labels(org_id: int, paths: set[str]) -> dict[str, str]:
    """Timeline paths "approval:<request id>" -> "by approval “process”" (one query a page)."""
    from .models import ApprovalRequest

    by_id = {int(p.split(":")[1]): p for p in paths if p.count(":") == 1 and p.split(":")[1].isdigit()}
    labels = {}
    for request_id, name in (ApprovalRequest.objects.filter(org_id=org_id, pk__in=list(by_id))
                             .values_list("pk", "process__name")):
        labels[by_id[request_id]] = _("by approval “%(name)s”") % {"name": name}
    return labels
