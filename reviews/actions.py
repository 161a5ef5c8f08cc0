"""Review actions: configuring a module's review processes, putting a record under review when it
is created (or resubmitted) through a listed path, and the reviewers' verdicts on its fields.

A case opens inside the save's transaction (an after-write hook, `open_or_resubmit`), so the
record is never visible in lists, nor handed to automation, without its case. A reviewer marks
each field reviewed, corrects it (through `crm.actions.do_update_record`, path "review:<id>") or
rejects it with a reason: one rejected field rejects the record and its submitter may fix it
and save again, which resubmits it. When every field is reviewed or corrected the case is
approved and the record's "created" event is emitted again (path "review:<id>"), so the
assignment and workflow rules that were held back run on it then, once.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _, gettext_noop

from access import generations
from access.models import Group, Membership, OrgRole
from automation.configure import configurable_schema
from crm import timeline
from crm.actions import bound_schema, do_update_record
from crm.criteria import CriteriaError, to_predicate, validate
from crm.events import RecordEvent, emit

from .hooks import modules_with_reviews, reviews_scope
from .models import MAX_FIELDS, NAME_MAX, PATHS, ReviewCase, ReviewProcess
from .selectors import active_processes, entry_path, resolve_reviewers, review_path

logger = logging.getLogger(__name__)

REVIEWED, CORRECTED, REJECTED = "reviewed", "corrected", "rejected"
VERDICTS = (REVIEWED, CORRECTED, REJECTED)
REASON_MAX = 500


# --- configuration ------------------------------------------------------------------------------

def _clean_process(schema: Any, values: dict[str, Any], *, exclude_pk: int | None = None) -> dict[str, Any]:
    """The values of a process as stored, or a ValidationError naming each bad field."""
    errors: dict[str, list[str]] = {}
    org_id = schema.org.pk
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > NAME_MAX:
        errors["name"] = [_("Use at most %(limit)d characters (this has %(length)d).")
                          % {"limit": NAME_MAX, "length": len(name)}]
    elif ReviewProcess.objects.filter(org_id=org_id, module=schema.key, name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = [_("Another review process of this module has this name.")]
    paths = [str(p) for p in values.get("paths") or []]
    if not paths:
        errors["paths"] = [_("Choose at least one entry path.")]
    elif set(paths) - set(PATHS):
        errors["paths"] = [_("Unknown entry path “%(path)s”.") % {"path": sorted(set(paths) - set(PATHS))[0]}]
    editable = {spec.key for spec in schema.editable_fields}
    fields = list(dict.fromkeys(str(key) for key in values.get("fields") or []))
    if not fields:
        errors["fields"] = [_("Choose at least one field to review.")]
    elif len(fields) > MAX_FIELDS:
        errors["fields"] = [_("Choose at most %(limit)d fields to review (this has %(count)d).")
                            % {"limit": MAX_FIELDS, "count": len(fields)}]
    elif set(fields) - editable:
        errors["fields"] = [_("“%(field)s” is not a field of this module that can be reviewed.")
                            % {"field": sorted(set(fields) - editable)[0]}]
    reviewers = _clean_reviewers(org_id, values.get("reviewers") or {}, errors)
    criteria = values.get("criteria") or {}
    if criteria:
        try:
            criteria = validate(criteria, schema)
        except CriteriaError as exc:
            errors["criteria"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    return {"name": name, "paths": paths, "fields": fields, "reviewers": reviewers, "criteria": criteria,
            "active": bool(values.get("active", True))}


def _ids(values: Any) -> list[int]:
    try:
        return sorted({int(v) for v in values or []})
    except (TypeError, ValueError):
        return [-1]  # not an id: refused below as unknown


def _clean_reviewers(org_id: int, spec: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    users, roles, groups = _ids(spec.get("users")), _ids(spec.get("roles")), _ids(spec.get("groups"))
    owner = bool(spec.get("owner"))
    if users and Membership.objects.filter(org_id=org_id, user_id__in=users, is_active=True).count() != len(users):
        errors["reviewers"] = [_("Choose active users of this organisation as reviewers.")]
    elif roles and OrgRole.objects.filter(org_id=org_id, pk__in=roles).count() != len(roles):
        errors["reviewers"] = [_("Choose roles of this organisation.")]
    elif groups and Group.objects.filter(org_id=org_id, pk__in=groups).count() != len(groups):
        errors["reviewers"] = [_("Choose groups of this organisation.")]
    elif not (users or roles or groups or owner):
        errors["reviewers"] = [_("Name at least one reviewer: a user, a role, a group or the record's owner.")]
    return {"users": users, "roles": roles, "groups": groups, "owner": owner}


@transaction.atomic
def do_create_review_process(org: Any, module_key: str, values: dict[str, Any], *, actor: Any) -> ReviewProcess:
    """Whoever may configure the module's rules adds a review process to it."""
    schema = configurable_schema(org, module_key, actor)
    cleaned = _clean_process(schema, values)
    generations.mark_changed(reviews_scope(schema.org.pk))  # lists of the module now leave out what it reviews
    return ReviewProcess.objects.create(org_id=schema.org.pk, module=schema.key, created_by=actor, **cleaned)


