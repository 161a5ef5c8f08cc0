"""Writes of validation rules and layout rules: create, change, delete, activate or deactivate,
reorder. Org administrators configure org modules; team managers their team modules (the
module's own `can_configure`, as for locking). Rules are looked up by org and id, so another
org's rule is "not found". Bad input raises RecordValidationError keyed by field name and
writes nothing. Every change marks the module's cached rules stale (`rule_engine.mark_changed`).
"""
from __future__ import annotations

from typing import Any, Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from access.models import User
from crm.actions import RecordValidationError
from crm.criteria import CriteriaError, validate
from crm.schema import BoundSchema

from . import rule_engine
from .configure import configurable_schema
from .rule_models import MESSAGE_MAX, NAME_MAX, LayoutRule, ValidationRule

MAX_RULES_PER_MODULE = 50


# --- checks -----------------------------------------------------------------------------------

def _own(rule: Any, actor: User) -> BoundSchema:
    if getattr(actor, "org", None) is None or rule.org_id != actor.org.pk:
        raise PermissionDenied(_("Not found."))
    return configurable_schema(actor.org, rule.module, actor)


def _text(value: Any, key: str, limit: int, errors: dict, *, required: bool = True) -> str:
    text = str(value or "").strip()
    if required and not text:
        errors[key] = [_("This field is required.")]
    elif len(text) > limit:
        errors[key] = [_("Use at most %(limit)d characters (this has %(length)d).")
                       % {"limit": limit, "length": len(text)}]
    return text


def _name(rule_model: type, schema: BoundSchema, value: Any, errors: dict, exclude_pk: int | None) -> str:
    name = _text(value, "name", NAME_MAX, errors)
    if name and "name" not in errors:
        taken = rule_model.objects.filter(org=schema.org, module=schema.key, name__iexact=name)
        if exclude_pk is not None:
            taken = taken.exclude(pk=exclude_pk)
        if taken.exists():
            errors["name"] = [_("Another rule of this module has this name.")]
    return name


def _criteria(schema: BoundSchema, criteria: Any, errors: dict) -> dict:
    """Criteria with at least one condition, valid for the module."""
    try:
        cleaned = validate(criteria if criteria is not None else {"all": []}, schema)
    except CriteriaError as exc:
        errors["criteria"] = exc.messages
        return {}
    if not next(iter(cleaned.values()), None):
        errors["criteria"] = [_("Add at least one condition.")]
    return cleaned


def _field_keys(schema: BoundSchema, keys: Iterable[Any] | None, key: str, errors: dict) -> list[str]:
    cleaned = []
    for value in keys or []:
        if not isinstance(value, str) or not schema.has_field(value) or not schema.field(value).editable:
            errors[key] = [_("Unknown field “%(field)s”.") % {"field": value}]
            return []
        cleaned.append(schema.field(value).key)
    return sorted(set(cleaned))


def _raise(errors: dict) -> None:
    if errors:
        raise RecordValidationError(errors)


def _next_position(rule_model: type, schema: BoundSchema) -> int:
    rules = rule_model.objects.filter(org=schema.org, module=schema.key)
    if rules.count() >= MAX_RULES_PER_MODULE:
        raise RecordValidationError({"__all__": [
            _("A module can have at most %(max)d rules of a kind. Delete or change one instead.")
            % {"max": MAX_RULES_PER_MODULE}]})
    return (rules.aggregate(last=Max("position"))["last"] or 0) + 1


# --- validation rules ----------------------------------------------------------------------------

