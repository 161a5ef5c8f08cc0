"""Who may configure a module's rules (org administrators; team managers for their team
modules), asked by every rule action and every rule page."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from access.visibility import current_membership
from crm.modules import get_module


def may_configure(user: Any, schema: Any) -> bool:
    return current_membership(user) is not None and schema.can_configure(user)


def configurable_schema(org: Any, module_key: str, actor: Any) -> Any:
    """The module's schema in the actor's org, if the actor may configure its rules; else
    PermissionDenied, the same whether the module is missing, of another org or not theirs."""
    refused = PermissionDenied(_("You may not configure this module."))
    org_id = getattr(org, "pk", org)
    if getattr(actor, "org", None) is None or actor.org.pk != org_id:
        raise refused
    try:
        schema = get_module(module_key, actor.org).bind(actor.org)
    except Http404:
        raise refused
    if not may_configure(actor, schema):
        raise refused
    return schema


def org_ids(values: Any, kind: Any, org: Any, errors: dict, key: str) -> list[int]:
    """The ids a rule or process form chose (users as Membership: active members only; roles,
    groups ...), sorted; each must exist in `org`, else `errors[key]` says "Choose from the list."."""
    from access.models import Membership
    from config.params import optional_id

    try:
        ids = sorted({int(v) for v in values or []})
    except (TypeError, ValueError):
        errors[key] = [_("Choose from the list.")]
        return []
    if any(optional_id(i) is None for i in ids):
        errors[key] = [_("Choose from the list.")]
        return []
    if kind is Membership:
        found = Membership.objects.filter(org=org, user_id__in=ids, is_active=True).count()
    else:
        found = kind.objects.filter(org=org, pk__in=ids).count()
    if found != len(ids):
        errors[key] = [_("Choose from the list.")]
    return ids
