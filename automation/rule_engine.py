"""Validation and layout rules at work: a module's active rules as cached plain data, the guard
every record write runs (`rules_guard`, registered with the decision point), and the record
form's layout (`rule_layout`, registered with crm's form layouts).

A save reads its module's rules from the shared cache (one round trip, none when the bound
schema already holds them), under a generation per (org, module) that the rule actions bump.
Criteria are compiled once per process and schema shape, then evaluated in memory on the record
with the new values applied: no query per rule or per field.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _

from access import generations
from access.decisions import GuardRefusal, WriteContext
from crm.fieldspec import pick_label

TTL = 24 * 3600
MUST_MATCH = "must_match"
EMPTY = (None, "", [])


@dataclass(frozen=True)
class ValidationSpec:
    id: int
    name: str
    criteria: dict
    mode: str
    message_en: str
    message_zh: str
    field: str

    @property
    def message(self) -> str:
        """The message in the reader's language."""
        return pick_label(self.message_en, self.message_zh)


@dataclass(frozen=True)
class LayoutSpec:
    id: int
    name: str
    criteria: dict
    show: frozenset
    hide: frozenset
    require: frozenset


@dataclass(frozen=True)
class RuleSet:
    """A module's active rules, in their order."""

    validation: tuple[ValidationSpec, ...] = ()
    layout: tuple[LayoutSpec, ...] = ()

    @property
    def controlled(self) -> tuple[frozenset, frozenset]:
        """(fields whose visibility the layout rules change, fields they may make required)."""
        shown_or_hidden: set[str] = set()
        required: set[str] = set()
        for rule in self.layout:
            shown_or_hidden |= rule.show | rule.hide
            required |= rule.require
        return frozenset(shown_or_hidden), frozenset(required)


NONE = RuleSet()


# --- loading and caching ---------------------------------------------------------------------

def scope(org_id: int, module: str) -> str:
    return f"automation:rules:gen:{org_id}:{module}"


def load(org_id: int, module: str) -> RuleSet:
    """The active rules from the database: two queries."""
    from .rule_models import LayoutRule, ValidationRule

    validation = tuple(
        ValidationSpec(r.pk, r.name, r.criteria, r.mode, r.message_en, r.message_zh, r.field)
        for r in ValidationRule.objects.filter(org_id=org_id, module=module, active=True).order_by("position", "pk"))
    layout = tuple(
        LayoutSpec(r.pk, r.name, r.criteria, frozenset(r.show_fields), frozenset(r.hide_fields),
                   frozenset(r.require_fields))
        for r in LayoutRule.objects.filter(org_id=org_id, module=module, active=True).order_by("position", "pk"))
    return RuleSet(validation, layout) if validation or layout else NONE


def rules_for(schema: Any) -> RuleSet:
    """The module's active rules: kept on the bound schema (one page or one save) while nothing
    changed in this process, else one cache round trip, else a load."""
    memo = schema.__dict__.get("_automation_rules")
    if memo is not None and memo[0] == generations.epoch():
        return memo[1]
    org_id, module = schema.org.pk, schema.key
    found = generations.cached(f"automation:rules:{org_id}:{module}", [scope(org_id, module)],
                               lambda: load(org_id, module), timeout=TTL)
    schema.__dict__["_automation_rules"] = (generations.epoch(), found)
    return found


def mark_changed(org_id: int, module: str) -> None:
    """Called by the rule actions inside their transaction."""
    generations.mark_changed(scope(org_id, module))


# --- criteria in memory ----------------------------------------------------------------------

# Compiled predicates, shared by the process, keyed by what compilation depends on: the module's
# fields (key, type, storage, options) and the criteria.
_compiled: dict[tuple, Callable[[Any], bool] | None] = {}
_COMPILED_MAX = 2048


def _fingerprint(schema: Any) -> tuple:
    found = schema.__dict__.get("_automation_fingerprint")
    if found is None:
        found = (schema.org.pk, schema.key, tuple((f.key, f.type, f.json_column, tuple(c.value for c in f.options))
                                                 for f in schema.fields))
        schema.__dict__["_automation_fingerprint"] = found
    return found


def matches(criteria: dict, schema: Any, record: Any) -> bool | None:
    """Whether the record matches; None when the criteria no longer fit the schema (a field was
    deleted): such a rule is skipped rather than blocking every save."""
    from crm.criteria import CriteriaError, to_predicate

    key = (_fingerprint(schema), repr(criteria))
    if key not in _compiled:
        if len(_compiled) >= _COMPILED_MAX:
            _compiled.clear()
        try:
            _compiled[key] = to_predicate(criteria or {"all": []}, schema)
        except CriteriaError:
            _compiled[key] = None
    test = _compiled[key]
    return None if test is None else bool(test(record))


