"""Forms built from the module schema: custom fields appear with no code change."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from django import forms
from django.conf import settings
from django.utils.html import conditional_escape, format_html
from django.utils.translation import gettext_lazy as _

from access.models import User
from access.decisions import module_field_rules
from access.visibility import visible
from config.params import parse_id

from .criteria import CriteriaError, validate
from .criteria_forms import CriteriaRowsForm
from .form_tokens import FIELD as FORM_TOKEN, FormTokenField
from .file_forms import RecordFileField, file_url
from .fieldtypes import CUSTOM_FIELD_TYPES, type_choices
from .modules import get_module
from .schema import BoundSchema, FieldSpec
from .widgets import lookup_widget, member_widget


class MemberChoiceField(forms.ModelChoiceField):
    """A member of the org, picked by typing part of a name (the queryset checks what is posted)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", member_widget())
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: User) -> str:
        return str(obj)


def org_members(org) -> Any:
    return User.objects.filter(memberships__org=org, memberships__is_active=True).order_by("first_name", "username")


def form_field_for(spec: FieldSpec, schema: BoundSchema, actor: User) -> forms.Field:
    # Form templates print help text as HTML; custom fields' help is typed by admins and team
    # managers, so it is escaped here (a team manager must not run script in members' browsers).
    kwargs = {"label": spec.label, "required": spec.required, "help_text": conditional_escape(spec.help_text or "")}
    if spec.type == "user":
        return MemberChoiceField(queryset=org_members(schema.org), **kwargs)
    if spec.type == "lookup":
        target = get_module(spec.target, schema.org)
        queryset = visible(actor, target, "view").order_by(target.title_field)
        return forms.ModelChoiceField(queryset=queryset, widget=lookup_widget(target.key), **kwargs)
    return spec.field_type.form_field(spec, **kwargs)


def file_change(value: Any) -> Any:
    """A file field's "clear" box posts False: to the actions that is no file."""
    return None if value is False else value


def initial_value(spec: FieldSpec, record: Any) -> Any:
    """A stored value as a form field's initial value."""
    value = spec.get_value(record)
    if spec.type == "boolean" and value is not None:
        value = "true" if value else "false"
    return value


def keep_hidden_link(field: forms.Field, spec: FieldSpec, schema: BoundSchema, record: Any) -> None:
    """A link to a record the user cannot open stays as it is, shown but not editable."""
    value = spec.get_value(record)
    if value is not None and not field.queryset.filter(pk=value).exists():
        target = get_module(spec.target, schema.org)
        field.queryset = target.base_queryset(schema.org).filter(pk=value)
        field.disabled = True


def read_only_help(spec: FieldSpec, reason: str) -> str:
    """The reason a field is shown disabled, before the field's own help text (all escaped: rule
    names and help texts are typed by people, and form templates print help text as HTML)."""
    return format_html('<span class="text-body-secondary" data-read-only-reason="{}"><i class="bi bi-lock"></i> '
                       '{}</span>{}', spec.key, reason, f" {spec.help_text}" if spec.help_text else "")


# Form layouts: apps above crm (automation's layout rules) say which fields of a record's form are
# hidden and which are required for the values in it. provider(user, schema, record) -> an object
# with `state(data, offered) -> (hidden keys, required keys)` (data: posted values, or None for the
# stored or default ones), `url` (where the form posts its values to be asked again) and
# `controlled` (the keys whose state may change), or None when nothing applies to the module.
_layout_providers: list[Any] = []


def register_form_layout(provider: Any) -> None:
    if provider not in _layout_providers:
        _layout_providers.append(provider)


def form_layout(user: Any, schema: BoundSchema, record: Any) -> Any:
    for provider in _layout_providers:
        layout = provider(user, schema, record)
        if layout is not None:
            return layout
    return None


VERSION_MISSING = _("The record's version is missing, so a change made meanwhile could not be detected. "
                    "Reload the page and try again.")


