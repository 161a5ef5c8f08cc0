"""Turn a row of the archive into a row of the new organisation: every id it holds, in a column,
a module or field key, or deep inside JSON, is replaced by the id of the restored row.

New ids are reserved before any row is written (backup.restore), so every reference can be
rewritten at once, whatever the order of the tables. An IdMap keeps the old ids of one table,
sorted, next to their new ids: 16 bytes a row."""
from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from typing import Any, Callable

from django.db import models

from . import registry

TEAM_KEY = re.compile(r"^team-(\d+)$")
FIELD_KEY = re.compile(r"^f_(\d+)$")
MERGE = re.compile(r"\{\{[^{}]*\}\}")
MERGE_FIELD = re.compile(r"\bf_(\d+)\b")
FIELD_MODEL = "crm.fielddefinition"
TEAM_MODULE_MODEL = "teams.teammodule"
TEAM_RECORD_MODEL = "teams.teamrecord"


class IdMap:
    """Old ids of one table (sorted) and the new id reserved for each."""

    def __init__(self) -> None:
        self.old = array("q")
        self.new = array("q")

    def add_old(self, old_id: int) -> None:
        self.old.append(old_id)

    def finish(self, new_ids: list[int]) -> None:
        if any(self.old[i] >= self.old[i + 1] for i in range(len(self.old) - 1)):
            self.old = array("q", sorted(set(self.old)))
        self.new = array("q", new_ids)

    def __len__(self) -> int:
        return len(self.old)

    def get(self, old_id: Any) -> int | None:
        try:
            old_id = int(old_id)
        except (TypeError, ValueError):
            return None
        at = bisect_left(self.old, old_id)
        if at < len(self.old) and self.old[at] == old_id:
            return self.new[at]
        return None


class MissingReference(Exception):
    def __init__(self, column: str, target: str, value: Any) -> None:
        super().__init__(column, target, value)
        self.column, self.target, self.value = column, target, value


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


