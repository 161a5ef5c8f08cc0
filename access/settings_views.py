"""Sharing settings pages (administrators only; everyone else gets 404): profiles and their
field levels, who holds which profile and role, the org chart, groups, sharing rules and the
access log. Every write goes through `access.sharing_actions`.

`access` sits below `crm`: the modules come from the provider crm registers (access.modules).
The sharing-rule pages, which need criteria and schemas, live in `crm.sharing_rule_views`.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from config.params import bounded_int

from . import sharing_actions as actions
from .models import PERMISSIONS, AccessLog, Group, Membership, OrgRole, Profile, SharingRule
from .modules import settings_modules
from .settings_forms import (
    PERMISSION_LABELS, FieldLevelsForm, GroupForm, MembershipProfileForm, MembershipRoleForm, ProfileDetailsForm,
    ProfileNameForm, RoleCreateForm, RoleMoveForm, RoleRenameForm, apply_errors, permission_grid_from_post,
    role_labels,
)
from .visibility import is_org_admin

LOG_PAGE_SIZE = 50


class AdminView(LoginRequiredMixin, View):
    """Org administrators only; anyone else is told the page does not exist."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not is_org_admin(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


def _modules() -> list[Any]:
    return settings_modules()


def _module(key: str | None) -> Any:
    """An org module by key (the first when none is given); 404 for an unknown key."""
    modules = _modules()
    if not key:
        return modules[0]
    for module in modules:
        if module.key == key:
            return module
    raise Http404


def _get(model: Any, request: HttpRequest, pk: Any) -> Any:
    """An object of the request's org, or 404 (never looked up by id alone)."""
    try:
        return model.objects.get(org=request.org, pk=int(pk))
    except (model.DoesNotExist, TypeError, ValueError):
        raise Http404


