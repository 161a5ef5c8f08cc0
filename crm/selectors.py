"""Read helpers for record pages: search, estimates, related rows."""
from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property

from .fieldtypes import normalize_phone
from .schema import BoundSchema

EXACT_COUNT_LIMIT = 100_000
PHONE_QUERY_RE = re.compile(r"^[+\d][\d\s\-().]{2,}$")


def search(queryset: QuerySet, schema: BoundSchema, text: str, user: Any = None) -> QuerySet:
    """Substring search over the module's search fields the user may see (trigram-indexed;
    works for Chinese)."""
    text = (text or "").strip()
    if not text:
        return queryset
    phone_text = normalize_phone(text) if PHONE_QUERY_RE.match(text) else None
    condition = Q()
    allowed = {f.key for f in schema.fields_for(user)} if user is not None else None
    for spec in schema.search_fields:
        if allowed is not None and spec.key not in allowed:
            continue
        needle = phone_text if (spec.type == "phone" and phone_text) else text
        path = f"{spec.json_column}__{spec.key}__icontains" if spec.is_custom else f"{spec.key}__icontains"
        condition |= Q(**{path: needle})
    return queryset.filter(condition) if condition else queryset.none()


def planner_estimate(queryset: QuerySet) -> int:
    """The planner's row estimate for a queryset (no scan)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to EXACT_COUNT_LIMIT rows; past that shows the planner's estimate."""

    estimated = False

    @cached_property
    def count(self) -> int:
        # django-tables2 hands us its rows wrapper; the queryset sits inside it.
        queryset = getattr(getattr(self.object_list, "data", None), "data", self.object_list)
        if not isinstance(queryset, QuerySet):
            return len(self.object_list)
        queryset = queryset.order_by()
        estimate = planner_estimate(queryset)
        if estimate > EXACT_COUNT_LIMIT:
            self.estimated = True
            return estimate
        return queryset.count()


def member_names(org: Any) -> dict[int, str]:
    from access.models import User

    users = User.objects.filter(memberships__org=org).only("id", "username", "first_name", "last_name")
    return {u.pk: str(u) for u in users}