def with_values(schema: Any, record: Any, values: dict[str, Any]) -> Any:
    """A copy of the record with `values` applied (the stored record is left as it is)."""
    clone = copy.copy(record)
    clone._state = copy.copy(record._state)
    clone._state.fields_cache = dict(record._state.fields_cache)
    for key, value in values.items():
        if schema.has_field(key):
            schema.field(key).set_value(clone, value)
    return clone


def layout_state(rule_set: RuleSet, schema: Any, record: Any) -> tuple[set[str], set[str]]:
    """(hidden field keys, required field keys) for the record's values. A field some rule shows
    is hidden while no matching rule shows it; hiding wins over showing; a hidden field is never
    required."""
    hidden: set[str] = set()
    for rule in rule_set.layout:
        hidden |= rule.show
    hide: set[str] = set()
    required: set[str] = set()
    for rule in rule_set.layout:
        if matches(rule.criteria, schema, record):
            hidden -= rule.show
            hide |= rule.hide
            required |= rule.require
    hidden |= hide
    return hidden, required - hidden


# --- the guard ---------------------------------------------------------------------------------

def rules_guard(context: WriteContext) -> None:
    """Refuse a create or update that leaves a field a layout rule requires empty, or that breaks
    a validation rule, naming the field the message belongs to. Not logged on the timeline: it
    is bad input, like a missing required value."""
    if context.action not in ("create", "update") or (context.action == "update" and not context.changes):
        return
    schema = context.module
    rule_set = rules_for(schema)
    if rule_set is NONE or not (rule_set.validation or rule_set.layout):
        return
    record = context.record if context.action == "create" else with_values(schema, context.record, context.changes)
    if rule_set.layout:
        _hidden, required = layout_state(rule_set, schema, record)
        for spec in schema.fields:
            if spec.key in required and spec.get_value(record) in EMPTY:
                raise GuardRefusal(_("“%(field)s” is required.") % {"field": spec.label}, guard="layout_rules",
                                   field=spec.key, log=False)
    for rule in rule_set.validation:
        matched = matches(rule.criteria, schema, record)
        if matched is None:
            continue
        if matched != (rule.mode == MUST_MATCH):
            raise GuardRefusal(rule.message, guard="validation_rules", field=rule.field, log=False)


# --- the record form's layout ------------------------------------------------------------------

class RuleLayout:
    """What crm's record form asks (`crm.forms.register_form_layout`): which fields are hidden and
    required for the values in the form, and where to ask again when a value changes."""

    def __init__(self, actor: Any, schema: Any, record: Any, rule_set: RuleSet) -> None:
        self.actor, self.schema, self.record, self.rule_set = actor, schema, record, rule_set
        self.controlled = rule_set.controlled
        if record is None:
            self.url = reverse("automation:layout_state", args=[schema.key])
        else:
            self.url = reverse("automation:layout_state_record", args=[schema.key, record.pk])

    def base_record(self) -> Any:
        if self.record is not None:
            return self.record
        record = self.schema.new_record(self.schema.org, owner_id=self.actor.pk)
        for spec in self.schema.editable_fields:
            if spec.default not in (None, ""):
                try:
                    spec.set_value(record, spec.field_type.clean(spec.default, spec))
                except ValidationError:
                    pass
        return record

    def state(self, data: Any, offered: list[str]) -> tuple[set[str], set[str]]:
        """(hidden, required) for the posted `data` of the `offered` fields (None: the stored or
        default values). A value that does not parse counts as empty here; the form says why."""
        record = self.base_record()
        if data is not None:
            values = {}
            for key in offered:
                spec = self.schema.field(key)
                if spec.type == "file":  # uploads are not posted here: the stored file counts
                    continue
                raw = data.getlist(key) if spec.type == "multi_select" and hasattr(data, "getlist") else data.get(key)
                try:
                    values[spec.key] = spec.field_type.clean(raw, spec)
                except ValidationError:
                    values[spec.key] = None
            record = with_values(self.schema, record, values)
        return layout_state(self.rule_set, self.schema, record)


def rule_layout(actor: Any, schema: Any, record: Any) -> RuleLayout | None:
    rule_set = rules_for(schema)
    return RuleLayout(actor, schema, record, rule_set) if rule_set.layout else None


def register() -> None:
    """Plug the rules into the write pipeline and the record form (AutomationConfig.ready)."""
    from access.decisions import register_guard
    from crm.forms import register_form_layout

    register_guard(rules_guard)
    register_form_layout(rule_layout)
