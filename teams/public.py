"""Public fields through lookups: on a team record's page, what an administrator made
public about the org records it looks up (e.g. a case study's customer's industry).

The target record is read deliberately without `access.visible`: the viewer may not be
allowed to open it, so only the fields marked public (`BoundSchema.public_fields()`) and
the target's name are shown, and the link to it only when `visible` lets them open it.
"""
from __future__ import annotations

from typing import Any

from access.models import User
from access.linked import linked_names
from access.visibility import can
from crm.modules import ORG_MODULES, get_module
from crm.schema import BoundSchema, FieldSpec


def _display(spec: FieldSpec, target: Any, org: Any) -> str:
    """A public field's value as text (references shown by name, never by id)."""
    value = spec.get_value(target)
    if value in (None, "", []):
        return ""
    if spec.is_custom and spec.type == "user":
        user = User.objects.filter(pk=value, memberships__org=org).first()
        return str(user) if user is not None else ""
    if spec.is_custom and spec.type == "lookup":
        if spec.target not in ORG_MODULES:
            return ""
        return linked_names(org, get_module(spec.target, org), [value]).get(int(value), "")
    return spec.display(target)


def public_panels(user: Any, schema: BoundSchema, record: Any) -> list[dict]:
    """One panel per custom lookup to an org module that has a value:
    [{"field", "target_label", "values": [(label, value)], "can_open", "url", "module"}].

    The caller has already fetched `record` through `access.get_record`.
    """
    org = getattr(user, "org", None)
    if org is None or getattr(record, "org_id", None) != org.pk:
        return []
    # Only lookups the viewer may see on this record (a requester sees the requester fields).
    specs = [spec for spec in schema.fields_for(user)
             if spec.is_custom and spec.type == "lookup" and spec.target in ORG_MODULES]
    panels: list[dict] = []
    public_by_module: dict[str, tuple[BoundSchema, list[FieldSpec]]] = {}
    for spec in specs:
        value = spec.get_value(record)
        if value is None:
            continue
        if spec.target not in public_by_module:
            target_schema = get_module(spec.target, org).bind(org)
            public_by_module[spec.target] = (target_schema, target_schema.public_fields())
        target_schema, public = public_by_module[spec.target]
        related = [f.key for f in public if f.is_reference and not f.is_custom]
        target = (target_schema.base_queryset(org).filter(pk=value, deleted_at__isnull=True)
                  .select_related(*related).first())
        if target is None:
            continue
        can_open = can(user, target_schema, target, "view")
        panels.append({
            "field": spec,
            "module": target_schema,
            "target_label": str(target),
            "values": [(f.label, _display(f, target, org)) for f in public],
            "can_open": can_open,
            "url": target.get_absolute_url() if can_open else "",
        })
    return panels


def public_panel_blocks(user: Any, schema: BoundSchema, record: Any) -> list[dict]:
    """The record page's panel provider (registered with crm at start-up)."""
    panels = public_panels(user, schema, record)
    return [{"template": "teams/includes/public_panels.html", "public_panels": panels}] if panels else []
