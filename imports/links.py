"""The "Import" link on a module's list page, offered when the decision point lets the user
import into the module."""
from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from access.decisions import decide_module


def list_actions(user: Any, schema: Any) -> list[dict[str, Any]]:
    if not decide_module(user, schema, "import").allowed:
        return []
    return [{"label": _("Import"), "title": _("Import records from a CSV or Excel file"),
             "url": reverse("imports:start", args=[schema.key]), "icon": "upload", "scope": "list"}]