@transaction.atomic
def do_update_review_process(process: ReviewProcess, values: dict[str, Any], *, actor: Any) -> ReviewProcess:
    """Change a process. Cases already open keep the fields and reviewers they opened with."""
    schema = configurable_schema(process.org_id, process.module, actor)
    current = ReviewProcess.objects.select_for_update().get(org_id=schema.org.pk, pk=process.pk)
    for name, value in _clean_process(schema, values, exclude_pk=current.pk).items():
        setattr(current, name, value)
    current.save()
    return current


@transaction.atomic
def do_set_review_process_active(process: ReviewProcess, active: bool, *, actor: Any) -> ReviewProcess:
    """Switch a process on or off; records already under review stay so until reviewed."""
    schema = configurable_schema(process.org_id, process.module, actor)
    current = ReviewProcess.objects.select_for_update().get(org_id=schema.org.pk, pk=process.pk)
    current.active = bool(active)
    current.save(update_fields=["active", "updated_at"])
    return current


@transaction.atomic
def do_delete_review_process(process: ReviewProcess, *, actor: Any) -> None:
    """Delete a process that never opened a case (one that did keeps its history: switch it off)."""
    schema = configurable_schema(process.org_id, process.module, actor)
    current = ReviewProcess.objects.select_for_update().get(org_id=schema.org.pk, pk=process.pk)
    if ReviewCase.objects.filter(org_id=current.org_id, process=current).exists():
        raise PermissionDenied(_("This process has reviewed records, so it keeps its history: switch it off instead."))
    generations.mark_changed(reviews_scope(current.org_id))
    current.delete()


# --- entry: the after-write hook ----------------------------------------------------------------

def open_or_resubmit(context: Any, record: Any) -> None:
    """After-write hook (inside the save's transaction): a new record matching an active process
    of its module through one of its paths goes under review; a rejected record saved again by
    its submitter through a listed path is resubmitted."""
    if context.dry or context.action not in ("create", "update"):
        return
    if context.module.key not in modules_with_reviews(record.org_id, context.actor):
        return
    creating = context.action == "create"
    entry = entry_path(context.path, record, context.actor, creating)
    if entry is None:
        return
    if creating:
        _open(context.module, record, context.actor, entry, context.path)
    else:
        _resubmit(context.module, record, context.actor, entry, set(context.changes))


def _matches(process: ReviewProcess, schema: Any, record: Any) -> bool:
    if not process.criteria:
        return True
    try:
        return to_predicate(process.criteria, schema)(record)
    except CriteriaError:  # a field named by the criteria was retired since: the settings page says so
        logger.warning("Review process %s has criteria that no longer fit its module", process.pk)
        return False