class Remapper:
    def __init__(self, *, org_id: int, maps: dict[str, IdMap], users: dict[int, int], content_types: dict[int, int],
                 content_type_labels: dict[int, str], permissions: dict[int, int],
                 fields: dict[int, tuple[str, str]]) -> None:
        self.org_id = org_id
        self.maps = maps
        self.users = users
        self.content_types = content_types
        self.content_type_labels = content_type_labels
        self.permissions = permissions
        self.fields = fields  # old field definition id -> (type, target module key, old)
        self.core = _core_fields()

    # --- single ids ---------------------------------------------------------------------------
    def id(self, target: str, old: Any) -> int | None:
        if target == registry.USER or target == "user":
            number = _int(old)
            return self.users.get(number) if number is not None else None
        table = self.maps.get(target)
        return table.get(old) if table is not None else None

    def module_model(self, module_key: str) -> str | None:
        if TEAM_KEY.match(module_key or ""):
            return TEAM_RECORD_MODEL
        from crm.modules import ORG_MODULES

        schema = ORG_MODULES.get(module_key)
        return registry.label(schema.model) if schema is not None else None

    def record(self, module_key: str, old: Any) -> int | None:
        model = self.module_model(module_key)
        return self.id(model, old) if model else None

    # --- keys -----------------------------------------------------------------------------------
    def key(self, value: Any) -> Any:
        """A module key or field key of the archive, as the new organisation knows it."""
        if not isinstance(value, str):
            return value
        match = TEAM_KEY.match(value)
        if match:
            new = self.id(TEAM_MODULE_MODEL, match.group(1))
            return f"team-{new}" if new is not None else value
        match = FIELD_KEY.match(value)
        if match:
            new = self.id(FIELD_MODEL, match.group(1))
            return f"f_{new}" if new is not None else value
        return value

    def merge_text(self, text: Any) -> Any:
        """Merge fields inside a text ("Dear {{f_12}}") follow their field."""
        if not isinstance(text, str) or "{{" not in text:
            return text

        def field(match: re.Match) -> str:
            new = self.id(FIELD_MODEL, match.group(1))
            return f"f_{new}" if new is not None else match.group(0)

        return MERGE.sub(lambda m: MERGE_FIELD.sub(field, m.group(0)), text)

    def config(self, value: Any) -> Any:
        """Keys rewritten wherever they stand whole: dict keys, texts, in lists."""
        if isinstance(value, dict):
            return {self.key(k): self.config(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.config(v) for v in value]
        return self.key(value)

    # --- values typed by their field -----------------------------------------------------------
    def field_spec(self, key: Any) -> tuple[str, str] | None:
        if not isinstance(key, str):
            return None
        match = FIELD_KEY.match(key)
        if match:
            return self.fields.get(int(match.group(1)))
        return self.core.get(key)

    def typed(self, spec: tuple[str, str] | None, value: Any) -> Any:
        """A field's value with the ids of users, records and files it holds remapped."""
        if spec is None or value is None:
            return value
        kind, target = spec
        model = {"user": "user", "file": "crm.attachment"}.get(kind)
        if kind == "lookup":
            model = self.module_model(target)
        if model is None:
            return value
        if isinstance(value, list):
            return [n for n in (self._typed_one(model, v) for v in value) if n is not None]
        return self._typed_one(model, value)

    def _typed_one(self, model: str, value: Any) -> Any:
        if isinstance(value, dict) and "id" in value:  # a file field's value: {"id", "name", "size"}
            return dict(value, id=self._typed_one(model, value["id"]))
        number = _int(value)
        if number is None:
            return value
        new = self.id(model, number)
        if new is None:
            return None
        return str(new) if isinstance(value, str) else new

    def record_values(self, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return {self.key(k): self.typed(self.field_spec(k), v) for k, v in values.items()}

    def criteria(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.criteria(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "field" in value:
            spec = self.field_spec(value["field"])
            out = dict(value, field=self.key(value["field"]))
            if "value" in value:
                out["value"] = self.typed(spec, value["value"])
            return out
        return {k: self.criteria(v) for k, v in value.items()}

    CHANGE_TARGETS = {"note": "crm.note", "attachment": "crm.attachment"}

    def changes(self, value: Any) -> Any:
        """A timeline entry's changes: {key: [old, new]} (or a single value)."""
        if not isinstance(value, dict):
            return value
        out = {}
        for key, pair in value.items():
            if key in self.CHANGE_TARGETS:
                convert: Callable[[Any], Any] = lambda v, t=self.CHANGE_TARGETS[key]: self._typed_one(t, v)  # noqa: E731
            elif key == "mentions":
                convert = lambda v: self.typed(("user", ""), v)  # noqa: E731
            elif key == "rule":
                convert = lambda v: self._id_in(v, "locking.lockrule")  # noqa: E731
            elif key in ("related", "shared_with"):
                # The id's table is not named beside it: keep the name, drop an id that would mislead.
                convert = lambda v: dict(v, id=None) if isinstance(v, dict) and "id" in v else v  # noqa: E731
            else:
                spec = self.field_spec(key)
                convert = lambda v, s=spec: self.typed(s, v)  # noqa: E731
            if isinstance(pair, list) and len(pair) == 2:
                out[self.key(key)] = [convert(pair[0]), convert(pair[1])]
            else:
                out[self.key(key)] = convert(pair)
        return out

    def _id_in(self, value: Any, target: str) -> Any:
        if isinstance(value, dict) and "id" in value:
            return dict(value, id=self._typed_one(target, value["id"]))
        return value

    def actions(self, value: Any) -> Any:
        """Automation action settings (automation.workflow_actions_builtin, mail_kind, webhook_kind)."""
        if isinstance(value, list):
            return [self.actions(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = dict(value)
        for key, target in (("users", "user"), ("roles", "access.orgrole"), ("groups", "access.group")):
            if isinstance(value.get(key), list):
                out[key] = self._ids(target, value[key])
        if isinstance(value.get("to"), dict):
            to = dict(value["to"])
            if isinstance(to.get("users"), list):
                to["users"] = self._ids("user", to["users"])
            to["field"] = self.key(to.get("field", ""))
            out["to"] = to
        if "template" in value:
            out["template"] = self._typed_one("automation.emailtemplate", value["template"])
        if "rule" in value:
            out["rule"] = self._typed_one("automation.assignmentrule", value["rule"])
        if isinstance(value.get("owner"), str) and value["owner"].isdigit():
            out["owner"] = self._typed_one("user", value["owner"])
        if "field" in value:
            out["field"] = self.key(value["field"])
            if "value" in value:
                out["value"] = self.typed(self.field_spec(value["field"]), value["value"])
        for key in ("module", "link_field"):
            if key in value:
                out[key] = self.key(value[key])
        if isinstance(value.get("values"), dict):
            out["values"] = {self.key(k): self.merge_text(v) for k, v in value["values"].items()}
        for key in ("message", "subject"):
            if key in value:
                out[key] = self.merge_text(value[key])
        return out

    def _ids(self, target: str, values: list) -> list:
        return [n for n in (self._typed_one(target, v) for v in values) if n is not None]

    def path(self, value: Any, path: str, target: str) -> Any:
        """The ids at `path` ("users[]", "*.users[]", "[].users[]", "*.by") remapped."""
        return _walk(value, [p for p in path.split(".") if p], lambda v: self._typed_one(target, v))


def _walk(value: Any, parts: list[str], convert: Callable[[Any], Any]) -> Any:
    if not parts:
        return convert(value)
    part, rest = parts[0], parts[1:]
    many = part.endswith("[]")
    name = part[:-2] if many else part

    def after(v: Any) -> Any:
        if many:
            if not isinstance(v, list):
                return v
            return [n for n in (_walk(x, rest, convert) for x in v) if n is not None or rest]
        return _walk(v, rest, convert)

    if name == "":
        return after(value)
    if not isinstance(value, dict):
        return value
    if name == "*":
        return {k: after(v) for k, v in value.items()}
    if name in value:
        return dict(value, **{name: after(value[name])})
    return value


def _core_fields() -> dict[str, tuple[str, str]]:
    """Standard fields holding references, by key, over every org module and team modules."""
    from crm.modules import ORG_MODULES

    found: dict[str, tuple[str, str]] = {"owner": ("user", ""), "assignee": ("user", ""),
                                         "requested_by": ("user", "")}
    for schema in ORG_MODULES.values():
        for spec in schema.core_fields:
            if spec.type in ("user", "lookup", "file"):
                found[spec.key] = (spec.type, spec.target)
    return found


# --- one table's rows ------------------------------------------------------------------------

def row_plan(model: type[models.Model], remapper: Remapper) -> Callable[[dict], dict]:
    """A function turning one archived row of `model` into its new column values."""
    name = registry.label(model)
    steps: list[Callable[[dict, dict], None]] = []
    id_columns = registry.id_columns(model)
    for f in model._meta.concrete_fields:
        column = f.attname
        qualified = f"{name}.{f.name}"
        if f.primary_key:
            steps.append(_step_pk(column, name, remapper))
        elif isinstance(f, models.ForeignKey):
            steps.append(_step_fk(column, registry.label(f.related_model), remapper, f.null))
        elif column in id_columns:
            steps.append(_step_id_column(column, id_columns[column], remapper))
        elif registry.is_json(f):
            kind, paths = registry.JSON_RULES.get(qualified, ("config", []))
            steps.append(_step_json(column, kind, paths, remapper))
        elif qualified in registry.PATH_COLUMNS:
            steps.append(_step_id_path(column, registry.PATH_COLUMNS[qualified], remapper))
        elif qualified in registry.RULE_PATH_COLUMNS:
            steps.append(_step_rule_path(column, remapper))
        elif qualified in registry.RESTORED_KEY_COLUMNS:
            steps.append(_step_restored_key(column))
        elif qualified in registry.MERGE_TEXT_COLUMNS:
            steps.append(lambda old, new, c=column: new.__setitem__(c, remapper.merge_text(old.get(c))))
        elif f.name in registry.KEY_COLUMNS and isinstance(f, models.CharField):
            steps.append(lambda old, new, c=column: new.__setitem__(c, remapper.key(old.get(c))))
        else:
            steps.append(lambda old, new, c=column: new.__setitem__(c, old[c]) if c in old else None)

    def convert(old: dict) -> dict:
        new: dict = {}
        for step in steps:
            step(old, new)
        return new

    return convert


def _step_pk(column: str, table: str, remapper: Remapper):
    def step(old: dict, new: dict) -> None:
        value = remapper.id(table, old.get(column))
        if value is None:
            raise MissingReference(column, table, old.get(column))
        new[column] = value
    return step


def _step_fk(column: str, target: str, remapper: Remapper, nullable: bool):
    def step(old: dict, new: dict) -> None:
        value = old.get(column)
        if value is None:
            new[column] = None
            return
        if target == "access.organization":
            mapped = remapper.org_id
        elif target == "contenttypes.contenttype":
            mapped = remapper.content_types.get(value)
        elif target == "auth.permission":
            mapped = remapper.permissions.get(value)
        else:
            mapped = remapper.id(target, value)
        if mapped is None:
            raise MissingReference(column, target, value)
        new[column] = mapped
    return step


def _step_id_column(column: str, rule: tuple[str, str], remapper: Remapper):
    kind, argument = rule

    def step(old: dict, new: dict) -> None:
        value = old.get(column)
        if value in (None, ""):
            new[column] = value
            return
        if kind == "model":
            mapped = remapper.id(argument, value)
        elif kind == "generic":
            mapped = remapper.id(remapper.content_type_labels.get(old.get(argument), ""), value)
        elif kind == "module":
            mapped = remapper.record(old.get(argument) or "", value)
        elif kind == "rule":
            from automation.rule_kinds import rule_model

            model = rule_model(old.get(argument) or "")
            mapped = remapper.id(registry.label(model), value) if model is not None else None
        else:  # "object": an audit entry's object, named by `app.model` or "module"
            object_type = old.get(argument) or ""
            if object_type == "module":
                mapped = remapper.key(value)
            else:
                mapped = remapper.id(object_type, value)
                mapped = str(mapped) if mapped is not None else value
            new[column] = mapped
            return
        if mapped is None:
            # A reference to a row that no longer exists stays dangling, as it was.
            mapped = 0 if isinstance(value, int) else value
        new[column] = mapped
    return step


def _step_json(column: str, kind: str, paths: list[tuple[str, str]], remapper: Remapper):
    def step(old: dict, new: dict) -> None:
        value = old.get(column)
        if kind == "record":
            value = remapper.record_values(value)
        elif kind == "changes":
            value = remapper.changes(value)
        elif kind == "criteria":
            value = remapper.criteria(value)
        elif kind == "actions":
            value = remapper.actions(value)
        elif kind == "records":
            value = [n for n in (remapper.record(old.get("module") or "", v) for v in value or []) if n is not None]
        elif kind == "typed_default":
            value = remapper.typed((old.get("field_type") or "", old.get("target") or ""), value)
        elif kind == "trigger_value":
            fields = old.get("trigger_fields") or []
            value = remapper.typed(remapper.field_spec(fields[0]) if fields else None, value)
        elif kind == "config":
            for path, target in paths:
                value = remapper.path(value, path, target)
            value = remapper.config(value)
        new[column] = value
    return step


def _step_id_path(column: str, target: str, remapper: Remapper):
    def step(old: dict, new: dict) -> None:
        parts = (old.get(column) or "").strip("/").split("/")
        ids = [remapper.id(target, p) for p in parts if p]
        new[column] = "/" + "".join(f"{i}/" for i in ids if i is not None) if ids else old.get(column)
    return step


def _step_rule_path(column: str, remapper: Remapper):
    def step(old: dict, new: dict) -> None:
        value = old.get(column) or ""
        parts = value.split(":")
        if len(parts) == 3 and parts[0] == "rule" and parts[2].isdigit():
            from automation.rule_kinds import rule_model

            model = rule_model(parts[1])
            mapped = remapper.id(registry.label(model), parts[2]) if model is not None else None
            value = f"rule:{parts[1]}:{mapped if mapped is not None else 0}"
        new[column] = value
    return step


def _step_restored_key(column: str):
    def step(old: dict, new: dict) -> None:
        value = old.get(column) or ""
        new[column] = value if value.startswith(registry.RESTORED_PREFIX) else registry.RESTORED_PREFIX + value
    return step
