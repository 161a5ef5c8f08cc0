"""Writes of approval processes: configuring a module's processes, submitting a record for
approval, deciding a step (approve, reject), delegating it, recalling a request.

Who may decide, delegate or recall is asked of the decision point (`access.decide`, actions
"approve" and "recall"), on the request row the action locked first (`select_for_update`), so
two approvers deciding the last level at the same moment take turns: the second finds the
request decided and is refused. Who a request waits on is kept as rows (`ApprovalWaiter`) in
step with every change, in the same transaction.
Final actions run through automation's action kinds, as the process's author, in the deciding
transaction; the run is logged like a rule's (rule kind "approval").
"""
from __future__ import annotations

import copy
from typing import Any, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.decisions import decide
from access.models import Group, Membership, OrgRole, User
from access.visibility import can, visible
from automation.configure import configurable_schema, org_ids
from config.params import optional_id
from automation.holds import PROCESSES, hold_reason
from crm import timeline
from crm.actions import RecordValidationError, bound_schema
from crm.criteria import CriteriaError, validate

from . import engine
from .models import AWAITING, ApprovalLevel, ApprovalProcess, ApprovalRequest, ApprovalStep, ApprovalWaiter

MAX_LEVELS = 10
MAX_COMMENT = 2000


def path_of(request: ApprovalRequest) -> str:
    return f"approval:{request.pk}"


# --- configuration -------------------------------------------------------------------------------

def _approvers(org: Any, schema: Any, raw: dict, errors: dict, key: str) -> dict:
    level_errors: dict = {}
    approvers = {
        "users": org_ids(raw.get("users"), Membership, org, level_errors, key),
        "roles": org_ids(raw.get("roles"), OrgRole, org, level_errors, key),
        "groups": org_ids(raw.get("groups"), Group, org, level_errors, key),
        "manager": bool(raw.get("manager")),
        "team_manager": bool(raw.get("team_manager")),
    }
    try:
        approvers["superiors"] = int(raw.get("superiors") or 0)
    except (TypeError, ValueError):
        approvers["superiors"] = -1
    if not 0 <= approvers["superiors"] <= 10:
        level_errors[key] = [_("The number of superior roles is between 0 and 10.")]
    if approvers["team_manager"] and getattr(schema, "team_module", None) is None:
        level_errors[key] = [_("Only team modules have a team manager.")]
    if not level_errors and not any(approvers.values()):
        level_errors[key] = [_("Choose at least one approver.")]
    errors.update(level_errors)
    return approvers


def _final_actions(actions: Any, schema: Any, org: Any, errors: dict, key: str) -> list[dict]:
    """The final actions, each cleaned by its kind as a workflow rule's are; errors named
    "<key>.<n>.<setting>" (e.g. "on_approve.1.field") so the form shows them under that row.
    They run in the deciding transaction: no delay."""
    from automation.workflow_rule_actions import MAX_ACTIONS, clean_actions

    if not actions:
        return []
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        errors[key] = [_("Give at most %(max)d actions.") % {"max": MAX_ACTIONS}]
        return []
    try:
        cleaned = clean_actions(actions, schema, org)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors[key + name[len("actions"):] if name.startswith("actions") else key] = messages
        return []
    for index, action in enumerate(cleaned):
        if action.pop("delay", None):
            errors[f"{key}.{index}.delay"] = [_("Final actions run at once, when the step is decided: give no delay.")]
    return cleaned


