"""The "Find duplicates" and "Merge" links on a module's list page, for those who may open it."""
from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from access.decisions import decide_module


def list_actions(user: Any, schema: Any) -> list[dict[str, Any]]:
    if not decide_module(user, schema, "open").allowed:
        return []
    return [
        {"label": _("Find duplicates"), "title": _("Find records with the same e-mail, phone or name"),
         "url": reverse("dedupe:find", args=[schema.key]), "icon": "intersect", "scope": "list"},
        {"label": _("Merge"), "title": _("Merge the chosen records (two or three) into one"),
         "url": reverse("dedupe:merge", args=[schema.key]), "icon": "union", "scope": "selected"},
    ]
