"""Criteria: JSON conditions validated against a module schema and compiled two ways,
to a `Q` for querysets and to a predicate for one record in memory.

    {"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]},
             {"any": [{"field": "amount", "op": "gt", "value": "1000"}, ...]}]}

Semantics shared by both compilations: an empty value (None, "", []) matches only
is_empty, ne and not_in; text comparisons ignore case.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Upper
from django.db.models.lookups import (
    Contains, Exact, GreaterThan, GreaterThanOrEqual, In, IsNull, LessThan, LessThanOrEqual, StartsWith,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from config.params import JSON_MAX_DEPTH, json_shape_problem

from .schema import FieldSpec

NO_VALUE_OPS = {"is_empty", "is_not_empty"}
LIST_VALUE_OPS = {"in", "not_in"}
TEXT_TYPES = {"text", "long_text", "email", "phone", "url"}
EMPTY = (None, "", [])
MAX_DEPTH = JSON_MAX_DEPTH  # JSON levels: about seven nested all/any groups
MAX_ITEMS = 2_000  # JSON values (conditions, their keys and values) in one set of criteria


class CriteriaError(ValidationError):
    pass


class NumericCast(Func):
    template = "(%(expressions)s)::numeric"
    output_field = models.DecimalField()


# A cast of text to a date or a time depends on the session's DateStyle and TimeZone, so
# PostgreSQL refuses it in an index. Stored values are ISO dates and UTC ISO times with their
# offset, read alike under every setting: these IMMUTABLE wrappers (crm migration 0009) make
# the typed value indexable (crm.field_indexes).
class JsonDate(Func):
    function = "crm_json_date"
    output_field = models.DateField()


class JsonDateTime(Func):
    function = "crm_json_timestamptz"
    output_field = models.DateTimeField()


# --- validation --------------------------------------------------------------------

def validate(criteria: dict, schema) -> dict:
    """Check every condition against the schema; return criteria with values cleaned.
    Criteria deeper or larger than `config.params.json_shape_problem` allows, or holding a NUL
    character, are refused first (checked without recursion, so no depth exhausts the stack)."""
    problem = json_shape_problem(criteria, max_depth=MAX_DEPTH, max_items=MAX_ITEMS)
    if problem:
        raise CriteriaError(_("These criteria cannot be used: %(problem)s") % {"problem": problem})
    return _validate(criteria, schema)


def _validate(criteria: dict, schema) -> dict:
    if not isinstance(criteria, dict) or len(criteria) != 1 or next(iter(criteria)) not in ("all", "any"):
        raise CriteriaError(_("Criteria must be an object with one key, “all” or “any”, holding a list."))
    joiner, items = next(iter(criteria.items()))
    if not isinstance(items, list):
        raise CriteriaError(_("“%(joiner)s” must hold a list of conditions.") % {"joiner": joiner})
    return {joiner: [_validate_item(item, schema) for item in items]}


def criteria_problem(criteria: Any, schema) -> str | None:
    """Why stored criteria can no longer be checked, or None. Rules keep their criteria as saved;
    settings pages show this next to them. A field retired since is named by its label."""
    if not criteria:
        return None
    try:
        validate(criteria, schema)
    except CriteriaError as exc:
        missing = [key for key in _field_keys(criteria) if not schema.has_field(key)]
        if not missing:
            return " ".join(exc.messages)
        labels = {d.key: d.spec().label for d in schema.module.definitions(schema.org)}
        return _("It names a field that was retired or removed: %(fields)s.") % {
            "fields": ", ".join(f"“{labels.get(key, key)}”" for key in dict.fromkeys(missing))}
    return None


def _field_keys(criteria: Any) -> list[str]:
    keys: list[str] = []
    for items in (criteria.values() if isinstance(criteria, dict) else []):
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "field" in item:
                keys.append(str(item["field"]))
            elif isinstance(item, dict):
                keys.extend(_field_keys(item))
    return keys


def _validate_item(item: Any, schema) -> dict:
    if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in ("all", "any"):
        return _validate(item, schema)
    if not isinstance(item, dict) or "field" not in item or "op" not in item:
        raise CriteriaError(_("Each condition needs a “field” and an “op”."))
    try:
        spec = schema.field(item["field"])
    except KeyError:
        raise CriteriaError(_("Unknown field “%(field)s”.") % {"field": item["field"]})
    op = item["op"]
    ftype = spec.field_type
    if op not in ftype.operators:
        raise CriteriaError(_("The operator “%(op)s” cannot be used with the %(type)s field “%(field)s”.")
                            % {"op": op, "type": ftype.label, "field": spec.label})
    value = item.get("value")
    try:
        value = _clean_value(spec, op, value)
    except ValidationError as exc:
        raise CriteriaError(_("Wrong value for “%(field)s”: %(reason)s")
                            % {"field": spec.label, "reason": " ".join(exc.messages)})
    return {"field": spec.key, "op": op, "value": value}


def _clean_value(spec: FieldSpec, op: str, value: Any) -> Any:
    if op in NO_VALUE_OPS:
        return None
    if op in ("before_days", "after_days"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError(_("a whole number of days is required."))
        try:
            return int(value)
        except ValueError:
            raise ValidationError(_("a whole number of days is required."))
    if op in LIST_VALUE_OPS:
        if not isinstance(value, list) or not value:
            raise ValidationError(_("a non-empty list of values is required."))
        return [_json(spec, _clean_one(spec, v)) for v in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise ValidationError(_("a list of two values, low and high, is required."))
        return [_json(spec, _clean_one(spec, v)) for v in value]
    if op == "contains" and spec.type == "multi_select":
        return _clean_one(spec, value)
    if op in ("contains", "starts_with"):
        if not isinstance(value, str) or not value:
            raise ValidationError(_("a text value is required."))
        return value
    return _json(spec, _clean_one(spec, value))


def _clean_one(spec: FieldSpec, value: Any) -> Any:
    if value in EMPTY:
        raise ValidationError(_("a value is required."))
    if spec.type == "multi_select":
        return spec.field_type.clean([value], spec)[0]
    return spec.field_type.clean(value, spec)


def _json(spec: FieldSpec, value: Any) -> Any:
    return spec.field_type.to_json(value)


# --- compile to Q ------------------------------------------------------------------

def to_q(criteria: dict, schema) -> Q:
    criteria = validate(criteria, schema)
    return _node_q(criteria, schema)


def _node_q(node: dict, schema) -> Q:
    """An empty Q() means "always true"; Django drops it from an OR, so `any` checks for it."""
    joiner, items = next(iter(node.items()))
    parts = [_node_q(item, schema) if "field" not in item else _condition_q(item, schema) for item in items]
    if joiner == "all":
        result = Q()
        for part in parts:
            result &= part
        return result
    if not parts:
        return Q(pk__in=[])
    if any(not part for part in parts):
        return Q()
    result = parts[0]
    for part in parts[1:]:
        result |= part
    return result


def field_expression(spec: FieldSpec):
    """The SQL expression for a field's value, typed: lists sort, filters compare and boards group
    by it, and crm.field_indexes indexes exactly it, so PostgreSQL matches the index."""
    if not spec.is_custom:
        return F(spec.orm_path)
    data_column = spec.json_column
    text = KeyTextTransform(spec.key, data_column)
    if spec.type in ("integer", "user", "lookup"):
        return Cast(text, models.BigIntegerField())
    if spec.type in ("decimal", "currency", "percent"):
        return NumericCast(text)
    if spec.type == "date":
        return JsonDate(text)
    if spec.type == "datetime":
        return JsonDateTime(text)
    if spec.type == "boolean":
        return Cast(text, models.BooleanField())
    if spec.type in ("multi_select", "file"):  # a file is {"id", "name", "size"}: asked only whether it is there
        return KeyTransform(spec.key, data_column)
    return text


def _python(spec: FieldSpec, value: Any) -> Any:
    return spec.field_type.from_json(value) if not spec.is_reference else value


def _condition_q(item: dict, schema) -> Q:
    spec = schema.field(item["field"])
    op, raw = item["op"], item["value"]
    expr = field_expression(spec)
    text = spec.type in TEXT_TYPES
    if text:
        expr = Upper(expr)
    is_null = Q(IsNull(expr, True))
    empty = is_null
    if text or spec.type == "picklist":
        empty = is_null | Q(Exact(expr, ""))
    if spec.type == "multi_select":
        empty = is_null | Q(Exact(expr, models.Value([], models.JSONField())))

    def cmp(value):
        value = _python(spec, value)
        return value.upper() if text and isinstance(value, str) else value

    if op == "is_empty":
        return empty
    if op == "is_not_empty":
        return ~empty & ~is_null
    if op == "eq":
        return Q(Exact(expr, cmp(raw)))
    if op == "ne":
        return ~Q(Exact(expr, cmp(raw))) | is_null
    if op == "in":
        return Q(In(expr, [cmp(v) for v in raw]))
    if op == "not_in":
        return ~Q(In(expr, [cmp(v) for v in raw])) | is_null
    if op == "gt":
        return Q(GreaterThan(expr, cmp(raw)))
    if op == "gte":
        return Q(GreaterThanOrEqual(expr, cmp(raw)))
    if op == "lt":
        return Q(LessThan(expr, cmp(raw)))
    if op == "lte":
        return Q(LessThanOrEqual(expr, cmp(raw)))
    if op == "between":
        return Q(GreaterThanOrEqual(expr, cmp(raw[0]))) & Q(LessThanOrEqual(expr, cmp(raw[1])))
    if op == "contains" and spec.type == "multi_select":
        return Q(**{f"{spec.json_column}__{spec.key}__contains": [raw]})
    if op == "contains":
        return Q(Contains(expr, raw.upper()))
    if op == "starts_with":
        return Q(StartsWith(expr, raw.upper()))
    if op in ("before_days", "after_days"):
        bound = _relative_bound(spec, raw)
        return Q(LessThan(expr, bound)) if op == "before_days" else Q(GreaterThan(expr, bound))
    raise CriteriaError(_("Unknown operator “%(op)s”.") % {"op": op})


def _relative_bound(spec: FieldSpec, days: int):
    if spec.type == "date":
        return timezone.localdate() + dt.timedelta(days=days)
    return timezone.now() + dt.timedelta(days=days)


# --- compile to a predicate ------------------------------------------------------

def to_predicate(criteria: dict, schema) -> Callable[[Any], bool]:
    criteria = validate(criteria, schema)
    return lambda record: _node_matches(criteria, schema, record)


def _node_matches(node: dict, schema, record: Any) -> bool:
    joiner, items = next(iter(node.items()))
    results = (
        _node_matches(item, schema, record) if "field" not in item else _condition_matches(item, schema, record)
        for item in items
    )
    return all(results) if joiner == "all" else any(results)


def _condition_matches(item: dict, schema, record: Any) -> bool:
    spec = schema.field(item["field"])
    op, raw = item["op"], item["value"]
    value = schema.get_value(record, spec) if hasattr(schema, "get_value") else spec.get_value(record)
    text = spec.type in TEXT_TYPES
    empty = value in EMPTY

    def cmp(v):
        v = _python(spec, v)
        return v.upper() if text and isinstance(v, str) else v

    current = value.upper() if text and isinstance(value, str) else value
    if op == "is_empty":
        return empty
    if op == "is_not_empty":
        return not empty
    if op in ("ne", "not_in") and value is None:
        return True
    if empty and not (text or spec.type == "picklist"):
        return False
    if value is None:
        return False
    if op == "eq":
        return current == cmp(raw)
    if op == "ne":
        return current != cmp(raw)
    if op == "in":
        return current in [cmp(v) for v in raw]
    if op == "not_in":
        return current not in [cmp(v) for v in raw]
    if op == "gt":
        return current > cmp(raw)
    if op == "gte":
        return current >= cmp(raw)
    if op == "lt":
        return current < cmp(raw)
    if op == "lte":
        return current <= cmp(raw)
    if op == "between":
        return cmp(raw[0]) <= current <= cmp(raw[1])
    if op == "contains" and spec.type == "multi_select":
        return raw in value
    if op == "contains":
        return raw.upper() in current
    if op == "starts_with":
        return current.startswith(raw.upper())
    if op in ("before_days", "after_days"):
        bound = _relative_bound(spec, raw)
        return current < bound if op == "before_days" else current > bound
    raise CriteriaError(_("Unknown operator “%(op)s”.") % {"op": op})
