"""Hand-written twins of the pages' main SQL, for bench/pages.py.

Each twin is written by hand around the same visibility predicate the page runs: the WHERE that
`access.visible(user, schema, "view")` compiles for that user (org, live rows and the grants of
`access.visibility.named_grants` ORed), with values inlined. What the twin writes by hand is the
rest: the select list and joins, the page's own conditions (search, kanban column), the order,
the page and the `LIMIT cap+1` bounded counts. So a ratio above 1 is the cost of the shape of the
query the page builds, not of the predicate (bench/sharing_visibility.py compares the predicate
itself with one written by hand).

The page's own SQL is picked from what the page ran (captured through the test client) by its
shape; a twin whose result differs from the page's SQL is reported as such in its note.
Import after django.setup().
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import connection

from access.visibility import visible
from crm import selectors
from crm.modules import get_module

PER_PAGE = 25
CARDS = 20
REQUESTS = 50
UNASSIGNED = 20
LOOKUP = 20  # type-ahead matches
CANDIDATES = 200  # matches the type-ahead reads before sorting them by name


@dataclass
class Twin:
    label: str
    main_sql: str  # the page's own SQL text, values inlined
    hand: tuple[str, Any]  # the twin: (sql, params)
    note: str = ""


def literal(value: Any) -> str:
    """A value as an SQL literal (the twins inline values, as the captured SQL does)."""
    return connection.ops.compose_sql("%s", [value])


def predicate(user: Any, schema: Any) -> str:
    """The WHERE of `visible(user, schema, "view")`, values inlined."""
    sql = connection.ops.compose_sql(*visible(user, schema, "view").order_by().query.sql_with_params())
    return sql[sql.index(" WHERE ") + len(" WHERE "):]


def joins(schema: Any, table: str) -> tuple[str, str]:
    """(select list, joins) of the record and the users/records `schema.select_related` names."""
    model = schema.model
    columns, joined = [f'"{table}".*'], []
    for i, name in enumerate(schema.select_related):
        fk = model._meta.get_field(name)
        alias = f"j{i}"
        kind = "LEFT JOIN" if fk.null else "JOIN"
        joined.append(f'{kind} {fk.related_model._meta.db_table} {alias} ON {alias}.id = "{table}".{fk.column}')
        columns.append(f"{alias}.*")
    return ", ".join(columns), " ".join(joined)


def search_condition(schema: Any, table: str, text: str) -> str:
    """selectors.search written by hand: UPPER(field) LIKE UPPER('%text%') over the search fields, or for a
    two-character term the bigram containment over the name fields."""
    if not text:
        return ""
    if len(text) == 2:  # no trigram: names only, through the bigram indexes (crm_bigrams)
        return " AND (" + " OR ".join(
            f'crm_bigrams(UPPER("{table}"."{spec.key}"::text)) @> ARRAY[UPPER({literal(text)})]'
            for spec in schema.search_fields if spec.type == "text" and not spec.is_custom) + ")"
    like = literal("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    parts = []
    for spec in schema.search_fields:
        column = (f'("{table}"."{spec.json_column}" ->> {literal(spec.key)})' if spec.is_custom
                  else f'"{table}"."{spec.key}"::text')
        parts.append(f"UPPER({column}) LIKE UPPER({like})")
    return f" AND ({' OR '.join(parts)})"


def _order(schema: Any, table: str, sort: str) -> str:
    descending = sort.startswith("-")
    key = sort.lstrip("-") or "modified_at"
    direction = "DESC" if descending else "ASC"
    if key == "modified_at" and not sort:
        return f'"{table}"."modified_at" DESC, "{table}"."id" DESC'
    spec = schema.field(key) if schema.has_field(key) else None
    if spec is not None and spec.is_custom:
        # As crm.criteria.field_expression writes it (and the field's index holds it); nulls in
        # PostgreSQL's default place, so one index serves both directions.
        text = f'("{table}"."{spec.json_column}" ->> {literal(spec.key)})'
        expression = {"integer": f"{text}::bigint", "decimal": f"{text}::numeric", "currency": f"{text}::numeric",
                      "date": f"crm_json_date({text})", "datetime": f"crm_json_timestamptz({text})"
                      }.get(spec.type, text)
        return f'{expression} {direction}, "{table}"."id" {direction}'
    return f'"{table}"."{key}" {direction}, "{table}"."id" {direction}'


def _bounded(table: str, where: str, cap: int) -> str:
    return f'(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT {cap + 1}) AS s)'


def _find(sql: list[str], *, starts: str, contains: tuple[str, ...] = ()) -> str | None:
    return next((q for q in sql if q.startswith(starts) and all(c in q for c in contains)), None)


def _group_spec(schema: Any, user: Any) -> Any:
    picklists = [spec for spec in schema.fields_for(user) if spec.type == "picklist"]
    if schema.kind == "team":
        return next((spec for spec in picklists if spec.key == "status"), None)
    return picklists[0] if picklists else None


def twins_for(kind: str, user: Any, bench: Any, path: str, sql: list[str]) -> list[Twin]:
    module_key = path.strip("/").split("/")[1] if path.startswith("/m/") else bench.team_module.key
    schema = get_module(module_key, bench.org).bind(bench.org)
    table = schema.model._meta.db_table
    where = predicate(user, schema)
    params = {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}
    select, joined = joins(schema, table)
    cap = selectors.count_cap()
    twins: list[Twin] = []

    def add(label: str, main: str | None, hand: str, note: str = "") -> None:
        if main is not None:
            twins.append(Twin(label, main, (hand, None), note))

    if kind == "list":
        search = search_condition(schema, table, params.get("q", ""))
        offset = (int(params.get("page", 1)) - 1) * PER_PAGE
        add("count (bounded)", _find(sql, starts="SELECT (SELECT count(*)", contains=(f'"{table}"',)),
            f"SELECT {_bounded(table, where + search, cap)}")
        add("page", _find(sql, starts=f'SELECT "{table}"."id", ', contains=(" ORDER BY ", " LIMIT ")),
            f"SELECT {select} FROM {table} {joined} WHERE {where}{search} "
            f"ORDER BY {_order(schema, table, params.get('sort', ''))} LIMIT {PER_PAGE} OFFSET {offset}")
    elif kind == "detail":
        record_id = int(path.strip("/").split("/")[2])
        add("record", _find(sql, starts=f'SELECT "{table}"."id", ', contains=(f'"{table}"."id" = {record_id}',)),
            f'SELECT * FROM {table} WHERE {where} AND "{table}"."id" = {record_id}')
    elif kind == "kanban":
        spec = _group_spec(schema, user)
        if spec is not None and not spec.is_custom:
            values = [choice.value for choice in spec.options]
            column = f'"{table}"."{spec.key}"'
            conditions = [f"{column} = {literal(v)}" for v in values]
            # The empty column: no value, or one outside the options (the ranges between them).
            ordered = sorted(values)  # the bench database's collation is C, so Python's order is its order
            gaps = [f"{column} < {literal(ordered[0])}", f"{column} > {literal(ordered[-1])}"]
            gaps += [f"({column} > {literal(a)} AND {column} < {literal(b)})" for a, b in zip(ordered, ordered[1:])]
            conditions.append(f"({column} IS NULL OR {' OR '.join(gaps)})")
            add(f"column counts by {spec.key}", _find(sql, starts="SELECT (SELECT count(*)", contains=(f'"{table}"',)),
                "SELECT " + ", ".join(_bounded(table, f"{where} AND {c}", cap) for c in conditions))
            cards = " UNION ALL ".join(
                f"(SELECT {select} FROM {table} {joined} WHERE {where} AND {c} "
                f'ORDER BY "{table}"."modified_at" DESC, "{table}"."id" DESC LIMIT {CARDS})'
                for c in conditions[:-1])  # the page asks only non-empty columns: compared below
            add("first cards of every column", _find(sql, starts=f'(SELECT "{table}"."id" AS "col1"'), cards,
                "twin reads every column; the page only the non-empty ones")
    elif kind == "chart":
        person = "assignee_id" if schema.has_field("assignee") else "owner_id"
        values = ", ".join(literal(s["value"]) for s in getattr(schema, "team_module").statuses)
        done = ", ".join(literal(v) for v in schema.team_module.done_statuses or [""])
        add("person x status groups", _find(sql, starts='SELECT "chart_person"'),
            f'SELECT person, col, count(*), count(*) FILTER (WHERE done) FROM (SELECT "{table}".{person} AS person, '
            f'CASE WHEN "{table}"."status" IN ({values}) THEN "{table}"."status" ELSE \'\' END AS col, '
            f'"{table}"."status" IN ({done}) AS done FROM {table} WHERE {where} LIMIT {cap + 1}) AS b GROUP BY 1, 2')
        add("unassigned panel", _find(sql, starts=f'SELECT "{table}"."id", ', contains=(f'"{table}"."{person}" IS NULL',)),
            f"SELECT {select} FROM {table} {joined} WHERE {where} AND \"{table}\".{person} IS NULL "
            f'ORDER BY "{table}"."modified_at" DESC, "{table}"."id" DESC LIMIT {UNASSIGNED}')
    elif kind == "lookup":
        search = search_condition(schema, table, params.get("q", ""))
        title = schema.title_field
        # The first CANDIDATES matches the search indexes give, sorted by name (crm.lookup_views).
        add("matches", _find(sql, starts=f'SELECT "{table}"."id", ', contains=(f" LIMIT {LOOKUP}",)),
            f'SELECT * FROM {table} WHERE {where} AND "{table}"."id" IN (SELECT "{table}"."id" FROM {table} '
            f'WHERE {where}{search} LIMIT {CANDIDATES}) ORDER BY "{table}"."{title}" ASC, "{table}"."id" ASC '
            f"LIMIT {LOOKUP}")
    elif kind == "requests":
        mine = f'"{table}"."requested_by_id" = {user.pk}'
        add("own requests", _find(sql, starts=f'SELECT "{table}"."id", ', contains=(mine + ")",)),
            f'SELECT "{table}".*, a.* FROM {table} LEFT JOIN access_user a ON a.id = "{table}".assignee_id '
            f'WHERE {where} AND {mine} ORDER BY "{table}"."modified_at" DESC LIMIT {REQUESTS}')
    return twins


def same_rows(main: list, hand: list) -> bool:
    """Whether the page's SQL and its twin agree: the same first column (ids or counts)."""
    return [row[0] for row in main] == [row[0] for row in hand] or sorted(map(tuple, main)) == sorted(map(tuple, hand))
