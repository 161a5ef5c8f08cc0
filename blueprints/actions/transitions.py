"""Moving records through blueprints: a transition, entering and leaving a blueprint (kept in
step by an after-write hook), migrating records to a newer version, the SLA escalation mark."""
from __future__ import annotations

import logging
from typing import Any, Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import User
from crm import actions as crm_actions
from crm import timeline
from crm.actions.base import _locked, _require_member, bound_schema, record_refusals
from crm.events import caused_by
from crm.guards import WriteContext, run_guards

from .. import selectors
from ..guards import moving
from ..models import Blueprint, BlueprintRecord, Transition
from .after import claim_run, transition_path

logger = logging.getLogger(__name__)
EMPTY = (None, "", [])


def _during_errors(schema: Any, transition: Transition, current: Any, values: dict[str, Any], note: str,
                   attachment: Any, checklist: Iterable[str], system: bool) -> dict[str, list[str]]:
    """What the performer left out of what the transition asks for, by field."""
    during = transition.during or {}
    errors: dict[str, list[str]] = {}
    asked = {item["key"]: bool(item.get("required")) for item in during.get("fields") or []}
    for key in values:
        if key not in asked:
            errors.setdefault("__all__", []).append(_("“%(field)s” is not asked for by this transition.") % {
                "field": schema.field(key).label if schema.has_field(key) else key})
    for key, required in asked.items():
        if not required or not schema.has_field(key):
            continue
        value = values[key] if key in values else schema.field(key).get_value(current)
        if value in EMPTY:
            errors.setdefault(key, []).append(_("This transition needs “%(field)s”.") % {
                "field": schema.field(key).label})
    if system:
        if during.get("note") or during.get("attachment") or during.get("checklist"):
            errors.setdefault("__all__", []).append(_(
                "This transition asks a person for a note, a file or a checklist, so a process cannot do it."))
        return errors
    if during.get("note") and not (note or "").strip():
        errors["note"] = [_("This transition needs a note.")]
    if during.get("attachment") and attachment is None:
        errors["attachment"] = [_("This transition needs a file.")]
    items = list(during.get("checklist") or [])
    ticked = set(checklist or [])
    if items and not set(items) <= ticked:
        errors["checklist"] = [_("Tick every item of the checklist.")]
    return errors


