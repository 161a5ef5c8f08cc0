"""What an export reads: the list's columns the user may export, and the list's records (its
search, filters and order over `access.visible(user, module, "export")`)."""
from __future__ import annotations

from typing import Any

from django.http import Http404, QueryDict

from access.decisions import module_field_rules
from access.visibility import visible
from crm import selectors as crm_selectors
from crm.filters import build_filterset
from crm.schema import BoundSchema, FieldSpec
from crm.tables import orderable, sort_rows

from .models import ExportJob


def export_fields(user: Any, schema: BoundSchema, keys: list[str] | None) -> list[FieldSpec]:
    """The list's columns, as the list page shows them: the title first, then the chosen columns
    (or the module's default ones), only fields the user may see (the profile, team requesters,
    and every field rule of the decision point)."""
    hidden, _read_only = module_field_rules(user, schema)
    allowed = {spec.key: spec for spec in schema.fields_for(user) if spec.key not in hidden}
    chosen = [allowed[key] for key in keys or [] if key in allowed]
    if not chosen:
        chosen = [spec for spec in schema.list_fields if spec.key in allowed]
    title = allowed.get(schema.title_field)
    columns = [title] if title is not None else []
    seen = {schema.title_field}
    for spec in chosen:
        if spec.key not in seen:
            seen.add(spec.key)
            columns.append(spec)
    return columns


def chosen_keys(query: QueryDict, session: Any, schema: BoundSchema) -> list[str]:
    """The columns the list shows: those in the query, else those the list page remembered."""
    if "columns" in query:
        return query.getlist("columns")
    return list(session.get(f"columns:{schema.key}") or [])


def export_sorted(schema: BoundSchema, fields: list[FieldSpec], queryset: Any, sort: str) -> Any:
    """The rows in the list page's order: its `sort` column if the user may see that field and
    the list offers that sort (read as the list reads it, `crm.tables.sort_rows`), else newest
    first."""
    descending, key = sort.startswith("-"), sort.lstrip("-")
    spec = next((f for f in fields if f.key == key), None)
    if spec is None or not (spec.key == schema.title_field or orderable(schema, spec)):
        return queryset.order_by("-modified_at", "-pk")
    return sort_rows(schema, spec, queryset, descending)


def export_queryset(user: Any, schema: BoundSchema, fields: list[FieldSpec],
                    query: QueryDict) -> tuple[Any, dict[str, Any]]:
    """The rows to export (the list's search and filters over `visible(..., "export")`, never a
    record in the recycle bin or of another org) and the filters as asked, for the access log."""
    base = visible(user, schema, "export")
    base = crm_selectors.search(base, schema, query.get("q", ""), user)
    filterset = build_filterset(schema, query or None, base, user)
    queryset = filterset.qs if filterset.is_bound else base
    # People in the record's own columns come with it; linked records are named per chunk
    # through access.linked (exports.resources).
    people = [f.key for f in fields if f.type == "user" and not f.is_custom]
    if people:  # select_related() with no names would join every relation
        queryset = queryset.select_related(*people)
    queryset = export_sorted(schema, fields, queryset, query.get("sort", ""))
    names = set(filterset.form.fields) | {"q", "sort"}
    asked: dict[str, Any] = {}
    for key in query:
        if key in names:
            values = [value for value in query.getlist(key) if value != ""]
            if values:
                asked[key] = values if len(values) > 1 else values[0]
    return queryset, asked


def has_more_than(queryset: Any, limit: int) -> tuple[bool, int]:
    """(whether there are more than `limit` rows, how many up to limit + 1): a count that stops
    there, so a huge list is not counted to decide how to export it."""
    count = crm_selectors.bounded_count(queryset.order_by(), limit)
    return count > limit, count


def job_of(user: Any, pk: Any) -> ExportJob:
    """An export job of the user's org that the user started; the same 404 for any other
    (another member's, an administrator's, another org's, a missing one)."""
    org = getattr(user, "org", None)
    job = ExportJob.objects.filter(org=org, user=user.pk, pk=pk).first() if org is not None else None
    if job is None:
        raise Http404
    return job
