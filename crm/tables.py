"""List tables built from the module schema (django-tables2)."""
from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.urls import reverse
from django.utils.formats import localize
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from access.linked import linked_names

from .criteria import field_expression
from .field_indexes import INDEXED_TYPES
from .schema import BoundSchema, FieldSpec


class ChooseColumn(tables.CheckBoxColumn):
    """The row's checkbox for bulk actions; its value is "pk:version", so a bulk change is
    checked against the version each record had when the list was shown."""

    def render(self, value: Any, bound_column: Any, record: Any) -> Any:
        return super().render(f"{record.pk}:{record.version}", bound_column, record)

    def cell(self, record: Any, bound_column: Any, table: Any) -> Any:
        return self.render(record.pk, bound_column, record)


class RecordTable(tables.Table):
    """A list's table. The header (sort links) and pagination are django-tables2's template;
    the rows are written here, one `format_html` per cell: its per-cell template rendering and
    signature inspection were most of a list page's time."""

    def body_rows(self) -> list[SafeString]:
        columns = [(bound, mark_safe(bound.attrs["td"].as_html())) for bound in self.columns]
        marks = self.row_marks()
        title_key = self.schema.title_field
        rows = []
        for n, row in enumerate(self.paginated_rows):
            record = row.record
            cells = "".join(format_html("<td {}>{}{}</td>", attrs, conditional_escape(
                localize(bound.column.cell(record, bound, self))),
                _marks_html(marks.get(record.pk)) if bound.name == title_key else "") for bound, attrs in columns)
            rows.append(format_html('<tr class="{}">{}</tr>', "odd" if n % 2 else "even", mark_safe(cells)))
        return rows


    def row_marks(self) -> dict[int, list[dict]]:
        """Marks other apps put on the page's rows (e.g. overdue in a blueprint state), at once."""
        from .modules import row_marks

        request = getattr(self, "request", None)
        user = getattr(request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return {}
        return row_marks(user, self.schema, [row.record for row in self.paginated_rows])


def _marks_html(marks: list[dict] | None) -> SafeString | str:
    if not marks:
        return ""
    return format_html_join("", ' <i class="bi bi-{} text-danger" title="{}" data-mark="{}"></i>',
                            ((m["icon"], m["title"], m.get("kind", "")) for m in marks))


class SpecColumn(tables.Column):
    """Renders one schema field; custom user fields use the page's member names."""

    def __init__(self, spec: FieldSpec, user_names: dict[int, str], **kwargs: Any) -> None:
        self.spec = spec
        self.user_names = user_names
        super().__init__(empty_values=(), verbose_name=spec.label, **kwargs)

    def cell(self, record: Any, bound_column: Any, table: Any) -> str:
        return self.render(record, table)

    def render(self, record: Any, table: Any) -> str:
        spec = self.spec
        if spec.is_custom and spec.type == "user":
            return self.user_names.get(spec.get_value(record), "")
        if spec.is_custom and spec.type == "lookup":
            return lookup_labels(table, spec).get(spec.get_value(record), "")
        if spec.type == "picklist":
            value = spec.get_value(record)
            color = spec.option_color(value) if value else ""
            if value and color:
                return format_html('<span class="badge" data-bg-color="{}">{}</span>', color, spec.display(record))
        return spec.display(record)


def lookup_labels(table: Any, spec: FieldSpec) -> dict[int, str]:
    """Names of the records a lookup column points at, for the whole page in one query."""
    cache = table.__dict__.setdefault("_lookup_labels", {})
    if spec.key not in cache:
        from .modules import get_module

        ids = {spec.get_value(row.record) for row in table.page.object_list} - {None}
        target = get_module(spec.target, table.schema.org)
        cache[spec.key] = linked_names(table.schema.org, target, ids)
    return cache[spec.key]


class TitleColumn(SpecColumn):
    def cell(self, record: Any, bound_column: Any, table: Any) -> str:
        return self.render(record)

    def render(self, record: Any) -> str:
        url = reverse("crm:detail", args=[self.module_key, record.pk])
        return format_html('<a href="{}">{}</a>', url, self.spec.display(record) or _("(no name)"))


def orderable(schema: BoundSchema, spec: FieldSpec) -> bool:
    """Whether a list offers to sort by the field: only where an index serves the order.
    Long text and multi-select are not sorted (no order would mean anything); a JSON-stored
    field by its expression index (crm.field_indexes). A person or linked record sorts by the
    name people see, which an index serves only through an inner join: so only the owner (always
    set, or, for records a customer pool holds, sorted in two parts: `OwnerSortedRows`). Optional
    ones (an assignee, a contact's account) and JSON-stored ones (ids, not names) are not
    sortable; they are filtered instead."""
    if spec.is_reference:
        return spec.type == "user" and not spec.is_custom and (
            not schema.model._meta.get_field(spec.key).null or sorts_in_parts(schema, spec))
    if spec.is_custom:
        return spec.type in INDEXED_TYPES
    return spec.type != "long_text"


def sorts_in_parts(schema: BoundSchema, spec: FieldSpec) -> bool:
    """Whether sorting by the field reads its rows in two parts (`OwnerSortedRows`): the owner of
    a module whose records wait in a customer pool without one (leads, accounts, and contacts
    waiting with their account)."""
    return (spec.key == "owner" and not spec.is_custom and spec.type == "user"
            and schema.model._meta.get_field(spec.key).null)


def order_path(spec: FieldSpec) -> tuple[str, ...]:
    """The columns a list sorts a standard field by, before the pk tie-break: the record's own
    column, so that an (org, field, id) index serves the sort. A person by the name people see
    and then its id: PostgreSQL reads the users in name order (their (first, last, id) index)
    and each one's records from the (org, owner, id) index, in a nested loop, sorting only
    within one person's records by id (an incremental sort)."""
    if spec.type == "user":
        return f"{spec.key}__first_name", f"{spec.key}__last_name", f"{spec.key}_id"
    return (spec.orm_path,)


def ordering(spec: FieldSpec, descending: bool) -> tuple[Any, ...]:
    """The ORDER BY of a list (or its export) sorted by an orderable field, pk last, every part
    in the same direction so one index serves it forwards or backwards (empty values come last
    ascending and first descending, as PostgreSQL's index order has them). A JSON-stored field
    sorts by exactly the expression its index holds."""
    if spec.is_custom:
        expression = field_expression(spec)
        return (expression.desc(), "-pk") if descending else (expression.asc(), "pk")
    paths = (*order_path(spec), "pk")
    return tuple(f"-{path}" for path in paths) if descending else paths


def _without_join(queryset: Any, key: str) -> Any:
    """`queryset` without the join to `key` (and through it) that select_related asked for: rows
    where it is empty have nothing to join."""
    related = queryset.query.select_related
    if not isinstance(related, dict) or key not in related:
        return queryset

    def paths(tree: dict, prefix: str = "") -> list[str]:
        return [path for name, below in tree.items()
                for path in (paths(below, f"{prefix}{name}__") if below else [f"{prefix}{name}"])]

    others = [path for path in paths(related) if path != key and not path.startswith(f"{key}__")]
    queryset = queryset.select_related(None)
    return queryset.select_related(*others) if others else queryset


def sort_rows(schema: BoundSchema, spec: FieldSpec, queryset: Any, descending: bool) -> Any:
    """`queryset` in the order of a list (or its export) sorted by an orderable field: ordered by
    `ordering`, or, for an owner that may be empty, the owned rows and then the ownerless ones
    (`OwnerSortedRows`)."""
    if sorts_in_parts(schema, spec):
        return OwnerSortedRows(queryset, spec, descending)
    return queryset.order_by(*ordering(spec, descending))


class OwnerSortedRows:
    """The rows of a list sorted by an owner that may be empty (a lead or account waiting in a
    customer pool has none): ascending, the owned rows by the owner's name (then owner, then pk)
    and after them the ownerless rows by pk; descending, the ownerless rows first (pk
    descending), then the owned rows in reverse name order. That is where PostgreSQL puts the
    NULLs (last ascending, first descending), so a page and an export agree.

    One ORDER BY over the outer join the empty owner needs is served by no index (the users'
    name index drives only an inner join: the planner sorts every row). So the two parts are read
    separately, each from an index: the owned part exactly as a required owner sorts (users in
    name order driving the (org, owner, id) index, an inner join), the ownerless part from the
    same index's NULL range, in pk order. A page slice reads the first part and, only when the
    page reaches past its end, the second: at most three queries (the third, a count of the first
    part bounded by the page's offset, only for a page wholly past it), however many rows.

    Quacks like the queryset django-tables2 and the export read: `count()` (bounded, as the
    list's paginator counts), slices, iteration, `iterator()`, `order_by()` (a new order of the
    same rows)."""

    ordered = True

    def __init__(self, queryset: Any, spec: FieldSpec, descending: bool) -> None:
        self.base = queryset.order_by()
        self.model = queryset.model
        owned = self.base.filter(**{f"{spec.key}__isnull": False})  # an inner join to the users
        paths = (*order_path(spec), "pk")
        owned = owned.order_by(*(f"-{path}" for path in paths) if descending else paths)
        # By (owner, pk) although the owner is empty on every row: that is the order of the
        # (org, owner, id) index, which IS NULL does not make redundant the way `= x` would (an
        # ORDER BY pk alone is read in pk order filtering out owned rows, or sorted).
        ownerless = self.base.filter(**{f"{spec.key}__isnull": True})
        ownerless = _without_join(ownerless, spec.key).order_by(
            *((f"-{spec.key}_id", "-pk") if descending else (f"{spec.key}_id", "pk")))
        self.parts = (ownerless, owned) if descending else (owned, ownerless)

    def count(self) -> int:
        from .selectors import bounded_count

        return bounded_count(self.base)

    def __len__(self) -> int:
        return self.count()

    def order_by(self, *fields: Any) -> Any:
        return self.base.order_by(*fields)

    def __iter__(self) -> Any:
        for part in self.parts:
            yield from part

    def iterator(self, chunk_size: int | None = None) -> Any:
        for part in self.parts:
            yield from part.iterator(chunk_size=chunk_size)

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, slice):
            rows = self[key:key + 1]
            if not rows:
                raise IndexError(key)
            return rows[0]
        if key.step not in (None, 1) or (key.start or 0) < 0 or (key.stop is not None and key.stop < 0):
            raise ValueError("Only forward slices of sorted rows are supported.")
        start, stop = key.start or 0, key.stop
        if stop is not None and stop <= start:
            return []
        first, second = self.parts
        rows = list(first[start:stop])
        if stop is not None and len(rows) == stop - start:
            return rows
        # The first part ends within this slice (or before it): where the second part starts.
        if rows or start == 0:
            before = start + len(rows)
        else:
            from .selectors import bounded_count

            before = bounded_count(first.order_by(), start)  # at most `start` rows: exact
        rows += list(second[max(0, start - before):None if stop is None else stop - before])
        return rows


