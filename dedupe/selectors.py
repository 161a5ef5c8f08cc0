"""Finding duplicates: groups of records whose chosen fields are equal once normalised.

The normalisation runs in PostgreSQL, so the groups are a GROUP BY ... HAVING count(*) > 1 over
the records the user may see, never a Python loop over rows:
- text, e-mail, URL: Unicode NFKC (full-width letters and digits become ASCII, the ideographic
  space a space), lower case, runs of white space collapsed, trimmed;
- phone: NFKC, digits only; an international prefix ("+" or "00") is kept as "+", the default
  country's prefix (+86 / 0086, settings.DEDUPE_PHONE_COUNTRY) and a national trunk "0" dropped,
  so "+86 138 0013 8000", "0086-13800138000" and "138 0013 8000" are one number;
- a company's name (a lead's company, an account's name: COMPANY_NAME_FIELDS): as text, then
  punctuation dropped, a trailing legal form (有限公司, 集团, Co., Ltd., Inc., GmbH ...) dropped,
  and spaces removed, so "北京星辰科技有限公司" is "北京星辰科技" and "Acme Co., Ltd." is "ACME".

The customer pools' door (pool.door) compares records entering a pool by the same expressions,
through expression indexes built from them (pool's migrations): a change of these templates (or
of DEDUPE_PHONE_COUNTRY) needs those indexes rebuilt (`manage.py rebuild_door_indexes`).

The grouping looks at the newest DEDUPE_SCAN_ROWS records the user may see (by id), so a page
costs the same on a million-row table; the page says when older records were left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import CharField, Count, Expression, F, Func, Min, Q, QuerySet, Value, Window
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


# Legal forms dropped from the end of a company's name (repeatedly: "集团有限公司", "Co., Ltd.").
# Chinese forms need no space before them; Latin ones are whole words.
COMPANY_SUFFIXES = (r"(\s*(有限责任公司|股份有限公司|有限公司|集团|公司)"
                    r"|\s+(co\s*ltd|ltd|co|inc|incorporated|llc|gmbh|corp|corporation|limited|company|plc))+$")
# Punctuation read as a space in a company's name (after NFKC: full-width brackets are plain ones).
COMPANY_PUNCTUATION = r"[\s()\[\]{}.,;:!?·&/_+*#@《》「」【】、。-]+"
# Fields that hold a company's name, per module: compared as names (see the module's docstring).
COMPANY_NAME_FIELDS = {("leads", "company"), ("accounts", "name")}


class NormalisedCompany(Func):
    """A company's name as duplicates compare it (see the module's docstring)."""

    template = ("replace(regexp_replace(btrim(regexp_replace(" + Normalised.template +
                f", '{COMPANY_PUNCTUATION}', ' ', 'g')), '{COMPANY_SUFFIXES}', ''), ' ', '')")
    output_field = CharField()


def normalise(expression: Any, kind: str) -> Func:
    """`expression` (a text value) normalised as `kind`: "phone", "company" or any other text."""
    if kind == "phone":
        return NormalisedPhone(expression, getattr(settings, "DEDUPE_PHONE_COUNTRY", "86"))
    if kind == "company":
        return NormalisedCompany(expression)
    return Normalised(expression)


def match_kind(spec: Any, module_key: str = "") -> str:
    """How a field's values are compared: "phone", "company" (a company's name) or "text"."""
    if spec.type == "phone":
        return "phone"
    if (module_key, spec.key) in COMPANY_NAME_FIELDS and not spec.is_custom:
        return "company"
    return "text"


class _Column(Expression):
    """A column of the `unnest(...)` that `normalise_values` reads from."""

    output_field = CharField()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list]:
        return self.name, []


def normalise_values(kinds: list[str], columns: list[list[Any]]) -> list[tuple[str, ...]]:
    """Plain values (not yet stored: rows entering a pool, an import's rows) normalised by the
    same SQL expressions as stored ones, in one query: `columns[i]` holds the values normalised
    as `kinds[i]`; the answer is one tuple per row, in order."""
    from django.db import connection
    from django.db.models.sql import Query

    if not kinds or not columns[0]:
        return []
    compiler = Query(None).get_compiler(connection=connection)
    selects, params = [], []
    for i, kind in enumerate(kinds):
        value = Coalesce(_Column(f"t.v{i}"), Value(""), output_field=CharField())
        sql, found = normalise(value, kind).as_sql(compiler, connection)
        selects.append(sql)
        params.extend(found)
    arrays = ", ".join("%s::text[]" for _kind in kinds)
    names = ", ".join(f"v{i}" for i in range(len(kinds)))
    sql = f"SELECT {', '.join(selects)} FROM unnest({arrays}) WITH ORDINALITY AS t({names}, n) ORDER BY t.n"
    params += [[None if v is None else str(v) for v in column] for column in columns]
    with connection.cursor() as cursor:  # a SELECT of expressions over the given values: reads nothing
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


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


def normalised(spec: Any, module_key: str = "") -> Func:
    """A field's stored value, normalised as duplicates compare it."""
    column = KeyTextTransform(spec.key, spec.json_column) if spec.is_custom else F(spec.key)
    value = Coalesce(column, Value(""), output_field=CharField())
    return normalise(value, match_kind(spec, module_key))


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
    rows = scanned(user, schema).annotate(**{name: normalised(spec, schema.key) for name, spec in zip(names, specs)})
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
