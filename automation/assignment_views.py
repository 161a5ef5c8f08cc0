"""The assignment rules' settings pages, their dry run and run log, and the list pages' "assign
by rule" actions."""
from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from .assignment_choice import active_rule
from .settings_views import may_configure


def list_actions(user: Any, schema: Any) -> list[dict[str, Any]]:
    """For whoever may configure the module, while it has an active rule: run it on the chosen
    records, or on the whole filtered list."""
    if getattr(user, "org", None) is None or not may_configure(user, schema):
        return []
    rule = active_rule(user.org.pk, schema.key)
    if rule is None:
        return []
    try:
        return [
            {"label": _("Assign by rule “%(name)s”") % {"name": rule.name}, "icon": "person-check",
             "url": reverse("automation:assignment_run_selected", args=[schema.key]), "scope": "selected"},
            {"label": _("Assign the whole list by rule"), "icon": "people",
             "url": reverse("automation:assignment_run_list", args=[schema.key]), "scope": "list"},
        ]
    except NoReverseMatch:
        return []
