"""Custom field actions (org administrators; team managers for their team modules)."""
from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from access import audit
from access.models import User

from .. import field_indexes
from ..modules import get_module
from ..tasks import schedule_field_index
from .base import RecordValidationError, column_length_errors


FIELD_SETTINGS = ("required", "unique", "section", "shown_to_requesters", "in_list", "help_text")


def _require_field_admin(actor: User, org: Any, module_key: str) -> Any:
    module = get_module(module_key, org)
    if actor.org.pk != org.pk or not module.can_configure(actor):
        raise PermissionDenied(_("You may not change the fields of this module."))
    return module


COLOR_RE = re.compile(r"#[0-9a-fA-F]{3,8}")  # colours go into style attributes: nothing else passes


# A status value is stored in a 60-character column (TeamRecord.status); labels are shown in lists.
OPTION_VALUE_MAX = 60
OPTION_LABEL_MAX = 100


def clean_options(field_type: str, options: Any) -> list[dict]:
    """Picklist options as [{value, label_en, label_zh, color}], values unique and non-empty."""
    if field_type not in ("picklist", "multi_select"):
        return []
    if not isinstance(options, list) or not options:
        raise RecordValidationError({"options": [_("A picklist needs at least one option.")]})
    seen, cleaned = set(), []
    for number, option in enumerate(options, start=1):
        value = str(option.get("value") or option.get("label_en") or "").strip()
        if not value:
            raise RecordValidationError({"options": [_("Option %(n)d has no value.") % {"n": number}]})
        if value in seen:
            raise RecordValidationError({"options": [_("The option “%(value)s” appears twice.") % {"value": value}]})
        seen.add(value)
        label_en = str(option.get("label_en") or value).strip()
        label_zh = str(option.get("label_zh") or "").strip()
        for part, text, limit in ((_("its value"), value, OPTION_VALUE_MAX), (_("its English label"), label_en,
                                  OPTION_LABEL_MAX), (_("its Chinese label"), label_zh, OPTION_LABEL_MAX)):
            if len(text) > limit:
                raise RecordValidationError({"options": [
                    _("Option %(n)d: %(part)s can be at most %(limit)d characters (this has %(length)d).")
                    % {"n": number, "part": part, "limit": limit, "length": len(text)}]})
        color = str(option.get("color") or "").strip()
        if color and not COLOR_RE.fullmatch(color):
            raise RecordValidationError({"options": [
                _("Option %(n)d: a colour is written like #1a7f37.") % {"n": number}]})
        cleaned.append({"value": value, "label_en": label_en, "label_zh": label_zh, "color": color})
    return cleaned


def _clean_default(definition: Any) -> Any:
    if definition.default in (None, ""):
        return None
    if definition.field_type == "file":
        raise RecordValidationError({"default": [_("A file field has no default value: files are uploaded.")]})
    try:
        value = definition.spec().field_type.clean(definition.default, definition.spec())
    except ValidationError as exc:
        raise RecordValidationError({"default": exc.messages})
    return definition.spec().field_type.to_json(value)


def _check_file_settings(definition: Any) -> None:
    if definition.field_type == "file" and definition.unique:
        raise RecordValidationError({"unique": [_("A file field cannot be unique.")]})


def _check_target(org: Any, field_type: str, target: str) -> str:
    if field_type != "lookup":
        return ""
    try:
        get_module(target or "", org)
    except Exception:
        raise RecordValidationError({"target": [_("Choose the module this lookup points to.")]})
    return target


@transaction.atomic
def do_create_field(org: Any, module_key: str, *, api_name: str, label_en: str, field_type: str,
                    label_zh: str = "", default: Any = None, options: Any = None, target: str = "",
                    actor: User, **settings_: Any) -> Any:
    """Add a custom field to a module (org or team). Stored records are not touched."""
    from ..fieldtypes import CUSTOM_FIELD_TYPES
    from ..models import FieldDefinition

    module = _require_field_admin(actor, org, module_key)
    errors: dict[str, list[str]] = {}
    api_name = (api_name or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,59}", api_name):
        errors["api_name"] = [_("Use lowercase letters, digits and underscores, starting with a letter.")]
    elif any(f.key == api_name for f in module.core_fields) or FieldDefinition.objects.filter(
            org=org, module=module_key, api_name=api_name).exists():
        errors["api_name"] = [_("A field with this API name already exists.")]
    if not (label_en or "").strip():
        errors["label_en"] = [_("This field is required.")]
    if field_type not in CUSTOM_FIELD_TYPES:
        errors["field_type"] = [_("Choose a valid field type.")]
    texts = {"label_en": (label_en or "").strip(), "label_zh": (label_zh or "").strip(),
             **{k: v for k, v in settings_.items() if k in ("help_text", "section")}}
    errors.update({k: v for k, v in column_length_errors(FieldDefinition, texts).items() if k not in errors})
    if errors:
        raise RecordValidationError(errors)
    last = FieldDefinition.objects.filter(org=org, module=module_key).order_by("-order").first()
    definition = FieldDefinition(org=org, module=module_key, api_name=api_name, label_en=label_en.strip(),
                                 label_zh=(label_zh or "").strip(), field_type=field_type, default=default,
                                 options=clean_options(field_type, options),
                                 target=_check_target(org, field_type, target), order=(last.order + 1) if last else 0,
                                 **{k: v for k, v in settings_.items() if k in FIELD_SETTINGS})
    definition.default = _clean_default(definition)
    _check_file_settings(definition)
    definition.save()
    if field_indexes.wants_index(definition):
        schedule_field_index(definition)
    audit.record(org, audit.Event.FIELD_CREATED, actor=actor, obj=definition, object_name=_field_name(definition),
                 new=_field_values(definition))
    return definition


