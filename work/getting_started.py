"""The getting-started list a new organisation's administrator sees on My Work instead of an
empty page: add users, create a team space, import data. Shown while the organisation is small
(fewer than SMALL_ORG active members) and a step is still to do; each step is ticked off by what
exists, not by a flag (the last one by a finished import). Three queries."""
from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from access.models import Membership
from access.visibility import is_org_admin
from crm.work import WorkSection

SMALL_ORG = 5
IMPORT_MODULE = "leads"  # where most organisations' first spreadsheet goes


def getting_started(user: Any) -> WorkSection | None:
    if not is_org_admin(user):
        return None
    from imports.models import ImportJob
    from teams.models import TeamSpace

    org = user.org
    members = Membership.objects.filter(org=org, is_active=True)[:SMALL_ORG].count()
    if members >= SMALL_ORG:
        return None
    has_space = TeamSpace.objects.filter(org=org).exists()
    has_import = ImportJob.objects.filter(org=org, status=ImportJob.Status.DONE).exists()
    steps = [
        {"key": "users", "done": members > 1, "title": _("Add users"), "url": reverse("users"),
         "text": _("Invite the people you work with and give each a role.")},
        {"key": "team_space", "done": has_space, "title": _("Create a team space"), "url": reverse("teams:spaces"),
         "text": _("A space for a team's own record types, its members and its requests.")},
        {"key": "import", "done": has_import, "title": _("Bring your data in"),
         "url": reverse("imports:start", args=[IMPORT_MODULE]),
         "text": _("Import your leads from a spreadsheet (CSV or Excel); other modules have an Import "
                   "link on their list page too.")},
    ]
    if all(step["done"] for step in steps):
        return None
    return WorkSection(key="getting_started", title=_("Getting started"), items=steps,
                       count=sum(not step["done"] for step in steps), template="work/getting_started.html")