class RecordForm(forms.Form):
    """Edits a record's editable fields; validation is repeated by the action, which is the authority.

    `read_only` maps the fields the decision point keeps read-only for this user (profile, locks,
    team rules) to the reason: they are disabled, so what is posted for them is ignored, and the
    reason is their help text. `hidden` fields are left out.

    Editing needs the `version` the user saw (a missing one is an error, not a blind save); a new
    record's form carries a one-time token instead, against double submits."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, schema: BoundSchema, actor: User, record: Any = None,
                 read_only: dict[str, str] | None = None, hidden: Any = (), **kwargs: Any) -> None:
        self.schema = schema
        self.record = record
        if record is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(record)
        super().__init__(*args, **kwargs)
        if record is None:
            self.fields[FORM_TOKEN] = FormTokenField()
        else:
            self.fields["version"].required = True
            self.fields["version"].error_messages["required"] = VERSION_MISSING
        read_only = read_only or {}
        for spec in schema.editable_fields:
            if spec.key in hidden:
                continue
            field = self.fields[spec.key] = form_field_for(spec, schema, actor)
            if spec.key in read_only:
                field.disabled = True
                field.help_text = read_only_help(spec, read_only[spec.key])
            if record is not None and spec.type == "lookup":
                keep_hidden_link(field, spec, schema, record)
            if record is None and spec.default not in (None, ""):
                field.initial = spec.default
        self.apply_layout(actor)

    def apply_layout(self, actor: User) -> None:
        """Fields a layout hides (for the posted values, or the stored ones) are not offered and
        their posted values are ignored (the stored value is kept); fields it requires are
        required here too."""
        self.layout = form_layout(actor, self.schema, self.record)
        self.layout_hidden: frozenset[str] = frozenset()
        self.layout_required: frozenset[str] = frozenset()
        if self.layout is None:
            return
        offered = [key for key, field in self.fields.items() if self.schema.has_field(key) and not field.disabled]
        hidden, required = self.layout.state(self.data if self.is_bound else None, offered)
        self.layout_hidden, self.layout_required = frozenset(hidden), frozenset(required)
        for key in self.layout_required - self.layout_hidden:
            if key in self.fields and not self.fields[key].disabled:
                self.fields[key].required = True
        for key in self.layout_hidden:
            if key in self.fields:
                self.fields[key].required = False

    def layout_json(self) -> str:
        """The layout's state for the page's script (static/js/layout_rules.js)."""
        import json

        if self.layout is None:
            return ""
        controlled_hidden, controlled_required = self.layout.controlled
        required = {key for key, field in self.fields.items() if field.required}
        return json.dumps({"hidden": sorted(self.layout_hidden), "required": sorted(required),
                           "controlled_hidden": sorted(controlled_hidden),
                           "controlled_required": sorted(controlled_required)})

    def add_refusal(self, exc: Exception) -> None:
        """A refusal of the action, under the field it names (a guard's `field`), else above the form."""
        key = getattr(exc, "field", "") or None
        self.add_error(key if key in self.fields else None, str(exc))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The version is a hidden input: its error is shown above the form, where it can be seen.
        for message in self._errors.pop("version", []):
            self.add_error(None, message)
        return data

    def initial_from(self, record: Any) -> dict[str, Any]:
        initial = {"version": record.version}
        for spec in self.schema.editable_fields:
            initial[spec.key] = initial_value(spec, record)
            if spec.type == "file" and initial[spec.key] is not None:  # shown as a link to its download
                initial[spec.key] = dataclasses.replace(initial[spec.key],
                                                        url=file_url(self.schema.key, record.pk, spec.key))
        return initial

    def changes(self) -> dict[str, Any]:
        """Cleaned values by field key, ready for the record actions (disabled fields left out; a
        file field's "clear" is None)."""
        return {spec.key: file_change(self.cleaned_data.get(spec.key)) for spec in self.schema.editable_fields
                if spec.key in self.cleaned_data and not self.fields[spec.key].disabled
                and spec.key not in self.layout_hidden}

    @property
    def file_keys(self) -> list[str]:
        """The file fields offered (the layout's requests leave their uploads out)."""
        return [key for key, field in self.fields.items() if isinstance(field, RecordFileField)]

    def add_action_errors(self, errors: dict[str, list[str]]) -> None:
        for key, messages in errors.items():
            field = key if key in self.fields else None
            for message in messages:
                self.add_error(field, message)


class FieldValueForm(forms.Form):
    """One field of a record, edited in place on the record's page. The version is the one the
    user saw when opening the field, so a change made meanwhile is refused as a conflict."""

    version = forms.IntegerField(widget=forms.HiddenInput, error_messages={"required": VERSION_MISSING})

    def __init__(self, *args: Any, schema: BoundSchema, actor: User, record: Any, spec: FieldSpec,
                 **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"version": record.version, spec.key: initial_value(spec, record)})
        kwargs.setdefault("auto_id", "inline-%s")
        super().__init__(*args, **kwargs)
        self.spec = spec
        field = self.fields[spec.key] = form_field_for(spec, schema, actor)
        if spec.type == "lookup":
            keep_hidden_link(field, spec, schema, record)
        widget = field.widget
        widget.attrs.setdefault("aria-label", spec.label)
        widget.attrs["autofocus"] = True
        if isinstance(widget, forms.CheckboxSelectMultiple):
            widget.attrs["class"] = "form-check-input"
        elif isinstance(widget, forms.Select):
            widget.attrs["class"] = "form-select form-select-sm"
        else:
            widget.attrs["class"] = "form-control form-control-sm"

    @property
    def value_field(self) -> forms.BoundField:
        return self[self.spec.key]

    def changes(self) -> dict[str, Any]:
        if self.fields[self.spec.key].disabled:
            return {}
        return {self.spec.key: file_change(self.cleaned_data.get(self.spec.key))}


