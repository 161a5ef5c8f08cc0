"""Forms of the sharing settings pages. They parse what people type; the actions in
`access.sharing_actions` decide what is allowed (their errors are put back on these fields)."""
from __future__ import annotations

from typing import Any, Iterable

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import PERMISSIONS, Group, Membership, OrgRole, Profile, User

PERMISSION_LABELS = {
    "create": _("Create"), "view": _("View"), "edit": _("Edit"), "delete": _("Delete"),
    "import": _("Import"), "export": _("Export"), "manage": _("Manage"),
}
LEVEL_CHOICES = [("read_write", _("Read/write")), ("read_only", _("Read only")), ("hidden", _("Hidden"))]


def role_labels(roles: Iterable[OrgRole]) -> dict[int, str]:
    """Each role as its place in the chart: "CEO › VP Sales › Sales Manager"."""
    roles = list(roles)
    names = {r.pk: r.name for r in roles}
    return {r.pk: " › ".join(names.get(int(pk), "?") for pk in r.path.strip("/").split("/") if pk) or r.name
            for r in roles}


class RoleChoiceField(forms.ModelChoiceField):
    def __init__(self, *args: Any, labels: dict[int, str] | None = None, **kwargs: Any) -> None:
        self.labels = labels or {}
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: OrgRole) -> str:
        return self.labels.get(obj.pk, obj.name)


class RoleMultipleChoiceField(forms.ModelMultipleChoiceField):
    def __init__(self, *args: Any, labels: dict[int, str] | None = None, **kwargs: Any) -> None:
        self.labels = labels or {}
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: OrgRole) -> str:
        return self.labels.get(obj.pk, obj.name)


def org_roles(org) -> tuple[Any, dict[int, str]]:
    """The org's roles (in chart order) and their labels, for choice fields."""
    roles = list(OrgRole.objects.filter(org=org).order_by("path"))
    labels = role_labels(roles)
    return OrgRole.objects.filter(org=org).order_by("path"), labels


def sorted_role_choices(labels: dict[int, str], exclude: set[int] = frozenset()) -> list[tuple[Any, str]]:
    return sorted(((pk, label) for pk, label in labels.items() if pk not in exclude), key=lambda c: c[1].lower())


def apply_errors(form: forms.Form, exc: Any, aliases: dict[str, str] | None = None) -> None:
    """Put an action's ValidationError on the form fields it names (else on the form)."""
    aliases = aliases or {}
    if hasattr(exc, "error_dict"):
        for key, errors in exc.message_dict.items():
            key = aliases.get(key, key)
            for error in errors:
                form.add_error(key if key in form.fields else None, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)


# --- profiles ----------------------------------------------------------------------------------

class ProfileNameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)


class ProfileDetailsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)


def permission_grid_from_post(data: Any, scopes: Iterable[str]) -> dict[str, dict[str, bool]]:
    """The checkbox grid (`perm__<scope>__<permission>`) as {scope: {permission: bool}}."""
    return {scope: {p: data.get(f"perm__{scope}__{p}") in ("on", "1", "true") for p in PERMISSIONS}
            for scope in scopes}


class FieldLevelsForm(forms.Form):
    """One select per field of a module: hidden, read-only or read/write."""

    def __init__(self, *args: Any, fields: list[Any], levels: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in fields:
            # Not required: a field left out of the form keeps its level.
            self.fields[spec.key] = forms.ChoiceField(label=spec.label, choices=LEVEL_CHOICES, required=False,
                                                      initial=levels.get(spec.key, "read_write"))

    def levels(self) -> dict[str, str]:
        return {key: level for key, level in self.cleaned_data.items() if level}


class MembershipProfileForm(forms.Form):
    profile = forms.ModelChoiceField(label=_("Profile"), queryset=Profile.objects.none())

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["profile"].queryset = Profile.objects.filter(org=org).order_by("name")


class MembershipRoleForm(forms.Form):
    org_role = RoleChoiceField(label=_("Role"), queryset=OrgRole.objects.none(), required=False,
                               empty_label=_("(no role)"))

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset, labels = org_roles(org)
        self.fields["org_role"].queryset = queryset
        self.fields["org_role"].labels = labels


# --- roles ---------------------------------------------------------------------------------------

class RoleCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    parent = RoleChoiceField(label=_("Reports to"), queryset=OrgRole.objects.none(), required=False,
                             empty_label=_("(top of the chart)"))

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset, labels = org_roles(org)
        self.fields["parent"].queryset = queryset
        self.fields["parent"].labels = labels
        self.fields["parent"].widget.choices = [("", self.fields["parent"].empty_label),
                                                *sorted_role_choices(labels)]


class RoleRenameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)


class RoleMoveForm(forms.Form):
    """Every role of the org is accepted (the action refuses a cycle with a clear reason); the
    select offers only the roles outside the moved role's subtree."""

    parent = RoleChoiceField(label=_("New parent"), queryset=OrgRole.objects.none(), required=False,
                             empty_label=_("(top of the chart)"))

    def __init__(self, *args: Any, org: Any, role: OrgRole, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roles = list(OrgRole.objects.filter(org=org))
        labels = role_labels(roles)
        subtree = {r.pk for r in roles if r.path.startswith(role.path)}
        self.fields["parent"].queryset = OrgRole.objects.filter(org=org)
        self.fields["parent"].labels = labels
        self.fields["parent"].widget.choices = [("", self.fields["parent"].empty_label),
                                                *sorted_role_choices(labels, exclude=subtree)]


# --- groups --------------------------------------------------------------------------------------

class GroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    users = forms.ModelMultipleChoiceField(label=_("Users"), queryset=User.objects.none(), required=False,
                                           widget=forms.CheckboxSelectMultiple)
    roles = RoleMultipleChoiceField(label=_("Roles (everyone who holds them)"), queryset=OrgRole.objects.none(),
                                    required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = Membership.objects.filter(org=org, is_active=True).values("user_id")
        self.fields["users"].queryset = User.objects.filter(pk__in=members).order_by("username")
        queryset, labels = org_roles(org)
        self.fields["roles"].queryset = queryset
        self.fields["roles"].labels = labels
