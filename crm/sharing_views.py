"""Who has access to a record: manual share and revoke, and the administrators' "Why can they
see this?" page (the sharing card on the record page is built by `crm.sharing`).

Records are fetched through `access` in `ModuleView.dispatch`; shares are written only by
`access.share_actions`. The explanation page checks each member with `visible()` (the one
predicate) and then names the grant sources it can see: administrator, org-wide default,
owner/assignee, role hierarchy, sharing rules, manual shares and the registered providers
(team roles). It costs a fixed number of queries per member.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from access.models import Group, Membership, OrgWideDefault, SharingRule, User
from access.share_actions import do_revoke_share, do_share_record, owner_role_path
from access.shares import ManualShare, find_share, record_shares
from access.visibility import (
    SHARE_ACTIONS, _grant_providers, _rules_for, bind_org, current_membership, is_org_admin,
    module_allowed, org_default, visible,
)

from .sharing import _matches, access_label, module_rules, sharing_supported
from .views import ModuleView

VIEW_EDIT = ("view", "edit")


class ShareRecordView(ModuleView):
    """POST: share the record with a user ("user:<id>") or a group ("group:<id>")."""

    http_method_names = ["post"]

    def post(self, request, module, pk):
        back = self.record.get_absolute_url() + "#sharing"
        if not sharing_supported(self.schema):
            messages.error(request, _("Records of this module are shared through team roles, not one by one."))
            return redirect(back)
        kind, _sep, raw = request.POST.get("target", "").partition(":")
        target_id = int(raw) if raw.isdigit() else None
        user = group = None
        if kind == "user" and target_id:
            user = User.objects.filter(pk=target_id, memberships__org=request.org).first()
        elif kind == "group" and target_id:
            group = Group.objects.filter(org=request.org, pk=target_id).first()
        if user is None and group is None:
            messages.error(request, _("Choose a user or a group of this organisation to share with."))
            return redirect(back)
        try:
            do_share_record(request.org, self.schema.key, self.record, user=user, group=group,
                            access=request.POST.get("access", SharingRule.Access.READ), actor=request.user)
        except PermissionDenied as exc:
            self.refuse(exc)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Shared with %(name)s.") % {"name": user or group})
        return redirect(back)


class RevokeShareView(ModuleView):
    """POST: remove one manual share of the record (`share` = "user:<id>" or "group:<id>")."""

    http_method_names = ["post"]

    def post(self, request, module, pk):
        share = find_share(self.record, request.POST.get("share", ""))
        if share is None:
            raise Http404
        try:
            do_revoke_share(share, actor=request.user)
        except PermissionDenied as exc:
            self.refuse(exc)
        else:
            messages.success(request, _("Share removed."))
        return redirect(self.record.get_absolute_url() + "#sharing")


# --- "Why can they see this?" (administrators) ---------------------------------------------------

@dataclass
class Grant:
    label: str
    actions: tuple[str, ...]  # what it gives, of ("view", "edit")
    detail: str = ""


@dataclass
class MemberAccess:
    membership: Membership
    can_view: bool
    can_edit: bool
    grants: list[Grant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def user(self) -> User:
        return self.membership.user


@dataclass
class RecordFacts:
    """What is the same for every member: computed once per page."""

    level: str
    owners: dict[str, int | None]  # access user field -> user id on the record
    owner_path: str | None
    covers: dict[int, bool]  # sharing rule id -> covers this record
    shares: list[ManualShare]
    group_users: dict[int, set[int]]
    group_roles: dict[int, set[int]]


def record_facts(schema: Any, record: Any) -> RecordFacts:
    org = schema.org
    supported = sharing_supported(schema)
    owners = {name: getattr(record, f"{name}_id", None) for name in schema.access_user_fields}
    owner_field = schema.access_user_fields[0] if schema.access_user_fields else "owner"
    shares = record_shares(record) if supported else []
    group_ids = {s.group.pk for s in shares if s.group is not None}
    group_users: dict[int, set[int]] = {pk: set() for pk in group_ids}
    group_roles: dict[int, set[int]] = {pk: set() for pk in group_ids}
    if group_ids:
        for group_id, user_id in Group.users.through.objects.filter(group_id__in=group_ids).values_list(
                "group_id", "user_id"):
            group_users[group_id].add(user_id)
        for group_id, role_id in Group.roles.through.objects.filter(group_id__in=group_ids).values_list(
                "group_id", "orgrole_id"):
            group_roles[group_id].add(role_id)
    rules = module_rules(schema, record) if supported else []
    return RecordFacts(
        level=org_default(org, schema) if supported else "",
        owners=owners, owner_path=owner_role_path(org, owners.get(owner_field)) if supported else None,
        covers={row["rule"].pk: row["covers"] for row in rules}, shares=shares,
        group_users=group_users, group_roles=group_roles)


def _when(moment: Any) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else ""


def explain_member(schema: Any, record: Any, membership: Membership, facts: RecordFacts) -> MemberAccess:
    """One member's access to the record (from `visible()`) and the grants that give it."""
    user = bind_org(membership.user, schema.org, membership)
    row = MemberAccess(membership,
                       can_view=visible(user, schema, "view").filter(pk=record.pk).exists(),
                       can_edit=visible(user, schema, "edit").filter(pk=record.pk).exists())
    if current_membership(user) is None:
        row.notes.append(_("The account is deactivated."))
        return row
    if membership.is_admin:
        row.grants.append(Grant(_("Administrator"), VIEW_EDIT))
        return row
    if sharing_supported(schema):
        _org_module_grants(schema, user, membership, facts, row)
    _provider_grants(schema, record, user, membership, row)
    explained = {action for grant in row.grants for action in grant.actions}
    if (row.can_view and "view" not in explained) or (row.can_edit and "edit" not in explained):
        row.notes.append(_("Part of this access comes from a grant this page cannot name."))
    return row


