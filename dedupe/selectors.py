"""Finding duplicates: groups of records whose chosen fields are equal once normalised.

The normalisation runs in PostgreSQL, so the groups are a GROUP BY ... HAVING count(*) > 1 over
the records the user may see, never a Python loop over rows:
- text, e-mail, URL: Unicode NFKC (full-width letters and digits become ASCII, the ideographic
  space a space), lower case, runs of white space collapsed, trimmed;
- phone: NFKC, digits only; an international prefix ("+" or "00") is kept as "+", the default
  country's prefix (+86 / 0086, settings.DEDUPE_PHONE_COUNTRY) and a national trunk "0" dropped,
  so "+86 138 0013 8000", "0086-13800138000" and "138 0013 8000" are one number.

The grouping looks at the newest DEDUPE_SCAN_ROWS records the user may see (by id), so a page
costs the same on a million-row table; the page says when older records were left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import CharField, Count, F, Func, Min, Q, QuerySet, Value, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, RowNumber

from access.visibility import visible

MATCH_TYPES = ("text", "email", "phone", "url")
GROUPS_PER_PAGE = 20
RECORDS_PER_GROUP = 10
MAX_MERGED = 3  # a merge takes two or three records


class Normalised(Func):
    """A text value as duplicates compare it: NFKC, lower case, white space collapsed."""

    template = r"lower(btrim(regexp_replace(normalize(%(expressions)s, NFKC), '\s+', ' ', 'g')))"
    output_field = CharField()


class NormalisedPhone(Func):
    """A phone as duplicates compare it (see the module's docstring)."""

    output_field = CharField()

    def __init__(self, expression: Any, country: str) -> None:
        country = "".join(ch for ch in str(country) if ch.isdigit())
        # Digits and "+" only; "00" -> "+"; "+<country>" and a leading trunk "0" dropped.
        self.template = (
            "regexp_replace(regexp_replace(regexp_replace(regexp_replace("
            r"normalize(%(expressions)s, NFKC), '[^0-9+]', '', 'g'), '^00', '+'), "
            f"'^\\+{country}', ''), '^0', '')" if country else
            "regexp_replace(regexp_replace("
            r"normalize(%(expressions)s, NFKC), '[^0-9+]', '', 'g'), '^00', '+')")
        super().__init__(expression)


def matchable_fields(schema: Any, user: Any) -> list[Any]:
    """The fields duplicates can be matched on: text-like fields the user may see."""
    return [spec for spec in schema.fields_for(user) if spec.type in MATCH_TYPES]


def default_fields(fields: list[Any]) -> list[str]:
    """E-mail when the module has one, else phone, else the first text field."""
    for type_name in ("email", "phone", "text"):
        for spec in fields:
            if spec.type == type_name:
                return [spec.key]
    return []


def normalised(spec: Any) -> Func:
    column = KeyTextTransform(spec.key, spec.json_column) if spec.is_custom else F(spec.key)
    value = Coalesce(column, Value(""), output_field=CharField())
    if spec.type == "phone":
        return NormalisedPhone(value, getattr(settings, "DEDUPE_PHONE_COUNTRY", "86"))
    return Normalised(value)


def scanned(user: Any, schema: Any) -> QuerySet:
    """The records the grouping looks at: the newest DEDUPE_SCAN_ROWS the user may see."""
    newest = visible(user, schema, "view").order_by("-pk").values("pk")[:settings.DEDUPE_SCAN_ROWS]
    return visible(user, schema, "view").filter(pk__in=newest)


def scan_capped(user: Any, schema: Any) -> bool:
    """Whether older records were left out of the grouping (one bounded index scan)."""
    cap = settings.DEDUPE_SCAN_ROWS
    return visible(user, schema, "view").order_by("-pk")[cap:cap + 1].exists()


@dataclass
class Group:
    key: tuple[str, ...]
    size: int
    records: list[Any] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [record.pk for record in self.records]


def _keyed(user: Any, schema: Any, specs: list[Any]) -> tuple[QuerySet, list[str]]:
    names = [f"dedupe_k{i}" for i in range(len(specs))]
    rows = scanned(user, schema).annotate(**{name: normalised(spec) for name, spec in zip(names, specs)})
    for name in names:  # an empty value matches nothing
        rows = rows.exclude(**{name: ""})
    return rows, names


def duplicate_groups(user: Any, schema: Any, specs: list[Any], *, page: int = 1) -> tuple[list[Group], bool]:
    """One page of groups (largest first) with up to RECORDS_PER_GROUP records each, and whether
    another page follows. Two queries, however many records and groups."""
    if not specs:
        return [], False
    rows, names = _keyed(user, schema, specs)
    offset = (max(page, 1) - 1) * GROUPS_PER_PAGE
    found = list(rows.order_by().values(*names).annotate(dedupe_n=Count("pk"), dedupe_first=Min("pk"))
                 .filter(dedupe_n__gt=1).order_by("-dedupe_n", "dedupe_first")[offset:offset + GROUPS_PER_PAGE + 1])
    more = len(found) > GROUPS_PER_PAGE
    groups = {tuple(item[name] for name in names): Group(tuple(item[name] for name in names), item["dedupe_n"])
              for item in found[:GROUPS_PER_PAGE]}
    if not groups:
        return [], more
    wanted = Q()
    for key in groups:
        wanted |= Q(**dict(zip(names, key)))
    members = (rows.filter(wanted)
               .annotate(dedupe_rank=Window(RowNumber(), partition_by=[F(name) for name in names], order_by=F("pk").asc()))
               .filter(dedupe_rank__lte=RECORDS_PER_GROUP)
               .select_related(*schema.select_related).order_by("pk"))
    for record in members:
        groups[tuple(getattr(record, name) for name in names)].records.append(record)
    return list(groups.values()), more


def merge_candidates(user: Any, schema: Any, ids: list[int]) -> list[Any]:
    """The records a merge page names, in the order given, among those the user may see (one
    query); the caller compares the count to find unknown ids."""
    found = {record.pk: record for record in
             visible(user, schema, "view", listing=False).filter(pk__in=ids).select_related(*schema.select_related)}
    return [found[pk] for pk in ids if pk in found]