def _refused(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


# --- profiles ----------------------------------------------------------------------------------

class ProfileListView(AdminView):
    def get(self, request):
        holders = dict(Membership.objects.filter(org=request.org, profile__isnull=False)
                       .values_list("profile").annotate(n=Count("pk")).values_list("profile", "n"))
        profiles = list(Profile.objects.filter(org=request.org).order_by("-is_system", "name"))
        for profile in profiles:
            profile.holders = holders.get(profile.pk, 0)
        return render(request, "access/settings_profiles.html", {"profiles": profiles})


class ProfileCloneView(AdminView):
    template_name = "access/settings_profile_clone.html"

    def get(self, request, profile_pk):
        profile = _get(Profile, request, profile_pk)
        form = ProfileNameForm(initial={"name": _("Copy of %(name)s") % {"name": profile.name}})
        return render(request, self.template_name, {"profile": profile, "form": form})

    def post(self, request, profile_pk):
        profile = _get(Profile, request, profile_pk)
        form = ProfileNameForm(request.POST)
        if form.is_valid():
            try:
                clone = actions.do_clone_profile(profile, form.cleaned_data["name"], actor=request.user)
                messages.success(request, _("Profile “%(name)s” created.") % {"name": clone.name})
                return redirect("sharing_profile", profile_pk=clone.pk)
            except ValidationError as exc:
                apply_errors(form, exc)
        return render(request, self.template_name, {"profile": profile, "form": form}, status=400)


def _grid_rows(profile: Profile, modules: list[Any]) -> list[dict[str, Any]]:
    rows = [{"scope": "*", "label": _("Default (every module)"),
             "cells": [(p, profile.allows("*", p)) for p in PERMISSIONS]}]
    rows += [{"scope": m.key, "label": m.label_plural, "cells": [(p, profile.allows(m.key, p)) for p in PERMISSIONS]}
             for m in modules]
    return rows


class ProfileView(AdminView):
    """The profile's name and its per-module switches, as a grid of checkboxes."""

    template_name = "access/settings_profile.html"

    def render_page(self, request, profile, details_form=None, grid_errors=(), status=200):
        modules = _modules()
        return render(request, self.template_name, {
            "profile": profile, "modules": modules, "rows": _grid_rows(profile, modules),
            "permissions": [(p, PERMISSION_LABELS[p]) for p in PERMISSIONS],
            "details_form": details_form or ProfileDetailsForm(
                initial={"name": profile.name, "description": profile.description}),
            "grid_errors": grid_errors,
        }, status=status)

    def get(self, request, profile_pk):
        return self.render_page(request, _get(Profile, request, profile_pk))

    def post(self, request, profile_pk):
        profile = _get(Profile, request, profile_pk)
        if request.POST.get("op") == "details":
            form = ProfileDetailsForm(request.POST)
            if form.is_valid():
                try:
                    actions.do_update_profile(profile, name=form.cleaned_data["name"],
                                              description=form.cleaned_data["description"], actor=request.user)
                    messages.success(request, _("Profile saved."))
                    return redirect("sharing_profile", profile_pk=profile.pk)
                except ValidationError as exc:
                    apply_errors(form, exc)
                    profile.refresh_from_db()
            return self.render_page(request, profile, details_form=form, status=400)
        modules = _modules()
        scopes = ["*", *(m.key for m in modules)]
        try:
            actions.do_set_profile_permissions(profile, permission_grid_from_post(request.POST, scopes),
                                               actor=request.user, known_modules=[m.key for m in modules])
        except ValidationError as exc:
            profile.refresh_from_db()
            return self.render_page(request, profile, grid_errors=exc.messages, status=400)
        messages.success(request, _("Permissions saved."))
        return redirect("sharing_profile", profile_pk=profile.pk)


class ProfileFieldsView(AdminView):
    """Hidden / read-only / read-write per field of one module (custom fields included)."""

    template_name = "access/settings_profile_fields.html"

    def context(self, request, profile, module, form):
        return {"profile": profile, "module": module, "modules": _modules(), "form": form}

    def get(self, request, profile_pk):
        profile = _get(Profile, request, profile_pk)
        module = _module(request.GET.get("module"))
        bound = module.bind(request.org)
        form = FieldLevelsForm(fields=bound.fields, levels=(profile.field_levels or {}).get(module.key) or {})
        return render(request, self.template_name, self.context(request, profile, module, form))

    def post(self, request, profile_pk):
        profile = _get(Profile, request, profile_pk)
        module = _module(request.POST.get("module") or request.GET.get("module"))
        bound = module.bind(request.org)
        form = FieldLevelsForm(request.POST, fields=bound.fields,
                               levels=(profile.field_levels or {}).get(module.key) or {})
        if form.is_valid():
            try:
                actions.do_set_profile_field_levels(
                    profile, module.key, form.levels(), actor=request.user,
                    known_modules=[m.key for m in _modules()], known_field_keys=[f.key for f in bound.fields])
                messages.success(request, _("Field permissions saved."))
                return redirect(f"{reverse('sharing_profile_fields', args=[profile.pk])}?module={module.key}")
            except ValidationError as exc:
                apply_errors(form, exc)
        return render(request, self.template_name, self.context(request, profile, module, form), status=400)


class ProfileDeleteView(AdminView):
    template_name = "access/settings_confirm_delete.html"

    def context(self, profile):
        return {"object": profile, "kind": _("profile"), "cancel_url": reverse("sharing_profile", args=[profile.pk])}

    def get(self, request, profile_pk):
        return render(request, self.template_name, self.context(_get(Profile, request, profile_pk)))

    def post(self, request, profile_pk):
        profile = _get(Profile, request, profile_pk)
        try:
            actions.do_delete_profile(profile, actor=request.user)
        except ValidationError as exc:
            return render(request, self.template_name, {**self.context(profile), "errors": exc.messages}, status=400)
        messages.success(request, _("Profile “%(name)s” deleted.") % {"name": profile.name})
        return redirect("sharing_profiles")


# --- who holds which profile and role -------------------------------------------------------------

class MemberAccessView(AdminView):
    """Each member's profile and place in the org chart."""

    def get(self, request):
        memberships = (Membership.objects.filter(org=request.org).select_related("user", "profile", "org_role")
                       .order_by("user__username"))
        roles = list(OrgRole.objects.filter(org=request.org))
        labels = role_labels(roles)
        return render(request, "access/settings_members.html", {
            "memberships": memberships, "profiles": Profile.objects.filter(org=request.org).order_by("name"),
            "roles": sorted(labels.items(), key=lambda item: item[1].lower()),
        })

    def post(self, request):
        membership = _get(Membership, request, request.POST.get("membership"))
        op = request.POST.get("op")
        if op == "profile":
            form = MembershipProfileForm(request.POST, org=request.org)
            if form.is_valid():
                self._run(request, lambda: actions.do_set_user_profile(
                    membership, form.cleaned_data["profile"], actor=request.user), _("Profile changed."))
            else:
                messages.error(request, _("Choose a profile of this organisation."))
        elif op == "org_role":
            form = MembershipRoleForm(request.POST, org=request.org)
            if form.is_valid():
                self._run(request, lambda: actions.do_set_user_role(
                    membership, form.cleaned_data["org_role"], actor=request.user), _("Role changed."))
            else:
                messages.error(request, _("Choose a role of this organisation."))
        return redirect("sharing_members")

    def _run(self, request, action, done: str) -> None:
        try:
            action()
            messages.success(request, done)
        except ValidationError as exc:
            _refused(request, exc)


# --- roles: the org chart ---------------------------------------------------------------------

def role_tree(org) -> list[dict[str, Any]]:
    """The org's roles depth first, siblings by name, each with its depth and counts (two queries)."""
    roles = list(OrgRole.objects.filter(org=org))
    members = dict(Membership.objects.filter(org=org, org_role__isnull=False).values_list("org_role")
                   .annotate(n=Count("pk")).values_list("org_role", "n"))
    children: dict[int | None, list[OrgRole]] = {}
    for role in roles:
        children.setdefault(role.parent_id, []).append(role)
    rows: list[dict[str, Any]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for role in sorted(children.get(parent_id, []), key=lambda r: r.name.lower()):
            rows.append({"role": role, "depth": depth, "indent": depth * 24, "members": members.get(role.pk, 0),
                         "children": len(children.get(role.pk, []))})
            walk(role.pk, depth + 1)

    walk(None, 0)
    return rows


class RoleTreeView(AdminView):
    template_name = "access/settings_roles.html"

    def get(self, request, form=None, status=200):
        return render(request, self.template_name, {"rows": role_tree(request.org),
                                                    "form": form or RoleCreateForm(org=request.org)}, status=status)

    def post(self, request):
        form = RoleCreateForm(request.POST, org=request.org)
        if form.is_valid():
            try:
                role = actions.do_create_role(request.org, name=form.cleaned_data["name"],
                                              parent=form.cleaned_data["parent"], actor=request.user)
                messages.success(request, _("Role “%(name)s” added.") % {"name": role.name})
                return redirect("sharing_roles")
            except ValidationError as exc:
                apply_errors(form, exc)
        return self.get(request, form=form, status=400)


class RoleView(AdminView):
    template_name = "access/settings_role.html"

    def render_page(self, request, role, rename=None, move=None, status=200):
        return render(request, self.template_name, {
            "role": role, "label": role_labels(OrgRole.objects.filter(org=request.org)).get(role.pk, role.name),
            "rename_form": rename or RoleRenameForm(initial={"name": role.name}),
            "move_form": move or RoleMoveForm(org=request.org, role=role, initial={"parent": role.parent_id}),
            "members": Membership.objects.filter(org=request.org, org_role=role).select_related("user")
            .order_by("user__username"),
        }, status=status)

    def get(self, request, role_pk):
        return self.render_page(request, _get(OrgRole, request, role_pk))

    def post(self, request, role_pk):
        role = _get(OrgRole, request, role_pk)
        if request.POST.get("op") == "move":
            form = RoleMoveForm(request.POST, org=request.org, role=role)
            if form.is_valid():
                try:
                    actions.do_move_role(role, form.cleaned_data["parent"], actor=request.user)
                    messages.success(request, _("Role moved."))
                    return redirect("sharing_role", role_pk=role.pk)
                except ValidationError as exc:
                    apply_errors(form, exc)
            return self.render_page(request, role, move=form, status=400)
        form = RoleRenameForm(request.POST)
        if form.is_valid():
            try:
                actions.do_rename_role(role, form.cleaned_data["name"], actor=request.user)
                messages.success(request, _("Role renamed."))
                return redirect("sharing_role", role_pk=role.pk)
            except ValidationError as exc:
                apply_errors(form, exc)
        role.refresh_from_db()
        return self.render_page(request, role, rename=form, status=400)


class RoleDeleteView(AdminView):
    template_name = "access/settings_confirm_delete.html"

    def context(self, role):
        return {"object": role, "kind": _("role"), "cancel_url": reverse("sharing_role", args=[role.pk])}

    def get(self, request, role_pk):
        return render(request, self.template_name, self.context(_get(OrgRole, request, role_pk)))

    def post(self, request, role_pk):
        role = _get(OrgRole, request, role_pk)
        try:
            actions.do_delete_role(role, actor=request.user)
        except ValidationError as exc:
            return render(request, self.template_name, {**self.context(role), "errors": exc.messages}, status=400)
        messages.success(request, _("Role “%(name)s” deleted.") % {"name": role.name})
        return redirect("sharing_roles")


# --- groups ------------------------------------------------------------------------------------

def _group_data(form: GroupForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {"name": data["name"], "user_ids": [u.pk for u in data["users"]],
            "role_ids": [r.pk for r in data["roles"]]}


class GroupListView(AdminView):
    template_name = "access/settings_groups.html"

    def get(self, request, form=None, status=200):
        groups = (Group.objects.filter(org=request.org).order_by("name")
                  .annotate(user_count=Count("users", distinct=True), role_count=Count("roles", distinct=True)))
        return render(request, self.template_name, {"groups": groups, "form": form or GroupForm(org=request.org)},
                      status=status)

    def post(self, request):
        form = GroupForm(request.POST, org=request.org)
        if form.is_valid():
            try:
                group = actions.do_create_group(request.org, **_group_data(form), actor=request.user)
                messages.success(request, _("Group “%(name)s” created.") % {"name": group.name})
                return redirect("sharing_groups")
            except ValidationError as exc:
                apply_errors(form, exc)
        return self.get(request, form=form, status=400)


class GroupView(AdminView):
    template_name = "access/settings_group.html"

    def get(self, request, group_pk):
        group = _get(Group, request, group_pk)
        form = GroupForm(org=request.org, initial={"name": group.name, "users": list(group.users.all()),
                                                   "roles": list(group.roles.all())})
        return render(request, self.template_name, {"group": group, "form": form})

    def post(self, request, group_pk):
        group = _get(Group, request, group_pk)
        form = GroupForm(request.POST, org=request.org)
        if form.is_valid():
            try:
                actions.do_update_group(group, **_group_data(form), actor=request.user)
                messages.success(request, _("Group saved."))
                return redirect("sharing_group", group_pk=group.pk)
            except ValidationError as exc:
                apply_errors(form, exc)
                group.refresh_from_db()
        return render(request, self.template_name, {"group": group, "form": form}, status=400)


class GroupDeleteView(AdminView):
    template_name = "access/settings_confirm_delete.html"

    def context(self, group):
        return {"object": group, "kind": _("group"), "cancel_url": reverse("sharing_group", args=[group.pk])}

    def get(self, request, group_pk):
        return render(request, self.template_name, self.context(_get(Group, request, group_pk)))

    def post(self, request, group_pk):
        group = _get(Group, request, group_pk)
        try:
            actions.do_delete_group(group, actor=request.user)
        except ValidationError as exc:
            return render(request, self.template_name, {**self.context(group), "errors": exc.messages}, status=400)
        messages.success(request, _("Group “%(name)s” deleted.") % {"name": group.name})
        return redirect("sharing_groups")


# --- sharing rule subjects (used by crm.sharing_rule_views) ---------------------------------

def describe_subject(kind: str, role: OrgRole | None, group: Group | None, labels: dict[int, str]) -> str:
    if kind == SharingRule.Subject.GROUP:
        return _("group “%(name)s”") % {"name": group.name if group else "?"}
    name = labels.get(role.pk, role.name) if role else "?"
    if kind == SharingRule.Subject.ROLE_AND_BELOW:
        return _("role “%(name)s” and its subordinates") % {"name": name}
    return _("role “%(name)s”") % {"name": name}


# --- access log ----------------------------------------------------------------------------------

class AccessLogView(AdminView):
    """Exports and bulk downloads, newest first, a page at a time. The log only grows, so pages
    are read without counting the rows (one row more than a page says whether there are older)."""

    def get(self, request):
        number = bounded_int(request.GET.get("page"), default=1, low=1, high=1_000_000)
        start = (number - 1) * LOG_PAGE_SIZE
        rows = list(AccessLog.objects.filter(org=request.org).select_related("user")
                    .order_by("-at", "-pk")[start:start + LOG_PAGE_SIZE + 1])
        labels = {m.key: m.label_plural for m in _modules()}
        for entry in rows:
            entry.module_label = labels.get(entry.module, entry.module)
        return render(request, "access/settings_access_log.html", {
            "entries": rows[:LOG_PAGE_SIZE], "number": number, "has_newer": number > 1,
            "has_older": len(rows) > LOG_PAGE_SIZE, "newer": number - 1, "older": number + 1,
        })
