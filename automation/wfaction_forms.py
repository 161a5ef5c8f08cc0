"""The settings forms of the e-mail and webhook actions in the workflow rule form (each kind's
`form_class`): what they post is given to the kind's `clean`, which decides what is valid."""
from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.forms import org_members
from crm.widgets import member_widget

from .mail_models import EmailTemplate


class _KindForm(forms.Form):
    def __init__(self, *args: Any, schema: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema, self.org = schema, org


class EmailSettingsForm(_KindForm):
    template = forms.ChoiceField(label=_("E-mail template"))
    owner = forms.BooleanField(label=_("The owner"), required=False)
    assignee = forms.BooleanField(label=_("The assignee"), required=False)
    requester = forms.BooleanField(label=_("The requester"), required=False)
    users = forms.ModelMultipleChoiceField(label=_("Users"), queryset=EmailTemplate.objects.none(), required=False,
                                           widget=member_widget(multiple=True))
    field = forms.ChoiceField(label=_("The address in the field"), required=False)
    addresses = forms.CharField(label=_("Other addresses (comma-separated)"), required=False, max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        templates = (EmailTemplate.objects.filter(org=self.org).filter(Q(module="") | Q(module=self.schema.key))
                     .order_by("name"))
        self.fields["template"].choices = [("", "—")] + [(str(t.pk), t.name) for t in templates]
        self.fields["users"].queryset = org_members(self.org)
        self.fields["field"].choices = [("", "—")] + [(s.key, s.label) for s in self.schema.fields
                                                      if s.type == "email"]
        for who, field in (("assignee", "assignee"), ("requester", "requested_by")):
            if not self.schema.has_field(field):
                del self.fields[who]

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        to = config.get("to") or {}
        return {"template": str(config.get("template") or ""), "owner": to.get("owner"),
                "assignee": to.get("assignee"), "requester": to.get("requester"), "users": to.get("users") or [],
                "field": to.get("field", ""), "addresses": ", ".join(to.get("addresses") or [])}

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"template": data.get("template"),
                "to": {"owner": data.get("owner", False), "assignee": data.get("assignee", False),
                       "requester": data.get("requester", False), "users": [u.pk for u in data.get("users") or []],
                       "field": data.get("field", ""), "addresses": data.get("addresses", "")}}


class WebhookSettingsForm(_KindForm):
    url = forms.CharField(label=_("URL (http or https)"), max_length=2000)
    # Shown again when the rule is edited, so saving it unchanged keeps the secret.
    secret = forms.CharField(label=_("Secret for the signature (optional)"), required=False, max_length=200,
                             widget=forms.PasswordInput(render_value=True))
    fields = forms.MultipleChoiceField(label=_("Fields to send"), required=False,
                                       widget=forms.SelectMultiple(attrs={"size": 5}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fields"].choices = [(s.key, s.label) for s in self.schema.fields]

    @classmethod
    def initial_from(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"url": config.get("url", ""), "secret": config.get("secret", ""), "fields": config.get("fields") or []}

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"url": data.get("url", ""), "secret": data.get("secret", ""), "fields": data.get("fields") or []}
