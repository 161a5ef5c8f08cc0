"""The "My reviews" section of My Work and the review queue's rows: the open cases the user
reviews, each with its record read through `access` and the fields to review, so a reviewer
can mark them reviewed or reject them from the list. A fixed number of queries: the cases, their
count, and one query per module among the cases shown."""
from __future__ import annotations

from typing import Any

from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from access.visibility import visible
from crm import selectors as crm_selectors
from crm.modules import get_module
from crm.work import WorkSection

from .selectors import open_cases_for_reviewer

SHOWN = 10
COUNT_CAP = 99


def review_items(user: Any, cases: list) -> list[dict]:
    """Rows for cases: those whose record the user can no longer open are left out."""
    by_module: dict[str, list[int]] = {}
    for case in cases:
        by_module.setdefault(case.module, []).append(case.record_id)
    records: dict[tuple[str, int], Any] = {}
    schemas: dict[str, Any] = {}
    for module_key, ids in by_module.items():
        try:
            schemas[module_key] = get_module(module_key, user.org).bind(user.org)
        except Http404:
            continue
        for row in visible(user, schemas[module_key], "view", listing=False).filter(pk__in=ids):
            records[(module_key, row.pk)] = row
    items = []
    for case in cases:
        record = records.get((case.module, case.record_id))
        if record is None:
            continue
        schema = schemas[case.module]
        fields = []
        for key in case.fields:
            if not schema.has_field(key):
                continue
            spec = schema.field(key)
            fields.append({"key": key, "label": spec.label, "value": spec.display(record),
                           **case.verdicts.get(key, {})})
        items.append({"case": case, "record": record, "title": str(record), "module": schema.label,
                      "module_key": case.module, "fields": fields,
                      "url": reverse("crm:detail", args=[case.module, record.pk]),
                      "review_url": reverse("reviews:record", args=[case.module, record.pk]),
                      "verdict_url": reverse("reviews:verdict", args=[case.module, record.pk])})
    return items


def my_reviews(user: Any) -> WorkSection | None:
    cases = open_cases_for_reviewer(user)
    count = crm_selectors.bounded_count(cases, COUNT_CAP)
    if not count:
        return None
    items = review_items(user, list(cases[:SHOWN]))
    return WorkSection(key="reviews", title=_("My reviews"), items=items, count=min(count, COUNT_CAP),
                       capped=count > COUNT_CAP, template="reviews/work_section.html",
                       more_url=reverse("reviews:queue") if count > SHOWN else "")


def reviews_waiting(user: Any) -> int:
    return crm_selectors.bounded_count(open_cases_for_reviewer(user), COUNT_CAP)
