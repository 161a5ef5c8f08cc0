"""crm's sections of My Work (registered from CrmConfig.ready): the user's open tasks, overdue
first, and the records they opened lately. Each reads through `access.visible` and costs a fixed
number of queries however many items there are."""
from __future__ import annotations

from typing import Any

from django.db.models import F, Q
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from access.visibility import visible

from . import recent, selectors
from .modules import get_module
from .work import WorkSection

SHOWN = 10  # items a section shows; the rest are a link away
COUNT_CAP = 99  # counts above this read "99+"
DONE_TASK_STATUSES = ("completed",)


def _open_tasks(user: Any):
    schema = get_module("tasks", user.org)
    mine = Q(assignee_id=user.pk) | Q(assignee__isnull=True, owner_id=user.pk)
    return visible(user, schema, "view").filter(mine).exclude(status__in=DONE_TASK_STATUSES)


def my_tasks(user: Any) -> WorkSection | None:
    """Open tasks assigned to the user (or theirs and unassigned): overdue first, then by due
    date, undated last. Two queries."""
    tasks = _open_tasks(user)
    count = selectors.bounded_count(tasks, COUNT_CAP)
    if not count:
        return None
    today = timezone.localdate()
    rows = list(tasks.order_by(F("due_date").asc(nulls_last=True), "pk")
                .only("pk", "subject", "due_date", "status", "org_id")[:SHOWN])
    items = [{"title": row.subject, "url": reverse("crm:detail", args=["tasks", row.pk]), "due": row.due_date,
              "overdue": bool(row.due_date and row.due_date < today), "pk": row.pk} for row in rows]
    return WorkSection(key="tasks", title=_("My tasks"), items=items, count=min(count, COUNT_CAP),
                       capped=count > COUNT_CAP, template="crm/work/tasks.html",
                       more_url=reverse("crm:list", args=["tasks"]) if count > SHOWN else "")


def overdue_tasks(user: Any) -> int:
    """For the navigation bar: open tasks past their due date (one query)."""
    return selectors.bounded_count(_open_tasks(user).filter(due_date__lt=timezone.localdate()), COUNT_CAP)


def recently_viewed(user: Any) -> WorkSection | None:
    """The records the user opened lately that they may still open: one query per module among
    the last SHOWN entries (so at most SHOWN queries, whatever else exists)."""
    entries = recent.recent(user)[:SHOWN]
    if not entries:
        return None
    by_module: dict[str, list[int]] = {}
    for module_key, pk in entries:
        by_module.setdefault(module_key, []).append(pk)
    found: dict[tuple[str, int], dict] = {}
    for module_key, ids in by_module.items():
        try:
            schema = get_module(module_key, user.org)
        except Http404:  # a team module retired since
            continue
        for row in visible(user, schema, "view").filter(pk__in=ids):
            found[(module_key, row.pk)] = {"title": str(row), "module": schema.label,
                                           "url": reverse("crm:detail", args=[module_key, row.pk])}
    items = [found[entry] for entry in entries if entry in found]
    if not items:
        return None
    return WorkSection(key="recent", title=_("Recently viewed"), items=items, count=len(items),
                       template="crm/work/recent.html")


def register() -> None:
    from .work import register_work_section

    register_work_section(my_tasks, order=40, counter=overdue_tasks)
    register_work_section(recently_viewed, order=90)
