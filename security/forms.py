"""The security log's filter: kind, person, and the page (a cursor)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from access.models import User
from crm.widgets import member_widget

from .selectors import decode_cursor, log_kinds


class PageField(forms.CharField):
    """A keyset page: the cursor a "Older" link carries."""

    def __init__(self, parts: int, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=80, widget=forms.HiddenInput, **kwargs)
        self.parts = parts

    def clean(self, value: Any) -> tuple | None:
        text = super().clean(value)
        if not text:
            return None
        cursor = decode_cursor(text, self.parts)
        if cursor is None:
            raise forms.ValidationError(_("This page link is not valid; start again from the newest entries."))
        return cursor


class HistoryPageForm(forms.Form):
    before = PageField(1)


class SecurityLogFilterForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Event"), required=False)
    user = forms.ModelChoiceField(label=gettext_lazy("User"), required=False, queryset=User.objects.none(),
                                  widget=member_widget(), empty_label=gettext_lazy("Anyone"))
    before = PageField(2)

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Any"))] + log_kinds()
        # Members of this org only (deactivated ones too): anyone else is not a valid choice.
        self.fields["user"].queryset = User.objects.filter(memberships__org=org)
        self.fields["user"].error_messages["invalid_choice"] = _("Choose a user of this organisation.")
        self.fields["kind"].widget.attrs["class"] = "form-select form-select-sm"
        self.fields["user"].widget.attrs["class"] = "form-select form-select-sm"