def _validation_values(schema: BoundSchema, *, name: Any, criteria: Any, mode: Any, message_en: Any,
                       message_zh: Any, field: Any, exclude_pk: int | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values = {"name": _name(ValidationRule, schema, name, errors, exclude_pk),
              "criteria": _criteria(schema, criteria, errors)}
    if mode not in ValidationRule.Mode.values:
        errors["mode"] = [_("Choose from the list.")]
    values["mode"] = mode
    values["message_en"] = _text(message_en, "message_en", MESSAGE_MAX, errors)
    values["message_zh"] = _text(message_zh, "message_zh", MESSAGE_MAX, errors, required=False)
    keys = _field_keys(schema, [field] if field else [], "field", errors)
    values["field"] = keys[0] if keys else ""
    _raise(errors)
    return values


@transaction.atomic
def do_create_validation_rule(org: Any, module_key: str, *, name: str, criteria: dict | None, message_en: str,
                              actor: User, mode: str = ValidationRule.Mode.MUST_NOT_MATCH, message_zh: str = "",
                              field: str = "", active: bool = True) -> ValidationRule:
    """Add a validation rule, last in its module's order. From now on every create and update
    of the module's records is checked against it (the records already stored are not)."""
    schema = configurable_schema(org, module_key, actor)
    values = _validation_values(schema, name=name, criteria=criteria, mode=mode, message_en=message_en,
                                message_zh=message_zh, field=field)
    rule = ValidationRule.objects.create(org=org, module=schema.key, active=bool(active),
                                         position=_next_position(ValidationRule, schema), **values)
    rule_engine.mark_changed(org.pk, schema.key)
    return rule


@transaction.atomic
def do_update_validation_rule(rule: ValidationRule, *, name: str, criteria: dict | None, message_en: str,
                              actor: User, mode: str = ValidationRule.Mode.MUST_NOT_MATCH, message_zh: str = "",
                              field: str = "", active: bool | None = None) -> ValidationRule:
    schema = _own(rule, actor)
    values = _validation_values(schema, name=name, criteria=criteria, mode=mode, message_en=message_en,
                                message_zh=message_zh, field=field, exclude_pk=rule.pk)
    for key, value in values.items():
        setattr(rule, key, value)
    if active is not None:
        rule.active = bool(active)
    rule.save()
    rule_engine.mark_changed(rule.org_id, rule.module)
    return rule


# --- layout rules ------------------------------------------------------------------------------

def _layout_values(schema: BoundSchema, *, name: Any, criteria: Any, show_fields: Any, hide_fields: Any,
                   require_fields: Any, exclude_pk: int | None = None) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values = {"name": _name(LayoutRule, schema, name, errors, exclude_pk),
              "criteria": _criteria(schema, criteria, errors),
              "show_fields": _field_keys(schema, show_fields, "show_fields", errors),
              "hide_fields": _field_keys(schema, hide_fields, "hide_fields", errors),
              "require_fields": _field_keys(schema, require_fields, "require_fields", errors)}
    if not errors and not (values["show_fields"] or values["hide_fields"] or values["require_fields"]):
        errors["show_fields"] = [_("Choose at least one field to show, hide or require.")]
    both = set(values["show_fields"]) & set(values["hide_fields"])
    if both:
        errors["hide_fields"] = [_("A field cannot be both shown and hidden: %(fields)s.")
                                 % {"fields": _labels(schema, both)}]
    hidden_required = set(values["hide_fields"]) & set(values["require_fields"])
    if hidden_required:
        errors["require_fields"] = [_("A hidden field cannot be required: %(fields)s.")
                                    % {"fields": _labels(schema, hidden_required)}]
    # A field every record needs would be hidden with no way to fill it in.
    always_required = {key for key in set(values["show_fields"]) | set(values["hide_fields"])
                       if schema.field(key).required}
    if always_required:
        key = "hide_fields" if always_required & set(values["hide_fields"]) else "show_fields"
        errors.setdefault(key, [_("A required field cannot be hidden: %(fields)s.")
                                % {"fields": _labels(schema, always_required)}])
    _raise(errors)
    return values


def _labels(schema: BoundSchema, keys: Iterable[str]) -> str:
    return ", ".join(schema.field(key).label for key in sorted(keys))


@transaction.atomic
def do_create_layout_rule(org: Any, module_key: str, *, name: str, criteria: dict | None, actor: User,
                          show_fields: Iterable[str] = (), hide_fields: Iterable[str] = (),
                          require_fields: Iterable[str] = (), active: bool = True) -> LayoutRule:
    """Add a layout rule: while a record matches `criteria`, its form shows `show_fields` (hidden
    otherwise), hides `hide_fields` and requires `require_fields` (on every write path)."""
    schema = configurable_schema(org, module_key, actor)
    values = _layout_values(schema, name=name, criteria=criteria, show_fields=show_fields, hide_fields=hide_fields,
                            require_fields=require_fields)
    rule = LayoutRule.objects.create(org=org, module=schema.key, active=bool(active),
                                     position=_next_position(LayoutRule, schema), **values)
    rule_engine.mark_changed(org.pk, schema.key)
    return rule


@transaction.atomic
def do_update_layout_rule(rule: LayoutRule, *, name: str, criteria: dict | None, actor: User,
                          show_fields: Iterable[str] = (), hide_fields: Iterable[str] = (),
                          require_fields: Iterable[str] = (), active: bool | None = None) -> LayoutRule:
    schema = _own(rule, actor)
    values = _layout_values(schema, name=name, criteria=criteria, show_fields=show_fields, hide_fields=hide_fields,
                            require_fields=require_fields, exclude_pk=rule.pk)
    for key, value in values.items():
        setattr(rule, key, value)
    if active is not None:
        rule.active = bool(active)
    rule.save()
    rule_engine.mark_changed(rule.org_id, rule.module)
    return rule


# --- both kinds: delete, activate, reorder ---------------------------------------------------------

@transaction.atomic
def _delete(rule: Any, actor: User) -> None:
    _own(rule, actor)
    rule.delete()
    rule_engine.mark_changed(rule.org_id, rule.module)


@transaction.atomic
def _set_active(rule: Any, active: bool, actor: User) -> Any:
    _own(rule, actor)
    rule.active = bool(active)
    rule.save(update_fields=["active", "updated_at"])
    rule_engine.mark_changed(rule.org_id, rule.module)
    return rule


@transaction.atomic
def _move(rule: Any, step: int, actor: User) -> Any:
    """Swap the rule with its neighbour before (step -1) or after (+1); rows locked in pk order."""
    _own(rule, actor)
    if step not in (-1, 1):
        raise RecordValidationError({"step": [_("Move a rule up or down by one.")]})
    rule_model = type(rule)
    rows = list(rule_model.objects.filter(org_id=rule.org_id, module=rule.module).order_by("pk").select_for_update())
    ordered = sorted(rows, key=lambda r: (r.position, r.pk))
    index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
    other = index + step
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, row in enumerate(ordered, start=1):
        if row.position != position:
            row.position = position
            row.save(update_fields=["position"])
    rule_engine.mark_changed(rule.org_id, rule.module)
    return next(r for r in ordered if r.pk == rule.pk)


def do_delete_validation_rule(rule: ValidationRule, *, actor: User) -> None:
    _delete(rule, actor)


def do_set_validation_rule_active(rule: ValidationRule, active: bool, *, actor: User) -> ValidationRule:
    return _set_active(rule, active, actor)


def do_move_validation_rule(rule: ValidationRule, step: int, *, actor: User) -> ValidationRule:
    return _move(rule, step, actor)


def do_delete_layout_rule(rule: LayoutRule, *, actor: User) -> None:
    _delete(rule, actor)


def do_set_layout_rule_active(rule: LayoutRule, active: bool, *, actor: User) -> LayoutRule:
    return _set_active(rule, active, actor)


def do_move_layout_rule(rule: LayoutRule, step: int, *, actor: User) -> LayoutRule:
    return _move(rule, step, actor)
