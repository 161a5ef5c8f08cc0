"""A list's export as django-import-export sees it: a `Resource` with one `Field` per column
the user may export, headed by the field's label in the user's language, its value as the list
page shows it (picklist labels, names of people and linked records, dates in the user's format).

The records come a chunk at a time; before each chunk the resource reads the names that chunk
shows (one query per custom person or lookup column), so the number of queries grows with the
chunks, never with the rows or cells. The people a record names in its own columns (owner,
assignee) come with it (select_related)."""
from __future__ import annotations

from functools import partial
from typing import Any, Iterator

from django.conf import settings
from django.utils import translation
from import_export.fields import Field
from import_export.resources import Resource

from access.linked import linked_names
from crm.modules import get_module
from crm.schema import BoundSchema, FieldSpec
from crm.selectors import member_names


class RecordResource(Resource):
    """Export-only: records of one module, the given fields, values as displayed."""

    def __init__(self, schema: BoundSchema, specs: list[FieldSpec]) -> None:
        super().__init__()
        self.schema = schema
        self.specs = specs
        self.fields = {spec.key: Field(attribute=spec.key, column_name=spec.label,
                                       dehydrate_method=partial(self.shown, spec)) for spec in specs}
        self._export_fields = list(self.fields.values())
        self.targets = {spec.key: get_module(spec.target, schema.org) for spec in specs if spec.type == "lookup"}
        self.people: dict[int, str] = {}
        self.linked: dict[str, dict[int, str]] = {}

    def get_export_fields(self, selected_fields: Any = None) -> list[Field]:
        return self._export_fields  # the chosen columns, in their order (computed once, not per row)

    def export_field(self, field: Field, instance: Any, **kwargs: Any) -> str:
        return field.dehydrate_method(instance)

    def before_export(self, queryset: Any, **kwargs: Any) -> None:
        """Read the names this chunk shows: its custom person fields' members, its lookup fields'
        records (`access.linked`: a record in the recycle bin is never named)."""
        records = list(queryset)
        user_ids = {spec.get_value(r) for r in records for spec in self.specs
                    if spec.is_custom and spec.type == "user"} - {None}
        self.people = member_names(self.schema.org, user_ids) if user_ids else {}
        self.linked = {key: linked_names(self.schema.org, target,
                                         {self.schema.field(key).get_value(r) for r in records} - {None})
                       for key, target in self.targets.items()}

    def shown(self, spec: FieldSpec, record: Any) -> str:
        if spec.is_custom and spec.type == "user":
            return self.people.get(spec.get_value(record), "")
        if spec.type == "lookup":
            return self.linked[spec.key].get(spec.get_value(record), "")
        return spec.display(record)


def export_rows(schema: BoundSchema, specs: list[FieldSpec], queryset: Any, *, language: str,
                chunk_size: int | None = None, progress: Any = None) -> Iterator[list[Any]]:
    """The header, then every record's row, in the given language. Rows are read from one
    server-side cursor a chunk at a time; `progress(n)` is told after each chunk."""
    chunk_size = chunk_size or max(1, int(getattr(settings, "EXPORT_CHUNK_SIZE", 2000)))
    with translation.override(language):
        resource = RecordResource(schema, specs)
        yield resource.get_export_headers()
    done = 0
    batch: list[Any] = []
    for record in queryset.iterator(chunk_size=chunk_size):
        batch.append(record)
        if len(batch) >= chunk_size:
            yield from _chunk(resource, batch, language)
            done += len(batch)
            batch = []
            if progress is not None:
                progress(done)
    if batch:
        yield from _chunk(resource, batch, language)
        done += len(batch)
    if progress is not None:
        progress(done)


def _chunk(resource: RecordResource, batch: list[Any], language: str) -> list[tuple]:
    # A streamed response runs after the view has returned (and the language middleware has
    # restored its language), a job in a worker: each chunk renders in the requester's language.
    with translation.override(language):
        return list(resource.export(queryset=batch))