def _open(schema: Any, record: Any, actor: Any, entry: str, path: str) -> ReviewCase | None:
    for process in active_processes(record.org_id, schema.key):
        if entry in process.paths and _matches(process, schema, record):
            case = ReviewCase.objects.create(
                org_id=record.org_id, process=process, module=schema.key, record_id=record.pk, submitter=actor,
                path=path, fields=list(process.fields), reviewer_ids=resolve_reviewers(process, record, actor.pk))
            timeline.write(record, kind="review_opened", actor=actor, path=review_path(case),
                           changes={"review": [None, process.name]})
            _tell(case, case.reviewer_ids, gettext_noop("please review %(fields)s"), actor, "opened",
                  fields=_labels(schema, case.fields))
            return case
    return None


def _resubmit(schema: Any, record: Any, actor: Any, entry: str, changed: set[str]) -> None:
    case = (ReviewCase.objects.select_for_update().select_related("process")
            .filter(org_id=record.org_id, module=schema.key, record_id=record.pk, status=ReviewCase.Status.REJECTED,
                    submitter_id=actor.pk).first())
    if case is None or entry not in case.process.paths:
        return
    # Verdicts of the rejected fields and of every field changed now are asked for again.
    case.verdicts = {key: verdict for key, verdict in case.verdicts.items()
                     if verdict.get("verdict") != REJECTED and key not in changed}
    case.status = ReviewCase.Status.OPEN
    case.rounds += 1
    case.closed_by = None
    case.reviewer_ids = resolve_reviewers(case.process, record, actor.pk)
    case.save(update_fields=["verdicts", "status", "rounds", "closed_by", "reviewer_ids"])
    timeline.write(record, kind="review_resubmitted", actor=actor, path=review_path(case),
                   changes={"review": [None, case.process.name]})
    pending = [key for key in case.fields if key not in case.verdicts]
    _tell(case, case.reviewer_ids, gettext_noop("resubmitted; please review %(fields)s"), actor,
          f"resubmitted:{case.rounds}", fields=_labels(schema, pending))


# --- verdicts -------------------------------------------------------------------------------------

def _case_for_reviewer(case: ReviewCase, actor: Any) -> tuple[ReviewCase, Any, Any]:
    """The case (row locked), its schema and its record as the reviewer sees it; PermissionDenied
    when the actor is not one of its reviewers or cannot open the record."""
    from access.visibility import visible

    current = (ReviewCase.objects.select_for_update(of=("self",)).select_related("process")
               .filter(org_id=getattr(actor.org, "pk", None), pk=case.pk).first())
    if current is None:
        raise PermissionDenied(_("Record not found."))
    schema = bound_schema(current.module, actor.org)
    record = visible(actor, schema, "view", listing=False).filter(pk=current.record_id).first()
    if record is None:
        raise PermissionDenied(_("Record not found."))
    if actor.pk not in current.reviewer_ids:
        raise PermissionDenied(_("You are not a reviewer of this record."))
    if current.status != ReviewCase.Status.OPEN:
        raise PermissionDenied(_("This review has ended."))
    return current, schema, record


@transaction.atomic
def do_review_field(case: ReviewCase, field_key: str, verdict: str, *, actor: Any, value: Any = None,
                    version: int | None = None, reason: str = "") -> ReviewCase:
    """A reviewer's verdict on one field: reviewed, corrected (to `value`; `version` is the
    record's as the reviewer saw it) or rejected (with a `reason` for the submitter)."""
    current, schema, record = _case_for_reviewer(case, actor)
    if field_key not in current.fields:
        raise ValidationError({"field": [_("“%(field)s” is not reviewed by this process.") % {"field": field_key}]})
    if verdict not in VERDICTS:
        raise ValidationError({"verdict": [_("Choose reviewed, corrected or rejected.")]})
    label = _labels(schema, [field_key])
    reason = (reason or "").strip()
    if verdict == REJECTED and not reason:
        raise ValidationError({"reason": [_("Say why “%(field)s” is rejected, so the submitter can fix it.")
                                          % {"field": label}]})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": [_("Use at most %(limit)d characters (this has %(length)d).")
                                          % {"limit": REASON_MAX, "length": len(reason)}]})
    if verdict == CORRECTED:
        before = record.version
        record = do_update_record(record, {field_key: value}, version=version, actor=actor,
                                  path=review_path(current), schema=schema)
        if record.version == before:  # the value was already right
            verdict = REVIEWED
    _mark(current, record, schema, field_key, verdict, actor, reason)
    _settle(current, record, schema, actor)
    return current