def _org_module_grants(schema: Any, user: User, membership: Membership, facts: RecordFacts,
                       row: MemberAccess) -> None:
    profile = membership.profile
    for action, text in (("view", _("Their profile “%(profile)s” does not allow viewing %(module)s.")),
                         ("edit", _("Their profile “%(profile)s” does not allow editing %(module)s."))):
        if not module_allowed(user, schema.key, action):
            row.notes.append(text % {"profile": profile or "—", "module": schema.label_plural})
            if action == "view":
                break
    if facts.level == OrgWideDefault.Level.PUBLIC_READ:
        row.grants.append(Grant(_("Org-wide default"), ("view",), str(OrgWideDefault.Level(facts.level).label)))
    elif facts.level == OrgWideDefault.Level.PUBLIC_READ_WRITE:
        row.grants.append(Grant(_("Org-wide default"), VIEW_EDIT, str(OrgWideDefault.Level(facts.level).label)))
    for name, user_id in facts.owners.items():
        if user_id == user.pk:
            label = schema.field(name).label if schema.has_field(name) else name
            row.grants.append(Grant(_("%(field)s of the record") % {"field": label}, VIEW_EDIT))
    role = membership.org_role
    if role is not None and facts.owner_path and facts.owner_path.startswith(role.path) \
            and facts.owner_path != role.path:
        row.grants.append(Grant(_("Role hierarchy"), VIEW_EDIT,
                                _("above the owner, as “%(role)s”") % {"role": role.name}))
    for rule in _rules_for(user, membership, schema.key):
        if facts.covers.get(rule.pk):
            actions = tuple(a for a in VIEW_EDIT if a in SHARE_ACTIONS[rule.access])
            row.grants.append(Grant(_("Sharing rule “%(name)s”") % {"name": rule.name}, actions,
                                    access_label(rule.access)))
    for share in facts.shares:
        if share.user is not None and share.user.pk == user.pk:
            label = _("Manual share")
        elif share.group is not None and (user.pk in facts.group_users.get(share.group.pk, ())
                                          or membership.org_role_id in facts.group_roles.get(share.group.pk, ())):
            label = _("Manual share with group “%(group)s”") % {"group": share.group}
        else:
            continue
        detail = _("%(access)s, by %(who)s on %(when)s") % {
            "access": access_label(share.access), "who": share.granted_by or "—", "when": _when(share.granted_at)}
        row.grants.append(Grant(label, tuple(a for a in VIEW_EDIT if a in SHARE_ACTIONS[share.access]), detail))


def _provider_grants(schema: Any, record: Any, user: User, membership: Membership, row: MemberAccess) -> None:
    """Grants registered by other apps (team roles): one query for view and edit together."""
    conditions: dict[str, Q | None] = {}
    for action in VIEW_EDIT:
        combined: Q | None = None
        for provider in _grant_providers:
            extra = provider(user, membership, schema, action)
            if extra is None:
                continue
            if not extra:
                combined = Q()
                break
            combined = extra if combined is None else combined | extra
        conditions[action] = combined
    if all(q is None for q in conditions.values()):
        return
    matched = _matches(schema, record, conditions)
    actions = tuple(a for a in VIEW_EDIT if matched[a])
    if actions:
        row.grants.append(Grant(_("Team role"), actions))


def explain_access(schema: Any, record: Any) -> list[MemberAccess]:
    members = (Membership.objects.filter(org=schema.org, is_active=True)
               .select_related("org", "user", "profile", "org_role").order_by("user__first_name", "user__username"))
    facts = record_facts(schema, record)
    return [explain_member(schema, record, membership, facts) for membership in members]


class WhyAccessView(ModuleView):
    """For administrators: every active member, whether they can view and edit the record, and why."""

    template_name = "crm/why_access.html"
    http_method_names = ["get", "head"]

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_org_admin(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, module, pk):
        return render(request, self.template_name, self.context(rows=explain_access(self.schema, self.record)))
