"""Forms of the sharing settings pages. They parse what people type; the actions in
`access.sharing_actions` decide what is allowed (their errors are put back on these fields)."""
from __future__ import annotations

import json
from typing import Any, Iterable

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import PERMISSIONS, Group, Membership, OrgRole, Profile, SharingRule, User

PERMISSION_LABELS = {
    "create": _("Create"), "view": _("View"), "edit": _("Edit"), "delete": _("Delete"),
    "import": _("Import"), "export": _("Export"), "manage": _("Manage"),
}
LEVEL_CHOICES = [("read_write", _("Read/write")), ("read_only", _("Read only")), ("hidden", _("Hidden"))]
OPERATOR_LABELS = {
    "eq": _("equals"), "ne": _("does not equal"), "in": _("is one of"), "not_in": _("is none of"),
    "contains": _("contains"), "starts_with": _("starts with"), "gt": _("is greater than"),
    "gte": _("is at least"), "lt": _("is less than"), "lte": _("is at most"), "between": _("is between"),
    "is_empty": _("is empty"), "is_not_empty": _("is not empty"),
    "before_days": _("is before today + N days"), "after_days": _("is after today + N days"),
}
# How a typed value is read for an operator (the criteria validator checks it further).
LIST_OPS = {"in", "not_in", "between"}
NO_VALUE_OPS = {"is_empty", "is_not_empty"}


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


# --- criteria as rows -----------------------------------------------------------------------------

class CriteriaRowsForm(forms.Form):
    """Criteria as rows of field / operator / value, or as JSON: the editor of sharing rules and
    lock rules. `check_condition` lets a form check each row where it can name the row."""

    ROWS = 5

    joiner = forms.ChoiceField(label=_("Records matching"), initial="all",
                               choices=[("all", _("all of the conditions")), ("any", _("any of the conditions"))])
    criteria = forms.CharField(
        label=_("…or the criteria as JSON"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('For example {"all": [{"field": "stage", "op": "in", "value": ["won"]}]}'))

    def add_criteria_fields(self, fields: Iterable[tuple[str, str]]) -> None:
        field_choices = [("", "—"), *fields]
        op_choices = [("", "—"), *OPERATOR_LABELS.items()]
        for i in range(self.ROWS):
            self.fields[f"c{i}_field"] = forms.ChoiceField(label=_("Field"), choices=field_choices, required=False)
            self.fields[f"c{i}_op"] = forms.ChoiceField(label=_("Operator"), choices=op_choices, required=False)
            self.fields[f"c{i}_value"] = forms.CharField(label=_("Value"), required=False, max_length=500)

    def rows(self) -> list[dict[str, Any]]:
        return [{"field": self[f"c{i}_field"], "op": self[f"c{i}_op"], "value": self[f"c{i}_value"]}
                for i in range(self.ROWS)]

    @classmethod
    def criteria_initial(cls, criteria: dict | None) -> dict[str, Any]:
        """Simple criteria fill the rows; anything else is shown as JSON."""
        if not criteria:
            return {}
        joiner, items = next(iter(criteria.items()))
        if len(items) > cls.ROWS or any("field" not in item for item in items):
            return {"criteria": json.dumps(criteria, ensure_ascii=False)}
        initial: dict[str, Any] = {"joiner": joiner}
        for i, item in enumerate(items):
            value = item.get("value")
            initial[f"c{i}_field"], initial[f"c{i}_op"] = item["field"], item["op"]
            initial[f"c{i}_value"] = ", ".join(map(str, value)) if isinstance(value, list) else (
                "" if value is None else str(value))
        return initial

    def check_condition(self, row: int, condition: dict[str, Any]) -> bool:
        """False (after adding an error to the row) leaves the row out."""
        return True

    def clean_criteria(self) -> dict | None:
        text = self.cleaned_data.get("criteria", "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("This is not valid JSON: %(error)s") % {"error": exc})

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        conditions = []
        for i in range(self.ROWS):
            field, op, value = data.get(f"c{i}_field"), data.get(f"c{i}_op"), (data.get(f"c{i}_value") or "").strip()
            if not field and not op and not value:
                continue
            if not field:
                self.add_error(f"c{i}_field", _("Choose a field."))
                continue
            if not op:
                self.add_error(f"c{i}_op", _("Choose an operator."))
                continue
            condition: dict[str, Any] = {"field": field, "op": op}
            if op in LIST_OPS:
                condition["value"] = [part.strip() for part in value.split(",") if part.strip()]
            elif op not in NO_VALUE_OPS:
                condition["value"] = value
            if self.check_condition(i, condition):
                conditions.append(condition)
        if conditions and data.get("criteria"):
            self.add_error("criteria", _("Give the criteria either as rows or as JSON, not both."))
        elif conditions:
            data["criteria"] = {data.get("joiner") or "all": conditions}
        return data


# --- sharing rules ------------------------------------------------------------------------------

class SharingRuleForm(CriteriaRowsForm):
    SUBJECTS = SharingRule.Subject.choices

    name = forms.CharField(label=_("Name"), max_length=100)
    owner_kind = forms.ChoiceField(
        label=_("Share the records owned by members of"), required=False,
        choices=[("", _("— nobody: share the records matching the criteria below —")), *SUBJECTS])
    owner_role = RoleChoiceField(label=_("Owners' role"), queryset=OrgRole.objects.none(), required=False)
    owner_group = forms.ModelChoiceField(label=_("Owners' group"), queryset=Group.objects.none(), required=False)
    target_kind = forms.ChoiceField(label=_("Share with"), choices=SUBJECTS)
    target_role = RoleChoiceField(label=_("Role"), queryset=OrgRole.objects.none(), required=False)
    target_group = forms.ModelChoiceField(label=_("Group"), queryset=Group.objects.none(), required=False)
    access = forms.ChoiceField(label=_("Access"), choices=SharingRule.Access.choices,
                               initial=SharingRule.Access.READ)

    def __init__(self, *args: Any, org: Any, fields: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        queryset, labels = org_roles(org)
        groups = Group.objects.filter(org=org).order_by("name")
        for prefix in ("owner", "target"):
            self.fields[f"{prefix}_role"].queryset = queryset
            self.fields[f"{prefix}_role"].labels = labels
            self.fields[f"{prefix}_group"].queryset = groups
        self.add_criteria_fields(fields)