def chosen_versions(values: Any) -> dict[int, int | None]:
    """The records chosen on a list page, {pk: the version the page showed}: each checkbox's
    value is "pk:version". A value without a version maps to None (refused by the actions as a
    missing version); an id that is not one is a 400 (config.params.BadParameter)."""
    chosen: dict[int, int | None] = {}
    for value in values:
        pk, _sep, version = str(value).partition(":")
        chosen[parse_id(pk, "ids")] = int(version) if version.isdigit() and len(version) < 10 else None
    return chosen


class BulkEditForm(forms.Form):
    """One field, one value, for the chosen records ("pk:version" each, as the list page sent
    them). The value's form field follows the chosen field's type, so the page is shown again
    when the field changes."""

    field = forms.ChoiceField(label=_("Field"))
    ids = forms.MultipleChoiceField(widget=forms.MultipleHiddenInput)

    def __init__(self, *args: Any, schema: BoundSchema, actor: User, ids: list[str], field_key: str = "",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hidden, read_only = module_field_rules(actor, schema)
        # A file is uploaded to one record at a time, on its form.
        self.editable = {spec.key: spec for spec in schema.editable_fields
                         if spec.key not in hidden and spec.key not in read_only and spec.type != "file"}
        self.fields["field"].choices = [("", "—")] + [(key, spec.label) for key, spec in self.editable.items()]
        self.fields["ids"].choices = [(pk, pk) for pk in ids]
        self.spec = self.editable.get(field_key)
        if self.spec is not None:
            self.fields["value"] = form_field_for(self.spec, schema, actor)
            self.fields["value"].label = _("New value")

    def changes(self) -> dict[str, Any]:
        return {self.spec.key: self.cleaned_data.get("value")}


NOTE_MAX_LENGTH = 10000


class NoteForm(forms.Form):
    body = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), max_length=NOTE_MAX_LENGTH,
                           error_messages={"max_length": _("A note can be at most 10,000 characters "
                                                           "(this one has %(show_value)d).")})


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"), error_messages={"required": _("Choose a file to upload.")})
    deliverable = forms.BooleanField(label=_("Deliverable (shown to the requester)"), required=False)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.ATTACHMENT_MAX_BYTES
        if upload is not None and upload.size > limit:
            raise forms.ValidationError(_("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)})
        return upload


class OwnerForm(forms.Form):
    owner = MemberChoiceField(queryset=User.objects.none(), label=_("New owner"))

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "change-%s")  # list pages also have an owner filter (id_owner)
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = org_members(org)
        # Shown in a row of buttons on list and record pages, without a label of its own.
        self.fields["owner"].widget.attrs.update({"class": "form-select form-select-sm w-16r",
                                                  "aria-label": self.fields["owner"].label})


class FieldDefinitionForm(forms.Form):
    label_en = forms.CharField(label=_("Label (English)"), max_length=100)
    label_zh = forms.CharField(label=_("Label (Chinese)"), max_length=100, required=False)
    api_name = forms.CharField(label=_("API name"), max_length=60,
                               help_text=_("Lowercase letters, digits and underscores; cannot change later."))
    field_type = forms.ChoiceField(label=_("Type"), choices=type_choices(CUSTOM_FIELD_TYPES))
    target = forms.ChoiceField(label=_("Lookup points to"), required=False)
    required = forms.BooleanField(label=_("Required"), required=False)
    default = forms.CharField(label=_("Default value"), required=False, max_length=255)
    options = forms.CharField(
        label=_("Picklist options"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line: value | English label | Chinese label | colour"))
    help_text = forms.CharField(label=_("Help text"), required=False, max_length=255)

    def __init__(self, *args: Any, editing: bool = False, targets: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = [("", "—")] + list(targets)
        if editing:
            for name in ("api_name", "field_type", "target"):
                self.fields[name].disabled = True
                self.fields[name].required = False

    def parsed_options(self) -> list[dict[str, str]]:
        return self.parse_options(self.cleaned_data.get("options") or "")

    @staticmethod
    def parse_options(text: str) -> list[dict[str, str]]:
        """Lines of "value | English label | Chinese label | colour"."""
        options = []
        for line in (text or "").splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")] + ["", "", ""]
            options.append({"value": parts[0], "label_en": parts[1] or parts[0], "label_zh": parts[2],
                            "color": parts[3]})
        return options

    @staticmethod
    def options_text(options: list[dict[str, str]]) -> str:
        return "\n".join(" | ".join([o["value"], o.get("label_en", ""), o.get("label_zh", ""), o.get("color", "")])
                         .rstrip(" |") for o in options or [])


class SchemaCriteriaForm(CriteriaRowsForm):
    """The criteria rows editor over the fields of `self.schema` (a bound schema). Each row is
    checked against the schema, so an error sits next to its row."""

    schema: BoundSchema

    def add_criteria_fields(self) -> None:
        super().add_criteria_fields([(spec.key, spec.label) for spec in self.schema.fields], self.schema)

    def check_condition(self, row: int, condition: dict[str, Any]) -> bool:
        try:
            validate({"all": [condition]}, self.schema)
        except CriteriaError as exc:
            self.add_error(f"c{row}_value", exc.messages)
            return False
        return True


ROW_FIELD = re.compile(r"c(\d+)_(?:field|op|value)")


class ReassignForm(SchemaCriteriaForm):
    """Who receives a user's records and, when one module is chosen, which of them: criteria rows
    (or JSON) over that module's fields. With all modules there are no criteria."""

    owner = MemberChoiceField(queryset=User.objects.none(), label=_("New owner"))

    def __init__(self, *args: Any, org: Any, schema: BoundSchema | None, from_user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema
        self.fields["owner"].queryset = org_members(org).exclude(pk=from_user.pk)
        if schema is None:
            del self.fields["joiner"], self.fields["criteria"]
        else:
            self.add_criteria_fields()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        criteria = data.get("criteria")
        if criteria is not None and self.schema is not None and not self.errors:
            try:
                validate(criteria, self.schema)  # JSON criteria are checked as a whole
            except CriteriaError as exc:
                self.add_error("criteria", exc.messages)
        return data

    def problems(self) -> list[str]:
        """Every error on one line each; a criteria row is named by its number."""
        lines = []
        for name, errors in self.errors.items():
            reason = " ".join(errors)
            match = ROW_FIELD.fullmatch(name)
            if match:
                lines.append(_("Condition %(number)d: %(reason)s") % {"number": int(match[1]) + 1, "reason": reason})
            elif name == "criteria":
                lines.append(_("Criteria: %(reason)s") % {"reason": reason})
            elif name in self.fields:
                lines.append(_("%(field)s: %(reason)s") % {"field": self.fields[name].label, "reason": reason})
            else:
                lines.append(reason)
        return lines
