"""Configuring blueprints: drafts and their transitions, publishing, deactivating, new versions.
Whoever may configure the module's rules may (org administrators; team managers for their team
modules: `automation.configure`). Only a draft is edited: a published version is never changed
under the records inside it."""
from __future__ import annotations

import re
from typing import Any, Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import Group, Membership, OrgRole, User
from automation.configure import org_ids
from crm.actions import RecordValidationError
from crm.criteria import CriteriaError, validate

from .. import selectors
from ..models import Blueprint, BlueprintRecord, Transition
from .permissions import configurable

TEAM_ROLES = ("manager", "member", "participant")
MAX_TRANSITIONS = 50
MAX_CHECKLIST = 10
PARALLEL = re.compile(r"^[\w-]{0,60}$")


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise RecordValidationError(errors)


def _draft(blueprint: Blueprint) -> None:
    if not blueprint.is_draft:
        raise RecordValidationError({"__all__": [_("Only a draft can be changed: make a new version first.")]})


def _name(value: Any, errors: dict, limit: int = 120) -> str:
    name = str(value or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > limit:
        errors["name"] = [_("Use at most %(limit)d characters (this has %(length)d).") % {"limit": limit,
                                                                                        "length": len(name)}]
    return name


def _criteria(criteria: Any, schema: Any, errors: dict, key: str) -> dict:
    if not criteria or not next(iter(criteria.values()), None):
        return {}
    try:
        return validate(criteria, schema)
    except (CriteriaError, AttributeError, StopIteration) as exc:
        errors[key] = list(getattr(exc, "messages", [str(exc)]))
        return {}


def _state_field(schema: Any, field_key: str, errors: dict) -> list[str]:
    keys = {spec.key for spec in selectors.picklist_fields(schema)}
    if field_key not in keys:
        errors["field"] = [_("Choose a picklist field of this module.")]
        return []
    return [value for value, _label in selectors.state_choices(schema, field_key)]


def _sla(sla: Any, states: list[str], org: Any, errors: dict) -> dict:
    cleaned: dict[str, dict] = {}
    for state, rule in (sla or {}).items():
        if state not in states or not isinstance(rule, dict):
            errors["sla"] = [_("Give time limits for states of this blueprint only.")]
            continue
        try:
            amount = int(rule.get("amount") or 0)
        except (TypeError, ValueError):
            amount = -1
        if amount < 0 or amount > 8760:
            errors["sla"] = [_("A time limit is a whole number between 0 and 8760.")]
            continue
        if not amount:
            continue
        unit = "hours" if rule.get("unit") == "hours" else "days"
        users = org_ids(rule.get("users"), Membership, org, errors, "sla")
        manager = bool(rule.get("manager"))
        if not (manager or users):
            errors["sla"] = [_("Say whom to tell when a record stays too long in “%(state)s”.") % {"state": state}]
        cleaned[state] = {"amount": amount, "unit": unit, "manager": manager, "users": users}
    return cleaned


# --- blueprints -------------------------------------------------------------------------------------

@transaction.atomic
def do_create_blueprint(org: Any, module_key: str, *, name: str, field: str, start_state: str = "",
                        criteria: dict | None = None, actor: User) -> Blueprint:
    """A draft blueprint (version 1) over one picklist field of the module."""
    schema = configurable(org, actor, module_key)
    errors: dict[str, list[str]] = {}
    name = _name(name, errors)
    states = _state_field(schema, field, errors)
    start_state = start_state or (schema.field(field).default if states and schema.field(field).default else "") \
        or (states[0] if states else "")
    if states and start_state not in states:
        errors["start_state"] = [_("Choose one of the field's values.")]
    criteria = _criteria(criteria, schema, errors, "criteria")
    _raise(errors)
    return Blueprint.objects.create(org_id=schema.org.pk, module=schema.key, field=field, name=name,
                                    start_state=str(start_state), criteria=criteria, created_by=actor)


@transaction.atomic
def do_update_blueprint(blueprint: Blueprint, *, name: str, start_state: str, criteria: dict | None,
                        sla: dict | None = None, actor: User) -> Blueprint:
    schema = configurable(blueprint, actor)
    _draft(blueprint)
    errors: dict[str, list[str]] = {}
    blueprint.name = _name(name, errors)
    states = _state_field(schema, blueprint.field, errors)
    if start_state not in states:
        errors["start_state"] = [_("Choose one of the field's values.")]
    blueprint.start_state = start_state
    blueprint.criteria = _criteria(criteria, schema, errors, "criteria")
    blueprint.sla = _sla(sla, states, schema.org, errors)
    _raise(errors)
    blueprint.save()
    return blueprint


@transaction.atomic
def do_delete_draft(blueprint: Blueprint, *, actor: User) -> None:
    configurable(blueprint, actor)
    _draft(blueprint)
    blueprint.delete()


def _clean_transition(schema: Any, blueprint: Blueprint, values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    org = schema.org
    states = _state_field(schema, blueprint.field, errors)
    cleaned: dict[str, Any] = {"name": _name(values.get("name"), errors, 100)}
    any_state = bool(values.get("any_state"))
    from_states = [str(s) for s in values.get("from_states") or []]
    if any(s not in states for s in from_states) or (not any_state and not from_states):
        errors["from_states"] = [_("Choose the states it starts from (or every state).")]
    to_state = str(values.get("to_state") or "")
    if to_state not in states:
        errors["to_state"] = [_("Choose one of the field's values.")]
    elif not any_state and from_states == [to_state]:
        errors["to_state"] = [_("A transition must lead to another state.")]
    cleaned.update(any_state=any_state, from_states=[] if any_state else sorted(set(from_states), key=states.index)
                   if not errors.get("from_states") else [], to_state=to_state)
    owners = values.get("owners") or {}
    team_roles = sorted(set(owners.get("team_roles") or []))
    if team_roles and (getattr(schema, "team_module", None) is None or not set(team_roles) <= set(TEAM_ROLES)):
        errors["team_roles"] = [_("Team roles apply to team modules only: choose from the list.")]
    cleaned["owners"] = {
        "users": org_ids(owners.get("users"), Membership, org, errors, "users"),
        "roles": org_ids(owners.get("roles"), OrgRole, org, errors, "roles"),
        "groups": org_ids(owners.get("groups"), Group, org, errors, "groups"),
        "team_roles": team_roles, "owner": bool(owners.get("owner")), "assignee": bool(owners.get("assignee")),
    }
    if cleaned["owners"]["assignee"] and not schema.has_field("assignee"):
        errors["assignee"] = [_("Records of this module have no assignee.")]
    cleaned["before"] = _criteria(values.get("before"), schema, errors, "before")
    during = values.get("during") or {}
    fields = []
    for item in during.get("fields") or []:
        key = str(item.get("key") or "")
        if not schema.has_field(key) or not schema.field(key).editable or key == blueprint.field:
            errors["during_fields"] = [_("Choose fields of this module the performer may fill (not the state).")]
            continue
        fields.append({"key": schema.field(key).key, "required": bool(item.get("required"))})
    checklist = [str(text).strip()[:200] for text in during.get("checklist") or [] if str(text).strip()]
    if len(checklist) > MAX_CHECKLIST:
        errors["checklist"] = [_("At most %(max)d checklist items.") % {"max": MAX_CHECKLIST}]
    cleaned["during"] = {"fields": fields, "note": bool(during.get("note")),
                         "attachment": bool(during.get("attachment")), "checklist": checklist}
    cleaned["after"] = _after(values.get("after") or [], schema, errors)
    parallel = str(values.get("parallel") or "").strip()
    if not PARALLEL.match(parallel):
        errors["parallel"] = [_("Use letters, digits, “-” and “_” only (at most 60).")]
    cleaned["parallel"] = parallel
    _raise(errors)
    return cleaned


def _after(actions: list[dict[str, Any]], schema: Any, errors: dict) -> list[dict[str, Any]]:
    """Each after-action checked by its kind, errors named "after.<n>.<setting>"."""
    from automation.workflow_actions import action_kind

    cleaned = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict):
            errors[f"after.{index}.type"] = [_("Choose an action.")]
            continue
        kind = action_kind(str(action.get("type") or ""))
        if kind is None:
            errors[f"after.{index}.type"] = [_("Choose an action.")]
            continue
        if action.get("delay"):
            errors[f"after.{index}.delay"] = [_("Actions after a transition run at once: leave the delay empty.")]
            continue
        try:
            config = kind.clean({k: v for k, v in action.items() if k not in ("type", "delay")}, schema, schema.org)
        except ValidationError as exc:
            for key, messages in (exc.message_dict if hasattr(exc, "error_dict") else {"type": exc.messages}).items():
                errors[f"after.{index}.{key}"] = list(messages)
            continue
        cleaned.append({"type": kind.type, **config})
    return cleaned


@transaction.atomic
def do_save_transition(blueprint: Blueprint, transition: Transition | None = None, *, actor: User,
                       **values: Any) -> Transition:
    """Add a transition to a draft, or change one of its transitions. `values`: name, from_states,
    any_state, to_state, owners, before, during, after, parallel."""
    schema = configurable(blueprint, actor)
    _draft(blueprint)
    if transition is not None and transition.blueprint_id != blueprint.pk:
        raise PermissionDenied(_("Not found."))
    if transition is None and blueprint.transitions.count() >= MAX_TRANSITIONS:
        raise RecordValidationError({"__all__": [_("At most %(max)d transitions.") % {"max": MAX_TRANSITIONS}]})
    cleaned = _clean_transition(schema, blueprint, values)
    if transition is None:
        position = (blueprint.transitions.aggregate(top=Max("position"))["top"] or 0) + 1
        return Transition.objects.create(org_id=blueprint.org_id, blueprint=blueprint, position=position, **cleaned)
    for key, value in cleaned.items():
        setattr(transition, key, value)
    transition.save()
    return transition


@transaction.atomic
def do_delete_transition(transition: Transition, *, actor: User) -> None:
    configurable(transition.blueprint, actor)
    _draft(transition.blueprint)
    transition.delete()


# --- lifecycle ----------------------------------------------------------------------------------------

@transaction.atomic
def do_publish_blueprint(blueprint: Blueprint, *, actor: User) -> Blueprint:
    """The draft becomes the version new records enter; the version published before keeps the
    records inside it (superseded). Records of the module that match and are in no blueprint
    enter it (a task, in batches)."""
    schema = configurable(blueprint, actor)
    blueprint = Blueprint.objects.select_for_update().get(pk=blueprint.pk)
    _draft(blueprint)
    errors: dict[str, list[str]] = {}
    states = _state_field(schema, blueprint.field, errors)
    if states and blueprint.start_state not in states:
        errors["start_state"] = [_("Choose one of the field's values.")]
    transitions = list(blueprint.transitions.all())
    if not transitions:
        errors["__all__"] = [_("Add at least one transition before publishing.")]
    for transition in transitions:
        if transition.to_state not in states or any(s not in states for s in transition.from_states or []):
            errors["__all__"] = [_("The transition “%(name)s” uses a value the field no longer has.")
                                 % {"name": transition.name}]
    _raise(errors)
    (Blueprint.objects.filter(org_id=blueprint.org_id, key=blueprint.key, status=Blueprint.Status.PUBLISHED)
     .update(status=Blueprint.Status.SUPERSEDED))
    blueprint.status = Blueprint.Status.PUBLISHED
    blueprint.published_by = actor
    blueprint.published_at = timezone.now()
    blueprint.save(update_fields=["status", "published_by", "published_at"])
    from ..tasks import enrol_records

    blueprint_id = blueprint.pk
    selectors.forget_active(blueprint.org_id, blueprint.module)
    transaction.on_commit(lambda: selectors.forget_active(blueprint.org_id, blueprint.module))
    transaction.on_commit(lambda: enrol_records.delay(blueprint_id))
    return blueprint


@transaction.atomic
def do_deactivate_blueprint(blueprint: Blueprint, *, actor: User) -> int:
    """Stop the blueprint (every version): its records leave it, and their state field is free
    again. Returns how many records left."""
    configurable(blueprint, actor)
    versions = Blueprint.objects.filter(org_id=blueprint.org_id, key=blueprint.key,
                                        status__in=[Blueprint.Status.PUBLISHED, Blueprint.Status.SUPERSEDED])
    ids = list(versions.values_list("pk", flat=True))
    if not ids:
        raise RecordValidationError({"__all__": [_("This blueprint is not published.")]})
    left, _detail = BlueprintRecord.objects.filter(org_id=blueprint.org_id, blueprint_id__in=ids).delete()
    Blueprint.objects.filter(pk__in=ids).update(status=Blueprint.Status.DEACTIVATED)
    selectors.forget_active(blueprint.org_id, blueprint.module)
    transaction.on_commit(lambda: selectors.forget_active(blueprint.org_id, blueprint.module))
    return left


@transaction.atomic
def do_new_version(blueprint: Blueprint, *, actor: User) -> Blueprint:
    """A draft copy of a version (with its transitions), numbered after the newest; records stay
    where they are until it is published and they are migrated."""
    configurable(blueprint, actor)
    if Blueprint.objects.filter(org_id=blueprint.org_id, key=blueprint.key, status=Blueprint.Status.DRAFT).exists():
        raise RecordValidationError({"__all__": [_("This blueprint has a draft already: edit it.")]})
    top = Blueprint.objects.filter(org_id=blueprint.org_id, key=blueprint.key).aggregate(top=Max("version"))["top"]
    copy = Blueprint.objects.create(
        org_id=blueprint.org_id, key=blueprint.key, version=(top or 0) + 1, name=blueprint.name,
        module=blueprint.module, field=blueprint.field, start_state=blueprint.start_state,
        criteria=blueprint.criteria, sla=blueprint.sla, created_by=actor)
    Transition.objects.bulk_create([
        Transition(org_id=t.org_id, blueprint=copy, key=t.key, name=t.name, any_state=t.any_state,
                   from_states=t.from_states, to_state=t.to_state, owners=t.owners, before=t.before,
                   during=t.during, after=t.after, parallel=t.parallel, position=t.position)
        for t in blueprint.transitions.order_by("position", "pk")])
    return copy
