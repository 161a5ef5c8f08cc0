"""The archive covers every table and every id: a new model with an `org`, or a new column holding
ids, fails here until the registry (backup.registry) says how to restore it."""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from backup import registry

# Integer columns named like ids that hold no id of a restored row.
NOT_ID_COLUMNS: dict[str, str] = {}


def exported() -> dict[str, registry.Table]:
    return {t.label: t for t in registry.tables()}


def test_every_model_with_an_org_is_archived_or_excluded_with_a_reason():
    tables = exported()
    missing = [registry.label(m) for m in registry.org_models(include_excluded=True)
               if registry.label(m) not in tables and registry.label(m) not in registry.EXCLUDED]
    assert missing == []
    assert all(reason.strip() for reason in registry.EXCLUDED.values())


def test_every_foreign_key_points_to_an_archived_or_shared_table():
    tables = exported()
    loose = [f"{label}.{f.name} -> {registry.label(f.related_model)}"
             for label, table in tables.items() for f in table.model._meta.concrete_fields
             if isinstance(f, models.ForeignKey)
             and registry.label(f.related_model) not in tables and registry.label(f.related_model) not in registry.GLOBAL]
    assert loose == []


def test_every_json_column_says_what_it_holds():
    unlisted = [f"{label}.{f.name}" for label, table in exported().items()
                for f in table.model._meta.concrete_fields if registry.is_json(f)
                and f"{label}.{f.name}" not in registry.JSON_RULES]
    assert unlisted == []
    kinds = {"config", "record", "changes", "criteria", "actions", "opaque", "records", "typed_default",
             "trigger_value"}
    assert {kind for kind, _paths in registry.JSON_RULES.values()} <= kinds


def test_the_json_rules_name_only_existing_columns():
    columns = {f"{label}.{f.name}" for label, table in exported().items() for f in table.model._meta.concrete_fields}
    assert sorted(set(registry.JSON_RULES) - columns) == []
    assert sorted(set(registry.ID_COLUMNS) - _attnames()) == []


def _attnames() -> set[str]:
    return {f"{label}.{f.attname}" for label, table in exported().items() for f in table.model._meta.concrete_fields}


def test_every_integer_column_named_like_an_id_is_remapped():
    unlisted = []
    for label, table in exported().items():
        ids = registry.id_columns(table.model)
        for f in table.model._meta.concrete_fields:
            integer = isinstance(f, (models.IntegerField, models.BigIntegerField)) and not f.primary_key
            named = f.attname.endswith("_id") or f.attname in ("record_id",)
            if integer and named and not isinstance(f, models.ForeignKey) and f.attname not in ids \
                    and f"{label}.{f.attname}" not in NOT_ID_COLUMNS:
                unlisted.append(f"{label}.{f.attname}")
    assert unlisted == []


def test_array_columns_are_json_rules_too():
    arrays = [f"{label}.{f.name}" for label, table in exported().items()
              for f in table.model._meta.concrete_fields if isinstance(f, ArrayField)]
    assert arrays and all(name in registry.JSON_RULES for name in arrays)


def test_the_check_catches_a_table_left_out(monkeypatch):
    real = registry.tables
    monkeypatch.setattr(registry, "tables", lambda: [t for t in real() if t.label != "crm.deal"])
    missing = [registry.label(m) for m in registry.org_models(include_excluded=True)
               if registry.label(m) not in exported() and registry.label(m) not in registry.EXCLUDED]
    assert missing == ["crm.deal"]


# Text columns named "key" that are no idempotency key of an event.
NOT_EVENT_KEYS = {
    "blueprints.blueprint.key": "a random key shared by a blueprint's versions, meaningful only with its org",
    "blueprints.transition.key": "a random key shared by a transition's copies across versions",
}


def test_every_idempotency_key_is_marked_as_restored():
    keys = {f"{label}.{f.name}" for label, table in exported().items() for f in table.model._meta.concrete_fields
            if f.name == "key" and isinstance(f, models.CharField)}
    assert keys - set(NOT_EVENT_KEYS) == registry.RESTORED_KEY_COLUMNS