def _field_name(definition: Any) -> str:
    return f"{definition.module} · {definition.label_en}"


def _field_values(definition: Any) -> dict[str, Any]:
    """A field definition as the audit log keeps it."""
    values = {name: getattr(definition, name) for name in (
        "module", "api_name", "label_en", "label_zh", "field_type", "options", "target", "default", "retired")}
    values.update({name: getattr(definition, name) for name in FIELD_SETTINGS})
    return values


def _stored_values(definition: Any) -> int:
    module = get_module(definition.module, definition.org)
    column = "data" if definition.module.startswith("team-") else "custom"
    return module.base_queryset(definition.org).filter(**{f"{column}__has_key": definition.key}).count()


@transaction.atomic
def do_update_field(definition: Any, *, label_en: str, label_zh: str = "", default: Any = None,
                    options: Any = None, field_type: str | None = None, actor: User, **settings_: Any) -> Any:
    """Change a field's labels, options, rules and (where no data is lost) its type. The key never
    changes, so no stored record is touched."""
    from ..fieldtypes import CUSTOM_FIELD_TYPES, SAFE_TYPE_CHANGES

    _require_field_admin(actor, definition.org, definition.module)
    before = _field_values(definition)
    indexes_before = field_indexes.create_statements(definition)
    if not (label_en or "").strip():
        raise RecordValidationError({"label_en": [_("This field is required.")]})
    if field_type and field_type != definition.field_type:
        if field_type not in CUSTOM_FIELD_TYPES or field_type == "lookup":
            raise RecordValidationError({"field_type": [_("Choose a valid field type.")]})
        stored = _stored_values(definition)
        if stored and (definition.field_type, field_type) not in SAFE_TYPE_CHANGES:
            raise RecordValidationError({"field_type": [
                _("Changing %(old)s to %(new)s would lose the values stored on %(count)d records.")
                % {"old": definition.field_type, "new": field_type, "count": stored}]})
        definition.field_type = field_type
    definition.label_en = label_en.strip()
    definition.label_zh = (label_zh or "").strip()
    for key, value in settings_.items():
        if key in FIELD_SETTINGS:
            setattr(definition, key, value)
    too_long = column_length_errors(type(definition), {name: getattr(definition, name) for name in (
        "label_en", "label_zh", "help_text", "section")})
    if too_long:
        raise RecordValidationError(too_long)
    if options is not None or definition.field_type in ("picklist", "multi_select"):
        definition.options = clean_options(definition.field_type, options if options is not None else definition.options)
    definition.default = default
    definition.default = _clean_default(definition)
    _check_file_settings(definition)
    definition.save()
    if field_indexes.drop_changed(definition, indexes_before):
        schedule_field_index(definition)
    audit.record(definition.org_id, audit.Event.FIELD_CHANGED, actor=actor, obj=definition,
                 object_name=_field_name(definition), old=before, new=_field_values(definition))
    return definition


@transaction.atomic
def do_set_field_retired(definition: Any, retired: bool, *, actor: User) -> Any:
    """Retiring hides a field everywhere and keeps its data; un-retiring brings it back."""
    _require_field_admin(actor, definition.org, definition.module)
    was = definition.retired
    definition.retired = retired
    definition.save(update_fields=["retired"])
    if was != retired and definition.field_type in field_indexes.INDEXED_TYPES:
        schedule_field_index(definition)  # retired: dropped; restored: built again
    if was != retired:
        audit.record(definition.org_id, audit.Event.FIELD_RETIRED if retired else audit.Event.FIELD_RESTORED,
                     actor=actor, obj=definition, object_name=_field_name(definition), old={"retired": was},
                     new={"retired": retired})
    return definition


@transaction.atomic
def do_rebuild_field_index(definition: Any, *, actor: User) -> Any:
    """Try a field's index build again (after it failed); harmless when it is ready."""
    _require_field_admin(actor, definition.org, definition.module)
    schedule_field_index(definition)
    return definition


@transaction.atomic
def do_move_field(definition: Any, offset: int, *, actor: User) -> None:
    """Move a field up (-1) or down (+1) among its module's fields."""
    from ..models import FieldDefinition

    _require_field_admin(actor, definition.org, definition.module)
    siblings = list(FieldDefinition.objects.select_for_update().filter(
        org=definition.org, module=definition.module).order_by("order", "pk"))
    index = next(i for i, d in enumerate(siblings) if d.pk == definition.pk)
    target = index + offset
    if not 0 <= target < len(siblings):
        return
    siblings[index], siblings[target] = siblings[target], siblings[index]
    for position, item in enumerate(siblings):
        item.order = position
    FieldDefinition.objects.bulk_update(siblings, ["order"])
    audit.record(definition.org_id, audit.Event.FIELD_MOVED, actor=actor, obj=definition,
                 object_name=_field_name(definition), old={"position": index}, new={"position": target})
