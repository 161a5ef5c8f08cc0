"""Reading notification preferences, and the form of the preferences page."""
from __future__ import annotations

from typing import Iterable

from django import forms

from .messages import KIND_LABELS
from .models import Channel, NotificationPreference

DEFAULT = Channel.IN_APP


def channels(org_id: int, user_ids: Iterable[int], kind: str) -> dict[int, str]:
    """Each user's channel for `kind` in the org (one query); users with no choice get the default."""
    ids = list(user_ids)
    chosen = dict(NotificationPreference.objects.filter(org_id=org_id, user_id__in=ids, kind=kind)
                  .values_list("user_id", "channel"))
    return {pk: chosen.get(pk, DEFAULT) for pk in ids}


def preferences_of(user) -> dict[str, str]:
    """The user's channel for every kind, in their current org."""
    chosen = dict(NotificationPreference.objects.filter(org=user.org, user=user).values_list("kind", "channel"))
    return {kind: chosen.get(kind, DEFAULT) for kind in KIND_LABELS}


class PreferencesForm(forms.Form):
    """One choice per kind of notification."""

    def __init__(self, *args, initial: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, initial=initial, **kwargs)
        for kind, label in KIND_LABELS.items():
            self.fields[kind] = forms.ChoiceField(label=label, choices=Channel.choices, widget=forms.RadioSelect)