@record_refusals
@transaction.atomic
def do_transition(record: Any, transition: Transition, values: dict[str, Any] | None = None, note: str = "",
                  attachment: Any = None, checklist: Iterable[str] = (), *, actor: User, path: str = "page",
                  system: bool = False) -> Any:
    """Perform a blueprint transition on a record, in one transaction, under the record's row lock:
    the decision point's checks (owners, state, conditions, locks), what the transition asks for,
    then the fields and the new state through `do_update_record`, the note and the file, a
    timeline entry, and the run of the transition's after-actions, done after the commit by a
    task (`.after`): a failing after-action never undoes the transition.
    `system`: a process does it (an approval's final action): owners are not asked."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _locked(schema, actor, record.pk, "edit")
    transition = (Transition.objects.select_related("blueprint")
                  .filter(org_id=schema.org.pk, pk=getattr(transition, "pk", transition)).first())
    if transition is None or transition.blueprint.module != schema.key:
        raise PermissionDenied(_("This transition is not part of the blueprint version the record is in."))
    member = (BlueprintRecord.objects.select_for_update()
              .filter(org_id=schema.org.pk, module=schema.key, record_id=current.pk).first())
    run_guards(WriteContext("transition", schema, current, actor, path, {"transition": transition, "system": system}))
    values = dict(values or {})
    errors = _during_errors(schema, transition, current, values, note, attachment, checklist, system)
    if errors:
        raise crm_actions.RecordValidationError(errors)
    governed = selectors.governing(schema, current, memo=False)
    if member is None:
        member = _enter(schema, current, governed.blueprint, actor=actor, path=path)
        governed.member = member
    done = set(member.signoffs or []) | {transition.key}
    moves = all(t.key in done for t in selectors.siblings(governed, transition))
    tpath = transition_path(transition)
    changes = {key: value for key, value in values.items()}
    if moves:
        changes[transition.blueprint.field] = transition.to_state
    with moving(schema.key, current.pk, transition.to_state if moves else None), caused_by(tpath, 0):
        if changes:
            current = crm_actions.do_update_record(current, changes, version=current.version, actor=actor,
                                                   path=tpath, schema=schema)
    if not moves:
        member.signoffs = sorted(done)
        member.save(update_fields=["signoffs"])
    if (note or "").strip():
        crm_actions.do_add_note(current, note.strip(), actor=actor, path=tpath)
    if attachment is not None:
        crm_actions.do_add_attachment(current, attachment, actor=actor, path=tpath)
    entry = {"transition": [None, transition.name]}
    if transition.during.get("checklist") if transition.during else False:
        entry["checklist"] = [None, "; ".join(transition.during["checklist"])]
    if not moves:
        entry["signoff"] = [None, _("%(done)d of %(all)d sign-offs") % {
            "done": len(done), "all": len(selectors.siblings(governed, transition))}]
    if path != "page":
        entry["via"] = [None, path]
    logged = timeline.write(current, kind="transition", actor=actor, path=tpath, changes=entry)
    selectors.forget(current)
    claim_run(transition, schema, current, key=f"{current.pk}:{logged.pk}")  # its after-actions, after the commit
    return current


# --- entering and leaving ------------------------------------------------------------------------

def _enter(schema: Any, record: Any, blueprint: Blueprint, *, actor: Any, path: str) -> BlueprintRecord:
    member, created = BlueprintRecord.objects.get_or_create(
        org_id=schema.org.pk, module=schema.key, record_id=record.pk,
        defaults={"blueprint": blueprint, "state": selectors.state_of(schema, record, blueprint),
                  "entered_at": timezone.now()})
    if created:
        timeline.write(record, kind="blueprint_entered", actor=actor, path=path,
                       changes={"blueprint": [None, blueprint.name]})
    return member


def sync_membership(context: WriteContext, record: Any) -> None:
    """After-write hook (inside the write's transaction): a record that now matches a published
    blueprint enters it; one that no longer matches its version's entry criteria leaves it; a
    new state starts a new stay (SLA clock, sign-offs)."""
    if context.action not in ("create", "update", "restore"):
        return
    schema = context.module
    if not selectors.active(schema.org.pk, schema.key):
        return
    member = (BlueprintRecord.objects.select_for_update().select_related("blueprint")
              .filter(org_id=schema.org.pk, module=schema.key, record_id=record.pk).first())
    selectors.forget(record)
    if member is None:
        blueprint = selectors.entering(schema, record, selectors.published(schema.org.pk, schema.key))
        if blueprint is not None:
            _enter(schema, record, blueprint, actor=context.actor, path=context.path)
        return
    if not member.blueprint.governs:
        return
    if not selectors.criteria_hold(member.blueprint.criteria, schema, record):
        member.delete()
        timeline.write(record, kind="blueprint_left", actor=context.actor, path=context.path,
                       changes={"blueprint": [member.blueprint.name, None]})
        return
    state = selectors.state_of(schema, record, member.blueprint)
    if state != member.state:
        member.state = state
        member.entered_at = timezone.now()
        member.signoffs = []
        member.escalated_at = None
        member.visit += 1
        member.save(update_fields=["state", "entered_at", "signoffs", "escalated_at", "visit"])


def sync_membership_many(contexts: list[WriteContext], records: list[Any]) -> None:
    """sync_membership for a batch: new records (a batch action creates) have no membership to
    read, so the ones entering a published blueprint enter it with one INSERT for the batch and
    their entries in another; any other write takes the single hook."""
    if not contexts:
        return
    if any(context.action != "create" for context in contexts):
        for context, record in zip(contexts, records):
            sync_membership(context, record)
        return
    schema = contexts[0].module
    if not selectors.active(schema.org.pk, schema.key):
        return
    candidates = selectors.published(schema.org.pk, schema.key)
    members, entries = [], []
    for context, record in zip(contexts, records):
        selectors.forget(record)
        blueprint = selectors.entering(schema, record, candidates)
        if blueprint is None:
            continue
        members.append(BlueprintRecord(org_id=schema.org.pk, module=schema.key, record_id=record.pk,
                                       blueprint=blueprint, state=selectors.state_of(schema, record, blueprint),
                                       entered_at=timezone.now()))
        entries.append(timeline.entry(record, kind="blueprint_entered", actor=context.actor, path=context.path,
                                      changes={"blueprint": [None, blueprint.name]}))
    BlueprintRecord.objects.bulk_create(members)
    timeline.write_many(entries)


@transaction.atomic
def do_migrate_records(old: Blueprint, new: Blueprint, *, actor: User, path: str = "page") -> int:
    """An administrator moves the records inside an older version into the published one; each
    keeps its state and stay (sign-offs start again). Returns how many moved."""
    from .permissions import configurable

    configurable(old, actor)
    new = Blueprint.objects.filter(pk=new.pk).first() or new
    if new.org_id != old.org_id or new.key != old.key or new.status != Blueprint.Status.PUBLISHED or new.pk == old.pk:
        raise crm_actions.RecordValidationError({"__all__": [_("Records move only to the published version.")]})
    return BlueprintRecord.objects.filter(org_id=old.org_id, blueprint=old).update(blueprint=new, signoffs=[])


ENROL_BATCH = 500


def do_enrol_records(blueprint_id: int, *, after_pk: int = 0) -> tuple[int, int | None]:
    """Publishing enrols the module's records that match, a batch at a time (from a task): each
    enters at its current state, from now. Records inside another version, or held, are left.
    Returns (how many entered, the last pk seen, or None when done)."""
    from access.visibility import visible
    from automation.runas import RuleActorError, rule_actor
    from crm.criteria import to_q
    from crm.modules import get_module

    blueprint = Blueprint.objects.select_related("org").filter(pk=blueprint_id,
                                                               status=Blueprint.Status.PUBLISHED).first()
    if blueprint is None:
        return 0, None
    org = blueprint.org
    try:
        actor = rule_actor(org, blueprint.published_by_id)
        schema = get_module(blueprint.module, org).bind(org)
    except (RuleActorError, Exception):  # the publisher left, or the module is gone: nothing to enrol
        return 0, None
    with transaction.atomic():
        records = visible(actor, schema, "view").filter(pk__gt=after_pk)
        if blueprint.criteria and next(iter(blueprint.criteria.values()), None):
            records = records.filter(to_q(blueprint.criteria, schema))
        batch = list(records.order_by("pk")[:ENROL_BATCH])
        inside = set(BlueprintRecord.objects.filter(org_id=org.pk, module=schema.key,
                                                    record_id__in=[r.pk for r in batch])
                     .values_list("record_id", flat=True))
        now = timezone.now()
        rows = [BlueprintRecord(org_id=org.pk, blueprint=blueprint, module=schema.key, record_id=record.pk,
                                state=selectors.state_of(schema, record, blueprint), entered_at=now)
                for record in batch if record.pk not in inside and not selectors.held(schema, record)]
        BlueprintRecord.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows), (batch[-1].pk if len(batch) == ENROL_BATCH else None)


@transaction.atomic
def do_mark_escalated(member_id: int, *, at: Any = None) -> bool:
    """The SLA escalation of a record's stay is done (once per stay): False when it was already."""
    return bool(BlueprintRecord.objects.filter(pk=member_id, escalated_at__isnull=True)
                .update(escalated_at=at or timezone.now()))


def purge_memberships(records: list[Any]) -> None:
    """Records purged from the recycle bin leave their blueprint rows behind them (crm's purge
    hook, inside the purge's transaction)."""
    by_module: dict[tuple[int, str], list[int]] = {}
    for record in records:
        by_module.setdefault((record.org_id, record.MODULE_KEY), []).append(record.pk)
    for (org_id, module_key), ids in by_module.items():
        BlueprintRecord.objects.filter(org_id=org_id, module=module_key, record_id__in=ids).delete()
