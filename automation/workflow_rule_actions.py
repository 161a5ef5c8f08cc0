"""The only writers of workflow rules: create, change, delete, activate, reorder.

Only whoever may configure the module (org administrators; team managers for their team
modules) may; anyone else is refused like a missing module. Every value is checked here, by
name (`trigger_fields`, `criteria`, `actions.<n>.<setting>`), so bad input writes nothing."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from access.models import User
from crm.criteria import CriteriaError, validate

from .configure import configurable_schema
from .workflow_actions import action_kind
from .workflow_models import WorkflowRule

MAX_RULES_PER_MODULE = 100
MAX_ACTIONS = 10
MAX_DELAY_DAYS = 3650


def _own(rule: WorkflowRule, actor: User) -> Any:
    return configurable_schema(rule.org, rule.module, actor)


def clean_actions(actions: Any, schema: Any, org: Any) -> list[dict[str, Any]]:
    """Each action's settings cleaned by its kind; errors named "actions.<n>.<setting>"."""
    if not isinstance(actions, list) or not actions:
        raise ValidationError({"actions": [_("Add at least one action.")]})
    if len(actions) > MAX_ACTIONS:
        raise ValidationError({"actions": [_("A rule can have at most %(max)d actions.") % {"max": MAX_ACTIONS}]})
    errors: dict[str, list[str]] = {}
    cleaned = []
    for index, action in enumerate(actions):
        prefix = f"actions.{index}"
        kind = action_kind(str(action.get("type") or "")) if isinstance(action, dict) else None
        if kind is None:
            errors[f"{prefix}.type"] = [_("Choose what the action does.")]
            continue
        try:
            delay = _clean_delay(action.get("delay"))
        except ValidationError as exc:
            errors[f"{prefix}.delay"] = exc.messages
            continue
        settings = {key: value for key, value in action.items() if key not in ("type", "delay")}
        try:
            config = kind.clean(settings, schema, org)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for key, messages in exc.message_dict.items():
                    errors[f"{prefix}.{key}"] = messages
            else:
                errors[f"{prefix}.settings"] = exc.messages
            continue
        cleaned.append({"type": kind.type, **config, "delay": delay})
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_delay(delay: Any) -> dict[str, Any] | None:
    if not delay:
        return None
    if not isinstance(delay, dict):
        raise ValidationError(_("Give the delay as a number of hours or days."))
    try:
        amount = int(delay.get("amount") or 0)
    except (TypeError, ValueError):
        raise ValidationError(_("Enter a whole number."))
    unit = delay.get("unit") or "days"
    if unit not in ("hours", "days"):
        raise ValidationError(_("Choose hours or days."))
    if amount < 0 or (amount > MAX_DELAY_DAYS * (24 if unit == "hours" else 1)):
        raise ValidationError(_("Between 0 and %(max)d days.") % {"max": MAX_DELAY_DAYS})
    return {"amount": amount, "unit": unit} if amount else None


