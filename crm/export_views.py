"""CSV export of a module list: the list's search and filters, the rows the user may export,
the fields the user may see, values as displayed. Streamed in chunks, so memory stays flat
whatever the number of rows; every export is written to the access log first.

An export is a POST (it writes the access log, and a POST needs the CSRF token): the list page
posts to this URL with its own query string (`?q=...&stage=won`), which is read as the filters.
"""
from __future__ import annotations

import csv
from typing import Any, Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from access.linked import linked_names
from access.share_actions import do_log_access
from access.visibility import visible

from . import selectors
from .filters import build_filterset
from .modules import get_module
from .schema import BoundSchema, FieldSpec
from .tables import orderable, ordering
from .views import ModuleView

CHUNK_SIZE = 2000
# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate, with a leading apostrophe."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer builds strings."""

    def write(self, value: str) -> str:
        return value


def export_ordering(schema: BoundSchema, fields: list[FieldSpec], sort: str) -> tuple[Any, ...]:
    """The list page's order: its `sort` column if the user may see that field and the list
    offers that sort, else newest first."""
    descending, key = sort.startswith("-"), sort.lstrip("-")
    spec = next((f for f in fields if f.key == key), None)
    if spec is None or not (spec.key == schema.title_field or orderable(schema, spec)):
        return ("-modified_at", "-pk")
    return ordering(spec, descending)


def export_queryset(request: Any, schema: BoundSchema, fields: list[FieldSpec]) -> tuple[Any, dict[str, Any]]:
    """The rows to export (the list's search and filters over `visible(..., "export")`) and the
    filters as asked, for the access log."""
    user = request.user
    base = visible(user, schema, "export")
    base = selectors.search(base, schema, request.GET.get("q", ""), user)
    filterset = build_filterset(schema, request.GET or None, base, user)
    queryset = filterset.qs if filterset.is_bound else base
    references = [f.key for f in fields if f.is_reference and not f.is_custom]
    queryset = queryset.select_related(*references).order_by(
        *export_ordering(schema, fields, request.GET.get("sort", "")))
    names = set(filterset.form.fields) | {"q", "sort"}
    asked = {}
    for key in request.GET:
        if key in names:
            values = [value for value in request.GET.getlist(key) if value != ""]
            if values:
                asked[key] = values if len(values) > 1 else values[0]
    return queryset, asked


def _lookup_labels(schema: BoundSchema, spec: FieldSpec, target: Any, batch: list[Any]) -> dict[int, str]:
    ids = {spec.get_value(record) for record in batch} - {None}
    if not ids:
        return {}
    return linked_names(schema.org, target, ids)


def _render_batch(schema: BoundSchema, fields: list[FieldSpec], batch: list[Any], names: dict[int, str],
                  targets: dict[str, Any], writer: Any) -> str:
    """One chunk of CSV lines: one query per custom lookup field, none per row."""
    lookups = {key: _lookup_labels(schema, schema.field(key), target, batch) for key, target in targets.items()}
    lines = []
    for record in batch:
        cells = []
        for spec in fields:
            if spec.is_custom and spec.type == "user":
                value = names.get(spec.get_value(record), "")
            elif spec.is_custom and spec.type == "lookup":
                value = lookups[spec.key].get(spec.get_value(record), "")
            else:
                value = spec.display(record)
            cells.append(escape_formula(str(value if value is not None else "")))
        lines.append(writer.writerow(cells))
    return "".join(lines)


def csv_lines(schema: BoundSchema, fields: list[FieldSpec], queryset: Any, *, language: str,
              chunk_size: int | None = None) -> Iterator[str]:
    """The CSV, a chunk of rows at a time. It runs after the view has returned (and after the
    language middleware has restored its language), so it renders in the requester's language."""
    chunk_size = chunk_size or CHUNK_SIZE
    writer = csv.writer(_Echo())
    with translation.override(language):
        # The byte order mark makes spreadsheet programs read UTF-8 (Chinese names) correctly.
        header = "\ufeff" + writer.writerow([escape_formula(str(spec.label)) for spec in fields])
        names = (selectors.member_names(schema.org)
                 if any(f.is_custom and f.type == "user" for f in fields) else {})
        targets = {f.key: get_module(f.target, schema.org) for f in fields if f.is_custom and f.type == "lookup"}
    yield header
    batch: list[Any] = []
    for record in queryset.iterator(chunk_size=chunk_size):
        batch.append(record)
        if len(batch) >= chunk_size:
            with translation.override(language):
                chunk = _render_batch(schema, fields, batch, names, targets, writer)
            batch = []
            yield chunk
    if batch:
        with translation.override(language):
            chunk = _render_batch(schema, fields, batch, names, targets, writer)
        yield chunk


class ExportView(ModuleView):
    """POST /m/<module>/export/?<the list's query string>: the list as CSV."""

    http_method_names = ["post"]
    module_action = "export"

    def post(self, request, module):
        fields = self.schema.fields_for(request.user)
        queryset, asked = export_queryset(request, self.schema, fields)
        # Logged before the first byte leaves, so an interrupted download is on record too.
        count = queryset.order_by().count()
        do_log_access(request.org, self.schema.key, action="export", count=count, filters=asked,
                      actor=request.user)
        response = StreamingHttpResponse(
            csv_lines(self.schema, fields, queryset, language=translation.get_language() or "en"),
            content_type="text/csv; charset=utf-8")
        filename = f"{self.schema.key}-{timezone.localdate():%Y%m%d}.csv"
        response["Content-Disposition"] = content_disposition_header(True, filename)
        add_never_cache_headers(response)
        return response