@transaction.atomic
def do_approve_review(case: ReviewCase, *, actor: Any) -> ReviewCase:
    """A reviewer marks every field still to review as reviewed (the list's "Approve")."""
    current, schema, record = _case_for_reviewer(case, actor)
    for key in current.fields:
        if key not in current.verdicts:
            _mark(current, record, schema, key, REVIEWED, actor, "")
    _settle(current, record, schema, actor)
    return current


def _mark(case: ReviewCase, record: Any, schema: Any, key: str, verdict: str, actor: Any, reason: str) -> None:
    case.verdicts[key] = {"verdict": verdict, "by": actor.pk, "by_name": str(actor), "reason": reason,
                          "at": timezone.now().isoformat()}
    changes = {"review": [None, case.process.name], "field": [None, _labels(schema, [key])]}
    if reason:
        changes["reason"] = [None, reason]
    timeline.write(record, kind=f"review_field_{verdict}", actor=actor, path=review_path(case), changes=changes)


def _settle(case: ReviewCase, record: Any, schema: Any, actor: Any) -> None:
    """Close the case when a field is rejected or every field has its verdict; else keep it open."""
    rejected = [key for key, v in case.verdicts.items() if v.get("verdict") == REJECTED]
    if rejected:
        case.status = ReviewCase.Status.REJECTED
        case.closed_by = actor
        timeline.write(record, kind="review_rejected", actor=actor, path=review_path(case),
                       changes={"review": [None, case.process.name]})
        _tell(case, [case.submitter_id], gettext_noop("rejected %(fields)s; fix it and save to resubmit"), actor,
              f"rejected:{case.rounds}", fields=_labels(schema, rejected))
    elif all(key in case.verdicts for key in case.fields):
        case.status = ReviewCase.Status.APPROVED
        case.closed_by = actor
        case.closed_at = timezone.now()
        timeline.write(record, kind="review_approved", actor=actor, path=review_path(case),
                       changes={"review": [None, case.process.name]})
        _tell(case, [case.submitter_id], gettext_noop("approved"), actor, "approved")
        _emit_created(case, record, schema)
    case.save()


def _emit_created(case: ReviewCase, record: Any, schema: Any) -> None:
    """The record's "created" event again, now that it is no longer held: the assignment and
    workflow rules that skipped it run on it (the event has a new id, so each stage acts once)."""
    changes = {}
    for spec in schema.fields:
        value = spec.get_value(record)
        if value not in (None, "", []):
            changes[spec.key] = [None, spec.field_type.to_json(value)]
    changes["owner"] = [None, record.owner_id]
    emit(RecordEvent(kind="created", module=case.module, org_id=case.org_id, record_id=case.record_id,
                     actor_id=case.submitter_id, path=review_path(case), changes=changes))


# --- telling people -------------------------------------------------------------------------------

def _labels(schema: Any, keys: list[str]) -> str:
    return ", ".join(f"“{schema.field(key).label if schema.has_field(key) else key}”" for key in keys)


def _tell(case: ReviewCase, user_ids: list[int | None], message: str, actor: Any, step: str, **params: str) -> None:
    """Notify people after the commit, in both languages (the reader's is picked when shown);
    keyed by case and step, so a retry tells nobody twice."""
    from automation import messages
    from automation.delivery import notify_users

    texts = {}
    for language, suffix in (("en", "en"), ("zh-hans", "zh")):
        with translation.override(language):
            texts[f"message_{suffix}"] = _(message) % params
    payload = {"rule": case.process.name, **texts}
    ids = [uid for uid in user_ids if uid]
    org_id, module, record_id = case.org_id, case.module, case.record_id
    key = f"review:{case.pk}:{step}"
    transaction.on_commit(lambda: notify_users(org_id, ids, messages.RULE_NOTICE, module, record_id, key,
                                               actor_id=getattr(actor, "pk", None), params=payload))
