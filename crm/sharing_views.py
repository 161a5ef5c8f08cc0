"""Who has access to a record: manual share and revoke, and the administrators' "Why can they
see this?" page (the sharing card on the record page is built by `crm.sharing`).

Records are fetched through `access` in `ModuleView.dispatch`; shares are written only by
`access.share_actions`. The explanation page asks, for each member, the named grants the
visibility predicate is built of (administrator, org-wide default, owner/assignee, role
hierarchy, sharing rules, manual shares and the registered providers such as team roles) and
names those that match the record. It costs a fixed number of queries per member.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from access.models import Group, Membership, SharingRule, User
from access.share_actions import do_revoke_share, do_share_record
from access.shares import ManualShare, find_share, record_shares
from access.visibility import bind_org, current_membership, is_org_admin, module_allowed, named_grants

from .sharing import _matches, access_label, sharing_supported
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
class Reason:
    label: str
    actions: tuple[str, ...]  # what it gives, of ("view", "edit")
    detail: str = ""


@dataclass
class MemberAccess:
    membership: Membership
    can_view: bool = False
    can_edit: bool = False
    grants: list[Reason] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def user(self) -> User:
        return self.membership.user


def _when(moment: Any) -> str:
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else ""


def _share_detail(share: ManualShare) -> str:
    return _("%(access)s, by %(who)s on %(when)s") % {
        "access": access_label(share.access), "who": share.granted_by or "—", "when": _when(share.granted_at)}


@dataclass
class RecordShares:
    """The record's manual shares and who is in each shared group: read once per page."""

    shares: list[ManualShare]
    group_users: dict[int, set[int]]
    group_roles: dict[int, set[int]]

    @classmethod
    def of(cls, record: Any) -> "RecordShares":
        shares = record_shares(record)
        ids = {s.group.pk for s in shares if s.group is not None}
        users: dict[int, set[int]] = {pk: set() for pk in ids}
        roles: dict[int, set[int]] = {pk: set() for pk in ids}
        if ids:
            for group_id, user_id in Group.users.through.objects.filter(group_id__in=ids).values_list(
                    "group_id", "user_id"):
                users[group_id].add(user_id)
            for group_id, role_id in Group.roles.through.objects.filter(group_id__in=ids).values_list(
                    "group_id", "orgrole_id"):
                roles[group_id].add(role_id)
        return cls(shares, users, roles)

    def of_user(self, user: User) -> list[ManualShare]:
        return [s for s in self.shares if s.user is not None and s.user.pk == user.pk]

    def of_groups(self, user: User, membership: Membership) -> list[ManualShare]:
        return [s for s in self.shares if s.group is not None and (
            user.pk in self.group_users[s.group.pk] or membership.org_role_id in self.group_roles[s.group.pk])]


def explain_member(schema: Any, record: Any, membership: Membership, shares: RecordShares) -> MemberAccess:
    """One member's access to the record, from the very grants the visibility predicate is built
    of (`access.visibility.named_grants`): those that match the record, in one query."""
    user = bind_org(membership.user, schema.org, membership)
    row = MemberAccess(membership)
    if current_membership(user) is None:
        row.notes.append(_("The account is deactivated."))
        return row
    by_action = {action: named_grants(user, schema, action) for action in VIEW_EDIT}
    if schema.default_access != "none":
        for action, text in (("view", _("Their profile “%(profile)s” does not allow viewing %(module)s.")),
                             ("edit", _("Their profile “%(profile)s” does not allow editing %(module)s."))):
            if not module_allowed(user, schema.key, action):
                row.notes.append(text % {"profile": membership.profile or "—", "module": schema.label_plural})
                break
    pairs = [(action, grant) for action in VIEW_EDIT for grant in by_action[action] or []]
    matched = _matches(schema, record, {f"g{n}": grant.q for n, (_a, grant) in enumerate(pairs)})
    merged: dict[tuple[str, str, str], list[str]] = {}
    for n, (action, grant) in enumerate(pairs):
        if matched[f"g{n}"]:
            merged.setdefault((str(grant.label), grant.detail, grant.kind), []).append(action)
    row.can_view = any("view" in actions for actions in merged.values())
    row.can_edit = any("edit" in actions for actions in merged.values())
    for (label, detail, kind), actions in merged.items():
        if kind == "user_share":  # named per share: who shared it, and when
            row.grants += [Reason(label, tuple(actions), _share_detail(s)) for s in shares.of_user(user)]
        elif kind == "group_share":
            row.grants += [Reason(_("Manual share with group “%(group)s”") % {"group": s.group}, tuple(actions),
                                  _share_detail(s)) for s in shares.of_groups(user, membership)]
        else:
            row.grants.append(Reason(label, tuple(actions), detail))
    return row


def explain_access(schema: Any, record: Any) -> list[MemberAccess]:
    members = (Membership.objects.filter(org=schema.org, is_active=True)
               .select_related("org", "user", "profile", "org_role").order_by("user__first_name", "user__username"))
    shares = RecordShares.of(record) if sharing_supported(schema) else RecordShares([], {}, {})
    return [explain_member(schema, record, membership, shares) for membership in members]


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
