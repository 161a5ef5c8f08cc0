"""Compare two organisations table by table, independently of the importer's own remapping.

Rows of each table are paired by their order of id (the restore keeps that order). A value of
the copy must equal the original's, or be the copy's id of the row that the original's id named
(found by pairing: the n-th row of a table stands for the n-th row of the original's), wherever
it stands: a column, a JSON value or a number inside a text ("f_12", "/3/7/", "rule:workflow:5")."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from django.core.files.storage import default_storage
from django.db import models

from backup import registry
from backup.export import scoped

NUMBER = re.compile(r"(\d+)")
FIELD_KEY = re.compile(r"^f_(\d+)$")
TEAM_KEY = re.compile(r"^team-(\d+)$")


def rows_of(table: registry.Table, org) -> list[dict]:
    columns = [f.attname for f in table.model._meta.concrete_fields]
    return list(scoped(table, org).order_by("pk").values(*columns))


class Pairing:
    def __init__(self, original, copy) -> None:
        self.original, self.copy = original, copy
        self.maps: dict[str, dict[int, int]] = {}
        self.rows: dict[str, tuple[list[dict], list[dict]]] = {}
        for table in registry.tables():
            before, after = rows_of(table, original), rows_of(table, copy)
            self.rows[table.label] = (before, after)
            if len(before) == len(after):
                self.maps[table.label] = {a["id"]: b["id"] for a, b in zip(before, after)}
        self.any_id = {}
        for label, mapping in self.maps.items():
            for old, new in mapping.items():
                self.any_id.setdefault(old, set()).add(new)

    def counts(self) -> dict[str, tuple[int, int]]:
        return {label: (len(a), len(b)) for label, (a, b) in self.rows.items()}

    def differences(self) -> list[str]:
        found = []
        for table in registry.tables():
            before, after = self.rows[table.label]
            for a, b in zip(before, after):
                for f in table.model._meta.concrete_fields:
                    problem = self.column(table, f, a[f.attname], b[f.attname])
                    if problem:
                        found.append(f"{table.label}.{f.attname} (row {a['id']}): {problem}")
        return found

    def column(self, table: registry.Table, f: models.Field, a: Any, b: Any) -> str | None:
        if f.primary_key:
            return None if self.maps[table.label][a] == b else f"id {a} -> {b}"
        if isinstance(f, models.ForeignKey):
            target = registry.label(f.related_model)
            if a is None or b is None:
                return None if a is None and b is None else f"{a} -> {b}"
            if target == "access.organization":
                return None if (a, b) == (self.original.pk, self.copy.pk) else f"org {a} -> {b}"
            if target in registry.GLOBAL:
                return None if a == b else f"{a} -> {b}"  # the same installation: users are reused
            return None if self.maps[target].get(a) == b else f"{target} {a} -> {b}"
        if isinstance(f, models.FileField):
            return None if _checksum(a) == _checksum(b) else f"file {a} differs from {b}"
        if f"{table.label}.{f.name}" in registry.RESTORED_KEY_COLUMNS:
            if not b.startswith(registry.RESTORED_PREFIX):
                return f"{b!r} is not marked as restored"
            b = b.removeprefix(registry.RESTORED_PREFIX)
        if table.label == "auth.group" and f.name == "name":
            return None  # each copy of an auth group gets a name of its own
        return self.value(a, b)

    def key(self, key: Any) -> Any:
        """A dict key of the original as the copy should name it (a module or field key follows its row)."""
        for pattern, table in ((FIELD_KEY, "crm.fielddefinition"), (TEAM_KEY, "teams.teammodule")):
            match = pattern.match(str(key))
            if match and int(match.group(1)) in self.maps[table]:
                return key.replace(match.group(1), str(self.maps[table][int(match.group(1))]))
        return key

    def value(self, a: Any, b: Any, key: Any = None) -> str | None:
        if isinstance(a, dict) and isinstance(b, dict):
            if len(a) != len(b):
                return f"{sorted(a)} -> {sorted(b)}"
            # JSONB orders keys by length: a remapped key ("f_9" -> "f_10") may move.
            for ka, va in a.items():
                kb = self.key(ka)
                if kb not in b:
                    return f"key {ka!r} ({kb!r}) missing from {sorted(b)}"
                problem = self.value(va, b[kb], ka)
                if problem:
                    return f"{ka}: {problem}"
            return None
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return f"{a} -> {b}"
            return next((p for p in (self.value(x, y) for x, y in zip(a, b)) if p), None)
        if a == b:
            return None
        if isinstance(a, bool) or isinstance(b, bool):
            return f"{a!r} -> {b!r}"
        if isinstance(a, int) and isinstance(b, int):
            return None if b in self.any_id.get(a, ()) else f"{a} -> {b}"
        if isinstance(a, int) and b is None and key == "id":
            return None  # an id whose table the entry does not name is dropped, its name kept
        if isinstance(a, str) and isinstance(b, str):
            parts_a, parts_b = NUMBER.split(a), NUMBER.split(b)
            if len(parts_a) == len(parts_b) and all(
                    x == y or (x.isdigit() and y.isdigit() and int(y) in self.any_id.get(int(x), ()))
                    for x, y in zip(parts_a, parts_b)):
                return None
        return f"{a!r} -> {b!r}"


def _checksum(name: str) -> str | None:
    if not name:
        return None
    with default_storage.open(name, "rb") as source:
        return hashlib.sha256(source.read()).hexdigest()