def read_for(schema: BoundSchema, columns: list[FieldSpec]) -> tuple[list[str], list[str]]:
    """What a list page reads of its records: (relations to join, the record's own columns).
    The shown fields and what the rows need (pk, version for the select box's "pk:version",
    the owner); the joined records are read whole, for their names."""
    shown = [schema.field(schema.title_field), *columns]
    keys = {spec.key for spec in shown}
    related = [name for name in schema.select_related if name in keys]
    fields = {"version", *schema.access_user_fields}
    fields.update(spec.json_column if spec.is_custom else spec.key for spec in shown)
    return related, sorted(fields)


def build_table(schema: BoundSchema, columns: list[FieldSpec], user_names: dict[int, str], data: Any,
                **kwargs: Any) -> tables.Table:
    attrs: dict[str, Any] = {
        "select": ChooseColumn(accessor="pk", attrs={"th__input": {"data-select-all": "1"},
                                                                 "td__input": {"name": "ids", "form": "bulk-form"}},
                                        orderable=False),
    }
    title = schema.field(schema.title_field)
    # Every sort ends with pk (flipped with the column), so pages never repeat or skip rows.
    title_column = TitleColumn(title, user_names, order_by=(title.key, "pk"))
    title_column.module_key = schema.key
    attrs[title.key] = title_column
    for spec in columns:
        if spec.key == title.key:
            continue
        if spec.is_custom:
            attrs[spec.key] = SpecColumn(spec, user_names, orderable=orderable(schema, spec))
            attrs[f"order_{spec.key}"] = _custom_orderer(spec)
        else:
            attrs[spec.key] = SpecColumn(spec, user_names, order_by=(*order_path(spec), "pk"),
                                         orderable=orderable(schema, spec))
            if sorts_in_parts(schema, spec):
                attrs[f"order_{spec.key}"] = _parts_orderer(schema, spec)
    meta = type("Meta", (), {"attrs": {"class": "table table-hover table-sm align-middle"}, "order_by": "-modified_at",
                             "sequence": ["select", title.key, "..."],
                             "template_name": "crm/includes/record_table.html"})
    attrs["Meta"] = meta
    table_class = type("RecordTable", (RecordTable,), attrs)
    table = table_class(data, **kwargs)
    table.schema = schema
    return table


def _custom_orderer(spec: FieldSpec):
    def order(table, queryset, is_descending):
        return queryset.order_by(*ordering(spec, is_descending)), True

    return order


def _parts_orderer(schema: BoundSchema, spec: FieldSpec):
    def order(table, queryset, is_descending):
        return sort_rows(schema, spec, queryset, is_descending), True

    return order
