"""The sharing card on a record page, and the facts about sharing rules it and the "Why can they
see this?" page share. Apart from `crm.sharing_views` (the pages, built on `ModuleView`) so
that `crm.views` can use the card without the two modules importing each other."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Case, Q, Value, When
from django.urls import reverse
from django.utils.translation import gettext as _

from access.models import Group, SharingRule
from access.share_actions import may_manage_shares
from access.shares import record_shares
from access.visibility import _users_in, is_org_admin

from .criteria import to_q
from .forms import org_members


def sharing_supported(schema: Any) -> bool:
    """Manual shares and sharing rules are part of the predicate of org modules only; team
    modules grant access through team roles."""
    return schema.default_access != "none"


def access_label(access: str) -> str:
    return str(SharingRule.Access(access).label) if access in SharingRule.Access.values else access


def subject_label(kind: str, role: Any, group: Any) -> str:
    if kind == SharingRule.Subject.GROUP:
        return _("group “%(name)s”") % {"name": group}
    if kind == SharingRule.Subject.ROLE_AND_BELOW:
        return _("role “%(name)s” and subordinates") % {"name": role}
    return _("role “%(name)s”") % {"name": role}


def _when_true(condition: Q) -> Case:
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


def _matches(schema: Any, record: Any, conditions: dict[str, Q | None]) -> dict[str, bool]:
    """Which of the named conditions the record matches, in one query (None: never; Q(): always)."""
    result = {name: bool(q is not None and not q) for name, q in conditions.items()}
    pending = {name: q for name, q in conditions.items() if q}
    if pending:
        row = (schema.base_queryset(schema.org).filter(pk=record.pk)
               .annotate(**{name: _when_true(q) for name, q in pending.items()}).values(*pending).first())
        result.update(row or {name: False for name in pending})
    return result


def rule_condition(schema: Any, rule: SharingRule) -> Q | None:
    """The records a sharing rule shares, as the visibility predicate compiles it."""
    owner = schema.access_user_fields[0] if schema.access_user_fields else "owner"
    if rule.criteria:
        try:
            return to_q(rule.criteria, schema)
        except (ValidationError, KeyError):  # a rule naming a field since removed shares nothing
            return None
    if rule.owner_kind:
        subject = rule.owner_group if rule.owner_kind == SharingRule.Subject.GROUP else rule.owner_role
        if subject is None:
            return None
        return Q(**{f"{owner}__in": _users_in(schema.org, rule.owner_kind, rule.owner_role, rule.owner_group)})
    return None


def module_rules(schema: Any, record: Any) -> list[dict[str, Any]]:
    """The module's sharing rules, each with whether it covers this record (two queries)."""
    rules = list(SharingRule.objects.filter(org=schema.org, module=schema.key)
                 .select_related("owner_role", "owner_group", "target_role", "target_group").order_by("name", "pk"))
    covers = _matches(schema, record, {f"rule_{rule.pk}": rule_condition(schema, rule) for rule in rules})
    return [{"rule": rule, "covers": covers[f"rule_{rule.pk}"], "access": access_label(rule.access),
             "target": subject_label(rule.target_kind, rule.target_role, rule.target_group)} for rule in rules]


# --- the card on the record page ----------------------------------------------------------------

def sharing_context(request: Any, schema: Any, record: Any) -> dict[str, Any]:
    """What the sharing card needs, under one key (`sharing`) of the detail context.

    Everyone who can open the record sees its owner; the owner, users above the owner and
    administrators also see manual shares, the module's sharing rules and the share form. A
    fixed number of queries (at most six), whatever the number of shares."""
    user = request.user
    supported = sharing_supported(schema)
    can_manage = supported and may_manage_shares(user, request.org, record)
    card: dict[str, Any] = {
        "supported": supported, "can_manage": can_manage, "owner": getattr(record, "owner", None),
        "is_admin": is_org_admin(user), "access_choices": SharingRule.Access.choices,
        "why_url": reverse("crm:share_why", args=[schema.key, record.pk]),
        "share_url": reverse("crm:share_add", args=[schema.key, record.pk]),
        "revoke_url": reverse("crm:share_revoke", args=[schema.key, record.pk]),
    }
    if can_manage:
        card["shares"] = record_shares(record)
        card["rules"] = module_rules(schema, record)
        card["users"] = [u for u in org_members(request.org) if u.pk != record.owner_id]
        card["groups"] = list(Group.objects.filter(org=request.org).order_by("name"))
    return {"sharing": card}
