"""Read helpers for record pages: search, estimates, related rows."""
from __future__ import annotations

import functools
import json
import re
from typing import Any

from django.conf import settings
from django.contrib.postgres.lookups import DataContains
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Func, Q, QuerySet, Value
from django.db.models.functions import Upper
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from access.masking import masks_for, unmasked_where

from .fieldspec import FieldSpec
from .fieldtypes import normalize_phone
from .models import Bigrams
from .schema import BoundSchema

PHONE_QUERY_RE = re.compile(r"^[+\d][\d\s\-().]{2,}$")


# The longest search text the type-ahead and global search take: longer than any name worth typing.
MAX_SEARCH_TEXT = 100

# A term this short has no trigram, so pg_trgm would read its whole index: it is matched
# through the bigram indexes instead (crm.models.bigram_index), on names only.
BIGRAM_TERM_LENGTH = 2


def search_fields(schema: BoundSchema, text: str, user: Any = None, *, core_only: bool = False) -> list[FieldSpec]:
    """The fields a term is matched against: the module's search fields the user may see. A
    two-character term matches names only (the text fields with a bigram index); `core_only`
    leaves out custom fields, which have no search index."""
    allowed = {f.key for f in schema.fields_for(user)} if user is not None else None
    short = len(text) == BIGRAM_TERM_LENGTH
    return [spec for spec in schema.search_fields
            if (allowed is None or spec.key in allowed)
            and not (spec.is_custom and (core_only or short))
            and not (short and spec.type != "text")]


def contains_bigram(column: str, text: str) -> DataContains:
    """`crm_bigrams(UPPER(column)) @> ARRAY[UPPER(text)]`: the shape the bigram indexes serve."""
    term = Func(Upper(Value(text)), template="ARRAY[%(expressions)s]", output_field=Bigrams.output_field)
    return DataContains(Bigrams(Upper(column)), term)


def search(queryset: QuerySet, schema: BoundSchema, text: str, user: Any = None, *,
           core_only: bool = False) -> QuerySet:
    """Substring search over the module's search fields the user may see (trigram-indexed;
    works for Chinese; two-character terms through the bigram indexes)."""
    text = (text or "").strip()
    if not text:
        return queryset
    phone_text = normalize_phone(text) if PHONE_QUERY_RE.match(text) else None
    short = len(text) == BIGRAM_TERM_LENGTH
    # A field masked for the user on some records (a pool's) matches only where it is not masked:
    # typing a hidden phone number must not find the record.
    masks = masks_for(user, schema) if user is not None else []
    condition = Q()
    for spec in search_fields(schema, text, user, core_only=core_only):
        if short:
            match = Q(contains_bigram(spec.key, text))
        else:
            needle = phone_text if (spec.type == "phone" and phone_text) else text
            path = f"{spec.json_column}__{spec.key}__icontains" if spec.is_custom else f"{spec.key}__icontains"
            match = Q(**{path: needle})
        unmasked = unmasked_where(masks, spec.key)
        condition |= match & unmasked if unmasked is not None else match
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


@functools.lru_cache(maxsize=256)
def db_order(values: tuple[str, ...]) -> tuple[str, ...]:
    """Texts sorted by the database's collation (which Python's sort does not know)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT v FROM unnest(%s::text[]) AS v ORDER BY v", [list(values)])
        return tuple(row[0] for row in cursor.fetchall())


def count_cap() -> int:
    """How far pages count exactly (settings.CRM_COUNT_CAP); above it they say "10,000+"."""
    return max(1, int(getattr(settings, "CRM_COUNT_CAP", 10_000)))


def _limited_sql(queryset: QuerySet, cap: int, *columns: str) -> tuple[str, tuple] | None:
    """The SQL of `SELECT <columns> ... LIMIT cap+1` for a queryset (None when it can match nothing)."""
    try:
        return queryset.order_by().values(*(columns or ("pk",)))[:cap + 1].query.sql_with_params()
    except EmptyResultSet:
        return None


def bounded_count(queryset: QuerySet, cap: int | None = None) -> int:
    """The number of rows, exact up to `cap`; cap+1 means "more than cap". Reads at most cap+1 rows."""
    return bounded_counts({None: queryset}, cap)[None]


def bounded_counts(querysets: dict[Any, QuerySet], cap: int | None = None) -> dict[Any, int]:
    """{key: bounded count} for several querysets in one query: one `count(*)` over a
    `LIMIT cap+1` subquery per key, so the cost does not grow with the number of rows."""
    cap = count_cap() if cap is None else cap
    counts = {key: 0 for key in querysets}
    parts, params, keys = [], [], []
    for key, queryset in querysets.items():
        limited = _limited_sql(queryset, cap)
        if limited is None:
            continue
        sql, sql_params = limited
        parts.append(f"(SELECT count(*) FROM ({sql}) AS bounded_{len(parts)})")
        params.extend(sql_params)
        keys.append(key)
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(parts)}", params)
            counts.update(zip(keys, cursor.fetchone()))
    return counts


def bounded_groups(queryset: QuerySet, keys: list[str], flags: tuple[str, ...] = (),
                   cap: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Rows {key..., "n", flag...} grouped by `keys` (annotations of `queryset`), counted over
    at most cap+1 of its rows; each flag (a boolean annotation) is counted where true.

    Returns (rows, capped): when capped the set holds more than `cap` rows and every figure
    is a lower bound (the groups of the first cap+1 rows read)."""
    cap = count_cap() if cap is None else cap
    limited = _limited_sql(queryset, cap, *keys, *flags)
    if limited is None:
        return [], False
    sql, params = limited
    quote = connection.ops.quote_name
    group = ", ".join(quote(key) for key in keys)
    counts = ", ".join(["count(*)"] + [f"count(*) FILTER (WHERE {quote(flag)})" for flag in flags])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {group}, {counts} FROM ({sql}) AS bounded GROUP BY {group}", params)
        rows = [dict(zip([*keys, "n", *flags], row)) for row in cursor.fetchall()]
    return rows, sum(row["n"] for row in rows) > cap


def count_label(count: int, capped: bool = False, cap: int | None = None) -> str:
    """A count for display: "1,234"; above the cap "10,000+"; "12+" for a lower bound (`capped`)."""
    cap = count_cap() if cap is None else cap
    if count > cap or capped:
        return _("%(count)s+") % {"count": number_format(min(count, cap), force_grouping=True)}
    return number_format(count, force_grouping=True)


class BoundedCountPaginator(Paginator):
    """Counts exactly up to the count cap (`LIMIT cap+1`); above it the total reads "10,000+"
    and the pages up to the cap can be reached."""

    @cached_property
    def count(self) -> int:
        # django-tables2 hands us its rows wrapper; the queryset sits inside it.
        queryset = getattr(getattr(self.object_list, "data", None), "data", self.object_list)
        if not isinstance(queryset, QuerySet):
            return len(self.object_list)
        return bounded_count(queryset)

    @property
    def capped(self) -> bool:
        return self.count > count_cap()

    @property
    def count_label(self) -> str:
        return count_label(self.count)


def member_names(org: Any, ids: Any = None) -> dict[int, str]:
    """{user id: name} of the org's members (only those of `ids` when given)."""
    from access.models import User

    users = User.objects.filter(memberships__org=org).only("id", "username", "first_name", "last_name")
    if ids is not None:
        users = users.filter(pk__in=ids)
    return {u.pk: str(u) for u in users}