def clean_rule(schema: Any, org: Any, *, name: str, trigger: str, criteria: Any, actions: Any,
               trigger_fields: Any = (), trigger_value: Any = None, date_field: str = "", date_before: bool = True,
               date_amount: Any = 0, date_unit: str = "days", repeat: str = "",
               once_per_record: bool = False) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Give the rule a name.")]
    elif len(name) > 100:
        errors["name"] = [_("At most %(max)d characters.") % {"max": 100}]
    if trigger not in WorkflowRule.Trigger.values:
        errors["trigger"] = [_("Choose when the rule runs.")]
    values: dict[str, Any] = {"name": name, "trigger": trigger, "once_per_record": bool(once_per_record),
                              "trigger_fields": [], "trigger_value": None, "date_field": "", "date_before": True,
                              "date_amount": 0, "date_unit": "days", "repeat": ""}
    if trigger == WorkflowRule.Trigger.FIELD_CHANGE:
        keys = [str(key) for key in (trigger_fields or [])]
        unknown = [key for key in keys if not schema.has_field(key)]
        if not keys or unknown:
            errors["trigger_fields"] = [_("Choose the fields whose change runs the rule.")]
        else:
            values["trigger_fields"] = [schema.field(key).key for key in dict.fromkeys(keys)]
            if trigger_value not in (None, ""):
                if len(keys) != 1:
                    errors["trigger_value"] = [_("A value can be given for one chosen field only.")]
                else:
                    spec = schema.field(keys[0])
                    try:
                        values["trigger_value"] = spec.field_type.to_json(spec.field_type.clean(trigger_value, spec))
                    except ValidationError as exc:
                        errors["trigger_value"] = exc.messages
    if trigger == WorkflowRule.Trigger.DATE:
        if not date_field or not schema.has_field(date_field) or schema.field(date_field).type not in ("date",
                                                                                                       "datetime"):
            errors["date_field"] = [_("Choose a date or date-and-time field.")]
        else:
            values["date_field"] = schema.field(date_field).key
        try:
            amount = int(date_amount or 0)
        except (TypeError, ValueError):
            amount = -1
        limit = MAX_DELAY_DAYS * (24 if date_unit == "hours" else 1)
        if not 0 <= amount <= limit:
            errors["date_amount"] = [_("Between 0 and %(max)d days.") % {"max": MAX_DELAY_DAYS}]
        if date_unit not in WorkflowRule.Unit.values:
            errors["date_unit"] = [_("Choose hours or days.")]
        if repeat not in WorkflowRule.Repeat.values:
            errors["repeat"] = [_("Choose how often the rule repeats.")]
        values.update(date_before=bool(date_before), date_amount=max(amount, 0), date_unit=date_unit,
                      repeat=repeat or "")
    values["criteria"] = None
    if criteria:
        try:
            checked = validate(criteria, schema)
            values["criteria"] = checked if next(iter(checked.values())) else None
        except CriteriaError as exc:
            errors["criteria"] = exc.messages
    try:
        values["actions"] = clean_actions(actions, schema, org)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def do_create_workflow_rule(org: Any, module_key: str, *, actor: User, **values: Any) -> WorkflowRule:
    """A new rule, last in the module's order and inactive until activated (after a dry run)."""
    schema = configurable_schema(org, module_key, actor)
    cleaned = clean_rule(schema, org, **values)
    rules = WorkflowRule.objects.select_for_update().filter(org=org, module=schema.key)
    if rules.count() >= MAX_RULES_PER_MODULE:
        raise ValidationError({"__all__": [_("A module can have at most %(max)d workflow rules.")
                                           % {"max": MAX_RULES_PER_MODULE}]})
    last = rules.aggregate(last=Max("position"))["last"] or 0
    return WorkflowRule.objects.create(org=org, module=schema.key, position=last + 1, created_by=actor, **cleaned)


@transaction.atomic
def do_update_workflow_rule(rule: WorkflowRule, *, actor: User, **values: Any) -> WorkflowRule:
    """Change a rule. An active rule keeps running with the new settings, from now on as the
    person who changed it (a rule never acts with more rights than whoever set what it does)."""
    schema = _own(rule, actor)
    cleaned = clean_rule(schema, rule.org, **values)
    rule = WorkflowRule.objects.select_for_update().get(pk=rule.pk)
    for key, value in cleaned.items():
        setattr(rule, key, value)
    if rule.active:
        rule.run_as = actor
    rule.save()
    return rule


@transaction.atomic
def do_set_workflow_rule_active(rule: WorkflowRule, active: bool, *, actor: User) -> WorkflowRule:
    """Activate (the rule then acts as `actor`, from now on: dates that came due before are not
    fired) or deactivate. Activation checks the settings again (a field may be gone since)."""
    schema = _own(rule, actor)
    rule = WorkflowRule.objects.select_for_update().get(pk=rule.pk)
    if active:
        clean_rule(schema, rule.org, name=rule.name, trigger=rule.trigger, criteria=rule.criteria,
                   actions=rule.actions, trigger_fields=rule.trigger_fields, trigger_value=rule.trigger_value,
                   date_field=rule.date_field, date_before=rule.date_before, date_amount=rule.date_amount,
                   date_unit=rule.date_unit, repeat=rule.repeat, once_per_record=rule.once_per_record)
        now = timezone.now()
        rule.active, rule.run_as, rule.activated_at, rule.scanned_until = True, actor, now, now
    else:
        rule.active = False
    rule.save(update_fields=["active", "run_as", "activated_at", "scanned_until", "updated_at"])
    return rule


@transaction.atomic
def do_delete_workflow_rule(rule: WorkflowRule, *, actor: User) -> None:
    """Delete a rule with its pending scheduled actions; its run log stays (by id)."""
    _own(rule, actor)
    WorkflowRule.objects.filter(pk=rule.pk).delete()


@transaction.atomic
def do_move_workflow_rule(rule: WorkflowRule, offset: int, *, actor: User) -> None:
    """Move a rule up (-1) or down (+1) in its module's order."""
    _own(rule, actor)
    rules = list(WorkflowRule.objects.select_for_update().filter(org=rule.org, module=rule.module)
                 .order_by("position", "pk"))
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    other = index + (1 if offset > 0 else -1)
    if not 0 <= other < len(rules):
        return
    rules[index], rules[other] = rules[other], rules[index]
    for position, row in enumerate(rules, start=1):
        if row.position != position:
            WorkflowRule.objects.filter(pk=row.pk).update(position=position)