@transaction.atomic
def do_save_approval_process(org: Any, module_key: str, *, name: str, levels: list[dict], actor: User,
                             trigger: str = "button", criteria: dict | None = None, active: bool = True,
                             admins: Iterable[int] = (), editable_fields: Iterable[str] = (),
                             on_approve: list[dict] | None = None, on_reject: list[dict] | None = None,
                             process: ApprovalProcess | None = None) -> ApprovalProcess:
    """Create (or, given `process`, change) a module's approval process. Its author is whoever
    saves it last: its final actions act as them. Requests already awaiting keep their levels."""
    if process is not None and (process.org_id != getattr(getattr(actor, "org", None), "pk", None)
                                or process.module != module_key):
        raise PermissionDenied(_("Not found."))
    schema = configurable_schema(org, module_key, actor)
    errors: dict[str, list[str]] = {}
    name = str(name or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 100:
        errors["name"] = [_("Use at most %(limit)d characters (this has %(length)d).") % {"limit": 100, "length": len(name)}]
    elif ApprovalProcess.objects.filter(org=org, module=schema.key, name__iexact=name).exclude(
            pk=getattr(process, "pk", None)).exists():
        errors["name"] = [_("Another approval process of this module has this name.")]
    if trigger not in ApprovalProcess.Trigger.values:
        errors["trigger"] = [_("Choose a trigger.")]
    try:
        criteria = validate(criteria or {"all": []}, schema)
    except CriteriaError as exc:
        errors["criteria"] = exc.messages
    admins = org_ids(admins, Membership, org, errors, "admins")
    editable = []
    for key in editable_fields or []:
        if not schema.has_field(key) or not schema.field(key).editable:
            errors["editable_fields"] = [_("Unknown field “%(field)s”.") % {"field": key}]
        else:
            editable.append(schema.field(key).key)
    if not levels:
        errors["levels"] = [_("Add at least one level of approvers.")]
    elif len(levels) > MAX_LEVELS:
        errors["levels"] = [_("A process has at most %(max)d levels.") % {"max": MAX_LEVELS}]
    cleaned_levels = []
    for number, level in enumerate(levels or [], start=1):
        rule = level.get("rule") or "any"
        if rule not in ApprovalLevel.Rule.values:
            errors[f"level{number}"] = [_("Choose whether any one or all approvers decide.")]
        cleaned_levels.append((rule, _approvers(org, schema, level.get("approvers") or {}, errors, f"level{number}")))
    approve_actions = _final_actions(on_approve, schema, org, errors, "on_approve")
    reject_actions = _final_actions(on_reject, schema, org, errors, "on_reject")
    if errors:
        raise RecordValidationError(errors)
    if process is None:
        last = ApprovalProcess.objects.filter(org=org, module=schema.key).order_by("-position").first()
        process = ApprovalProcess(org=org, module=schema.key, position=(last.position + 1) if last else 1)
    process.name, process.trigger, process.criteria, process.active = name, trigger, criteria, bool(active)
    process.admins, process.editable_fields = admins, sorted(set(editable))
    process.on_approve, process.on_reject, process.run_as = approve_actions, reject_actions, actor
    process.save()
    ApprovalLevel.objects.filter(process=process).delete()
    ApprovalLevel.objects.bulk_create([ApprovalLevel(org=org, process=process, order=number, rule=rule, approvers=approvers)
                                       for number, (rule, approvers) in enumerate(cleaned_levels, start=1)])
    engine.mark_changed(org.pk, schema.key)
    return process


@transaction.atomic
def do_delete_approval_process(process: ApprovalProcess, *, actor: User) -> None:
    """Delete a process that no record awaits (recall or decide its requests first)."""
    if process.org_id != getattr(getattr(actor, "org", None), "pk", None):
        raise PermissionDenied(_("Not found."))
    configurable_schema(process.org_id, process.module, actor)
    if ApprovalRequest.objects.filter(org_id=process.org_id, process=process, status__in=AWAITING).exists():
        raise RecordValidationError({"__all__": [_("Records await approval by this process: recall or decide "
                                                   "their requests first, or make the process inactive.")]})
    ApprovalRequest.objects.filter(org_id=process.org_id, process=process).delete()
    process.delete()
    engine.mark_changed(process.org_id, process.module)


# --- submitting ----------------------------------------------------------------------------------

def _entry(record: Any, request: ApprovalRequest, kind: str, actor: Any, changes: dict) -> None:
    timeline.write(record, kind=kind, actor=actor, path=path_of(request),
                   changes={"approval": [None, request.process.name], **changes})


def _save(request: ApprovalRequest) -> None:
    """Save the request, and who it waits on now as rows (the access grant and My Work read them)."""
    request.save()
    ApprovalWaiter.objects.filter(org_id=request.org_id, request=request).delete()
    if request.awaiting:
        ApprovalWaiter.objects.bulk_create([
            ApprovalWaiter(org_id=request.org_id, request=request, user_id=user_id, module=request.module,
                           record_id=request.record_id) for user_id in request.waiting_on])


def _notify_later(request: ApprovalRequest, event: str, step: ApprovalStep) -> None:
    from .tasks import queue_notices

    request_id, step_id = request.pk, step.pk
    transaction.on_commit(lambda: queue_notices(request_id, event, step_id))


def _levels(process: ApprovalProcess) -> list[ApprovalLevel]:
    return list(process.levels.order_by("order", "pk"))


def _open(request: ApprovalRequest, level: ApprovalLevel, number: int, record: Any) -> None:
    request.level, request.rule = number, level.rule
    request.slots = engine.resolve_slots(request.org, level.approvers, record, request.process.admins)
    request.waiting_on = engine.waiting_on(request.slots)
    request.level_opened_at = timezone.now()


def _choose(schema: Any, record: Any, process: Any, *, button: bool) -> ApprovalProcess:
    from crm.criteria import to_predicate

    if process is not None:
        process_id = optional_id(getattr(process, "pk", process))
        found = process_id and ApprovalProcess.objects.filter(org=schema.org, module=schema.key, pk=process_id,
                                                              active=True).first()
        if not found:
            raise PermissionDenied(_("This approval process does not exist or is not active."))
        candidates = [found]
    else:
        candidates = list(ApprovalProcess.objects.filter(org=schema.org, module=schema.key, active=True)
                          .order_by("position", "pk"))
        if button:
            candidates = [p for p in candidates if p.trigger == ApprovalProcess.Trigger.BUTTON] or candidates
    for candidate in candidates:
        if to_predicate(candidate.criteria or {"all": []}, schema)(record):
            return candidate
    if process is not None:
        raise RecordValidationError({"__all__": [_("This record does not meet the entry criteria of “%(process)s”.")
                                                 % {"process": candidates[0].name}]})
    raise RecordValidationError({"__all__": [_("No active approval process of this module applies to this record.")]})


@transaction.atomic
def do_submit_for_approval(record: Any, *, actor: User, path: str = "page", process: Any = None,
                           schema: Any = None, automatic: bool = False) -> ApprovalRequest:
    """Submit a record for approval by `process` (default: the first active process whose entry
    criteria it meets). Whoever may edit the record may submit it; `automatic` is the entry by a
    trigger, inside the write that met it. A record held for processes (under review, or already
    awaiting approval) enters no approval."""
    schema = schema or bound_schema(record, actor.org)
    if getattr(actor, "org", None) is None or actor.org.pk != schema.org.pk:
        raise PermissionDenied(_("Record not found."))
    if not automatic and not can(actor, schema, record, "edit"):
        raise PermissionDenied(_("You may not submit this record for approval."))
    current = (schema.base_queryset(schema.org).select_for_update(of=("self",))
               .filter(pk=record.pk, deleted_at__isnull=True).first())
    if current is None:
        raise PermissionDenied(_("Record not found."))
    engine.forget(current)
    held = hold_reason(schema, current, PROCESSES)
    if held:
        raise RecordValidationError({"__all__": [held]})
    chosen = _choose(schema, current, process, button=not automatic)
    levels = _levels(chosen)
    if not levels:
        raise RecordValidationError({"__all__": [_("This approval process has no levels.")]})
    request = ApprovalRequest(org_id=schema.org.pk, process=chosen, module=schema.key, record_id=current.pk,
                              record_name=str(current)[:255], submitter=actor)
    request.org = schema.org
    _open(request, levels[0], 1, current)
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:  # another submission of this record won the race
        raise RecordValidationError({"__all__": [_("This record is already awaiting approval.")]})
    _save(request)
    step = ApprovalStep.objects.create(org_id=request.org_id, request=request, level=1, actor=actor,
                                       decision=ApprovalStep.Decision.SUBMITTED)
    _entry(current, request, "approval_submitted", actor, {"approvers": [None, engine.waiting_names(request)]})
    record.__dict__[engine.PENDING_ATTR] = request
    _notify_later(request, "level_opened", step)
    return request


# --- deciding --------------------------------------------------------------------------------------

def _locked_request(request: Any, actor: User) -> ApprovalRequest:
    org_id = getattr(getattr(actor, "org", None), "pk", None)
    found = (ApprovalRequest.objects.select_for_update(of=("self",)).select_related("process", "org")
             .filter(org_id=org_id, pk=getattr(request, "pk", request)).first())
    if found is None:
        raise PermissionDenied(_("Not found."))
    return found


def _decided(actor: User, current: ApprovalRequest, action: str, **changes: Any) -> tuple[Any, Any]:
    """The request's schema and record, once the decision point allows `action` ("approve" or
    "recall") on the row this transaction locked; else PermissionDenied with its reason."""
    schema, record = _record(current)
    judged = copy.copy(record)  # what the guards read and remember stays off the record written next
    judged.__dict__[engine.PENDING_ATTR] = current if current.awaiting else None
    verdict = decide(actor, judged, action, {"request": current, **changes}, schema=schema)
    if not verdict.allowed:
        raise PermissionDenied(verdict.reason)
    return schema, record


def _comment(comment: Any, *, required: bool) -> str:
    text = str(comment or "").strip()
    if required and not text:
        raise RecordValidationError({"comment": [_("Say why in a comment.")]})
    if len(text) > MAX_COMMENT:
        raise RecordValidationError({"comment": [_("Use at most %(limit)d characters (this has %(length)d).")
                                                 % {"limit": MAX_COMMENT, "length": len(text)}]})
    return text


def _record(request: ApprovalRequest) -> tuple[Any, Any]:
    schema = bound_schema(request.module, request.org)
    record = schema.base_queryset(request.org).filter(pk=request.record_id).first()
    if record is None:
        raise PermissionDenied(_("Record not found."))
    return schema, record


@transaction.atomic
def do_decide_approval(request: Any, decision: str, *, actor: User, comment: str = "",
                       path: str = "page") -> ApprovalRequest:
    """Approve or reject the request's current step (a rejection needs a comment). An approver
    decides for their slots; a process admin takes the whole step over. The last level approved
    runs the process's approval actions and locks the record by its "lock after approval" rules;
    a rejection voids the earlier levels' approvals and runs the rejection actions."""
    if decision not in ("approve", "reject"):
        raise RecordValidationError({"decision": [_("Approve or reject.")]})
    current = _locked_request(request, actor)
    schema, record = _decided(actor, current, "approve")
    takeover = engine.takes_over(actor, current)
    comment = _comment(comment, required=decision == "reject")
    level = current.level
    changes = {"level": [None, level], "comment": [None, comment or None]}
    if decision == "reject":
        step = ApprovalStep.objects.create(org_id=current.org_id, request=current, level=level, actor=actor,
                                           decision=ApprovalStep.Decision.REJECTED, comment=comment,
                                           taken_over=takeover)
        ApprovalStep.objects.filter(request=current, decision=ApprovalStep.Decision.APPROVED).update(void=True)
        current.reject()
        _close(current)
        _entry(record, current, "approval_taken_over" if takeover else "approval_rejected", actor,
               {**changes, "decision": [None, _("Rejected")]} if takeover else changes)
        _final(current, schema, record, "rejected", current.process.on_reject, actor)
        _notify_later(current, "rejected", step)
        return current
    step = ApprovalStep.objects.create(org_id=current.org_id, request=current, level=level, actor=actor,
                                       decision=ApprovalStep.Decision.APPROVED, comment=comment, taken_over=takeover)
    for slot in current.slots:
        if takeover or actor.pk in slot["users"]:
            slot["done"] = True
    _entry(record, current, "approval_taken_over" if takeover else "approval_step_approved", actor,
           {**changes, "decision": [None, _("Approved")]} if takeover else changes)
    if not engine.level_complete(current.slots, current.rule):
        current.waiting_on = engine.waiting_on(current.slots)
        _save(current)
        return current
    levels = _levels(current.process)
    if level < len(levels):
        current.open_level()
        _open(current, levels[level], level + 1, record)
        _save(current)
        _entry(record, current, "approval_level_opened", actor,
               {"level": [None, level + 1], "approvers": [None, engine.waiting_names(current)]})
        _notify_later(current, "level_opened", step)
        return current
    current.approve()
    _close(current)
    _entry(record, current, "approval_approved", actor, {})
    _final(current, schema, record, "approved", current.process.on_approve, actor)
    _lock(current, schema, record, actor)
    _notify_later(current, "approved", step)
    return current


def _close(request: ApprovalRequest) -> None:
    request.finished_at = timezone.now()
    request.waiting_on = []
    _save(request)


def _author(request: ApprovalRequest) -> Any:
    from automation.runas import rule_actor

    return rule_actor(request.org_id, request.process.run_as_id)


def _final(request: ApprovalRequest, schema: Any, record: Any, outcome: str, actions: list[dict], actor: User) -> None:
    """The process's final actions, as its author, each in a savepoint; logged as a run."""
    from automation import runs
    from automation.run_models import RuleRun
    from automation.runas import RuleActorError
    from automation.workflow_actions import FIELD_UPDATES, ActionContext, ActionError, action_kind, in_stage_order

    if not actions:
        return
    run = runs.claim(org_id=request.org_id, rule_kind="approval", rule_id=request.process_id,
                     key=f"request:{request.pk}:{outcome}", module=request.module, record_id=request.record_id,
                     trigger=outcome)
    if run is None:
        return
    try:
        author = _author(request)
    except RuleActorError as exc:
        runs.finish(run, RuleRun.Status.FAILED, [], str(exc))
        return
    current = visible(author, schema, "view").filter(pk=record.pk).first() or record
    entries, errors = [], []
    for index, action in enumerate(in_stage_order([dict(a) for a in actions])):
        kind = action_kind(action.get("type", ""))
        entry = {"index": index, "type": action.get("type", ""), "action": action}
        if kind is None:
            entry.update(status="failed", error=_("This kind of action is no longer available."))
        else:
            context = ActionContext(rule=request.process, schema=schema, record=current, actor=author,
                                    path=path_of(request), run=run, key=f"approval{request.pk}:{outcome}:{index}")
            try:
                with transaction.atomic():
                    entry.update(status="done", result=str(kind.run(action, context) or ""))
            except (ActionError, ValidationError, PermissionDenied) as exc:
                entry.update(status="failed", error=" ".join(getattr(exc, "messages", None) or [str(exc)]))
            if kind.stage == FIELD_UPDATES:
                current = visible(author, schema, "view").filter(pk=record.pk).first() or current
        if entry["status"] == "failed":
            errors.append(f"{entry['type']}: {entry['error']}")
        entries.append(entry)
    runs.finish(run, RuleRun.Status.FAILED if errors else RuleRun.Status.DONE, entries, "; ".join(errors))


def _lock(request: ApprovalRequest, schema: Any, record: Any, actor: User) -> None:
    """Lock the record by its module's "lock after approval" rules, as the process's author
    (or, when the author can no longer act, as the approver who decided)."""
    from automation.runas import RuleActorError
    from locking.actions import do_lock_after_approval

    try:
        by = _author(request)
    except RuleActorError:
        by = actor
    try:
        do_lock_after_approval(record, actor=by, path=path_of(request))
    except PermissionDenied:
        if by is actor:
            raise
        do_lock_after_approval(record, actor=actor, path=path_of(request))


@transaction.atomic
def do_delegate_approval(request: Any, to_user: Any, *, actor: User, comment: str = "") -> ApprovalRequest:
    """An approver hands their part of the current step to another active member (logged)."""
    current = _locked_request(request, actor)
    _schema, record = _decided(actor, current, "approve", delegate=True)
    to_id = optional_id(getattr(to_user, "pk", to_user))
    if to_id is None or to_id == actor.pk or not Membership.objects.filter(org_id=current.org_id, user_id=to_id, is_active=True,
                                                          user__is_active=True).exists():
        raise RecordValidationError({"delegate_to": [_("Choose another active user of this organisation.")]})
    comment = _comment(comment, required=False)
    name = str(User.objects.get(pk=to_id))
    for slot in current.slots:
        if not slot.get("done") and actor.pk in slot["users"]:
            slot["users"] = sorted((set(slot["users"]) - {actor.pk}) | {to_id})
            slot.update(kind="user", name=name, label=name)
            slot.pop("person", None)
    current.waiting_on = engine.waiting_on(current.slots)
    current.delegate()
    _save(current)
    step = ApprovalStep.objects.create(org_id=current.org_id, request=current, level=current.level, actor=actor,
                                       decision=ApprovalStep.Decision.DELEGATED, comment=comment, delegated_to_id=to_id)
    _entry(record, current, "approval_delegated", actor, {"delegated_to": [None, name], "comment": [None, comment or None]})
    _notify_later(current, "delegated", step)
    return current


@transaction.atomic
def do_recall_approval(request: Any, *, actor: User, comment: str = "") -> ApprovalRequest:
    """The submitter, or an admin, takes an awaiting request back: the record is free again."""
    current = _locked_request(request, actor)
    _schema, record = _decided(actor, current, "recall")
    comment = _comment(comment, required=False)
    current.recall()
    _close(current)
    step = ApprovalStep.objects.create(org_id=current.org_id, request=current, level=current.level, actor=actor,
                                       decision=ApprovalStep.Decision.RECALLED, comment=comment)
    _entry(record, current, "approval_recalled", actor, {"comment": [None, comment or None]})
    _notify_later(current, "recalled", step)
    return current
