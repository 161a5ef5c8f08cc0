"""Kanban board and chart for any module (org or team), driven by the module schema; they live
with the record views (`crm:kanban`, `crm:chart`, ...), as lists and record pages do.

Reads go through `access.visible` (restricted in `ModuleView.dispatch` for record routes),
writes through the record actions: a card dropped into another column is
`crm.actions.do_update_record(record, {field: value}, version=...)`. Nothing here asks which
kind of module it has, except the optional extras a schema may carry (a team module's due field
and done statuses). Assigning from the chart's unassigned panel is offered by a registered
provider (teams registers one: a manager assigns to the space's members).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, CharField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Value
from django.db.models import Case, When
from django.db.models.lookups import GreaterThan, In, IsNull, LessThan
from django.http import Http404, HttpRequest, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from access.decisions import decide_many
from access.models import Membership, User
from access.visibility import visible
from config.params import MAX_PAGE, bounded_int

from . import actions as crm_actions
from . import selectors
from .criteria import field_expression
from .filters import build_filterset
from .modules import card_marks
from .schema import FieldSpec
from .views import ModuleView

CARDS_PER_PAGE = 20
UNASSIGNED_SHOWN = 20
RECORDS_PER_PAGE = 50
EMPTY = ""  # the column of records with no value, or a value no longer among the options
NONE_PERSON = "none"  # ?person=none: records nobody is assigned to
# Query-string keys of the board itself; every other key is a list filter carried along.
RESERVED = {"field", "value", "page", "after", "person", "next"}
PALETTE = ("#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#d63384", "#ffc107", "#0dcaf0",
           "#6610f2", "#adb5bd")
EMPTY_COLOR = "#ced4da"


# --- assigning from the chart (a provider; teams registers one) -----------------------------

@dataclass
class AssignOffer:
    """Whom the user may assign unassigned records to from the chart, and where the form posts."""

    members: list[Any]
    url: Callable[[Any], str]  # record -> the URL the assignment form posts to


AssignProvider = Callable[[HttpRequest, Any], "AssignOffer | None"]
_assign_providers: list[AssignProvider] = []


def register_assign_provider(provider: AssignProvider) -> None:
    if provider not in _assign_providers:
        _assign_providers.append(provider)


def assign_offer(request: HttpRequest, schema: Any) -> AssignOffer | None:
    """The first provider's offer for this module and user (None: no one-click assignment)."""
    for provider in _assign_providers:
        offer = provider(request, schema)
        if offer is not None:
            return offer
    return None


# --- schema helpers -------------------------------------------------------------------

def picklist_fields(schema: Any, user: Any) -> list[FieldSpec]:
    """Fields a board may group by: the picklists the user may see."""
    return [spec for spec in schema.fields_for(user) if spec.type == "picklist"]


def default_group_key(schema: Any, fields: list[FieldSpec]) -> str | None:
    """`status` for team modules, else the first picklist (deals: stage; leads, tasks: status)."""
    keys = [spec.key for spec in fields]
    if schema.kind == "team" and "status" in keys:
        return "status"
    return keys[0] if keys else None


def group_field(schema: Any, user: Any, wanted: str | None) -> FieldSpec | None:
    """The picklist chosen with ?field= (by key or API name), or the default one."""
    fields = picklist_fields(schema, user)
    for spec in fields:
        if wanted and wanted in (spec.key, spec.api_name):
            return spec
    key = default_group_key(schema, fields)
    return next((spec for spec in fields if spec.key == key), None)


def option_values(spec: FieldSpec) -> list[str]:
    return [choice.value for choice in spec.options]


def group_expression(spec: FieldSpec):
    """The column a record falls in: its value when it is one of the options, else EMPTY."""
    values = option_values(spec)
    if not values:
        return Value(EMPTY, output_field=CharField())
    expr = field_expression(spec)
    return Case(When(Q(In(expr, values)), then=expr), default=Value(EMPTY), output_field=CharField())


def column_q(spec: FieldSpec, value: str) -> Q:
    """Records of one column (index-friendly for a real option: `field = value`)."""
    expr = field_expression(spec)
    if value != EMPTY:
        return Q(In(expr, [value]))
    values = option_values(spec)
    if not values:
        return Q()
    return Q(IsNull(expr, True)) | gaps_between(expr, values)


def gaps_between(expr: Any, values: list[str]) -> Q:
    """`expr NOT IN values` written as the open ranges between the values (in the database's
    order): each range is an index range scan, where NOT IN would read the whole module."""
    ordered = selectors.db_order(tuple(values))
    condition = Q(LessThan(expr, ordered[0])) | Q(GreaterThan(expr, ordered[-1]))
    for low, high in zip(ordered, ordered[1:]):
        condition |= Q(GreaterThan(expr, low)) & Q(LessThan(expr, high))
    return condition


def column_of(spec: FieldSpec, record: Any) -> str:
    value = spec.get_value(record)
    return value if value in spec.option_values() else EMPTY


def person_field(schema: Any) -> FieldSpec:
    """Whom a record is "for": its assignee when the module has one, else its owner."""
    for key in ("assignee", "owner"):
        if schema.has_field(key):
            spec = schema.field(key)
            if spec.type == "user" and not spec.is_custom:
                return spec
    return schema.field("owner")


def has_assignee(schema: Any) -> bool:
    return person_field(schema).key == "assignee"


def due_field(schema: Any, user: Any) -> FieldSpec | None:
    """A team module's chosen due field; for org modules their first core date field."""
    allowed = schema.fields_for(user)
    team_module = getattr(schema, "team_module", None)
    if team_module is not None:
        key = f"f_{team_module.due_field_id}" if team_module.due_field_id else None
        return next((spec for spec in allowed if spec.key == key and spec.type == "date"), None)
    return next((spec for spec in allowed if spec.type == "date" and not spec.is_custom), None)


def done_statuses(schema: Any) -> list[str]:
    team_module = getattr(schema, "team_module", None)
    return list(team_module.done_statuses or []) if team_module is not None else []


def column_counts(queryset: QuerySet, spec: FieldSpec) -> dict[str, int]:
    """{column value: count} for every column, exact up to the count cap (cap+1 above it):
    one `LIMIT cap+1` count per column, all in one query, so a large module is not read whole."""
    values = [*option_values(spec), EMPTY]
    return selectors.bounded_counts({value: queryset.filter(column_q(spec, value)) for value in values})


def count_labels(counts: dict[str, int]) -> dict[str, str]:
    """The counts as the board shows them ("10,000+" above the cap)."""
    return {value: selectors.count_label(count) for value, count in counts.items()}


# --- cards ----------------------------------------------------------------------------

@dataclass
class Card:
    pk: int
    version: int
    title: str
    url: str
    move_url: str
    person: Any
    due: dt.date | None = None
    overdue: bool = False
    editable: bool = False
    marks: list[dict] = field(default_factory=list)  # icons from other apps, e.g. a lock


@dataclass
class Column:
    value: str
    label: str
    color: str
    count: int = 0
    cards: list[Card] = field(default_factory=list)
    next_url: str = ""

    @property
    def count_label(self) -> str:
        return selectors.count_label(self.count)


class BoardView(ModuleView):
    """Shared reads of the board pages: the user's visible records, narrowed by list filters."""

    view_name = "crm:kanban"  # where the "group by" links lead

    def records(self) -> QuerySet:
        """Visible records, searched and filtered with the list page's filters (bad filters are ignored)."""
        request = self.request
        base = visible(request.user, self.schema, "view")
        base = selectors.search(base, self.schema, request.GET.get("q", ""), request.user)
        self.filterset = build_filterset(self.schema, self.filter_params() or None, base, request.user)
        if self.filterset.is_bound and self.filterset.is_valid():
            return self.filterset.qs
        return base

    def filter_params(self) -> QueryDict:
        params = self.request.GET.copy()
        for key in RESERVED:
            params.pop(key, None)
        return params

    def filter_query(self) -> str:
        return self.filter_params().urlencode()

    def url(self, name: str, *args: Any, base: QueryDict | None = None, **params: Any) -> str:
        """A board URL keeping the current filters (or `base`); `params` set (or, with None, drop) keys."""
        query = base.copy() if base is not None else self.filter_params()
        for key, value in params.items():
            if value is None:
                query.pop(key, None)
            else:
                query.setlist(key, [str(value)])
        url = reverse(name, args=[self.module.key, *args])
        return f"{url}?{query.urlencode()}" if query else url

    def group_spec(self) -> FieldSpec | None:
        return group_field(self.schema, self.request.user, self.request.GET.get("field"))

    def base_context(self, spec: FieldSpec | None, **extra: Any) -> dict[str, Any]:
        fields = picklist_fields(self.schema, self.request.user)
        return self.context(
            group=spec, group_fields=fields,
            field_links=[(f, self.url(self.view_name, field=f.key)) for f in fields],
            filterset=self.filterset, filter_query=self.filter_query(),
            person_label=person_field(self.schema).label,
            list_url=_with_query(reverse("crm:list", args=[self.module.key]), self.filter_query()),
            kanban_url=self.url("crm:kanban", field=spec.key if spec else None),
            chart_url=self.url("crm:chart", field=spec.key if spec else None),
            **extra,
        )

    # Cards ------------------------------------------------------------------------
    def cards(self, records: list[Any], spec: FieldSpec) -> list[Card]:
        """Cards for records already fetched with their related users. A card can be dragged when
        the decision point lets the user change its column's field (a fixed number of queries)."""
        user = self.request.user
        editable: set[int] = set()
        if records and spec.editable:
            # Asked as a change of the column's field (to a value not known yet): the guards judge
            # the field itself, and no per-record field rules are needed.
            decisions = decide_many(user, records, "edit", {spec.key: None}, schema=self.schema, path="kanban",
                                    fields=False)
            editable = {pk for pk, decision in decisions.items() if decision.allowed}
        person = person_field(self.schema)
        due = due_field(self.schema, user)
        done = done_statuses(self.schema)
        today = timezone.localdate()
        title_spec = self.schema.field(self.schema.title_field)
        marks = card_marks(user, self.schema, records)
        cards = []
        for record in records:
            due_value = due.get_value(record) if due is not None else None
            overdue = bool(due_value and self.schema.kind == "team" and due_value < today
                           and getattr(record, "status", None) not in done)
            cards.append(Card(
                pk=record.pk, version=record.version, title=str(record) or title_spec.display(record),
                url=record.get_absolute_url(), move_url=reverse("crm:kanban_move", args=[self.module.key, record.pk]),
                person=getattr(record, person.key), due=due_value, overdue=overdue, editable=record.pk in editable,
                marks=marks.get(record.pk, []),
            ))
        return cards

    def card_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related(*self.schema.select_related).order_by("-modified_at", "-pk")


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _columns(spec: FieldSpec) -> list[Column]:
    columns = [Column(c.value, c.label, c.color or PALETTE[i % len(PALETTE)]) for i, c in enumerate(spec.options)]
    columns.append(Column(EMPTY, _("Not set"), EMPTY_COLOR))
    return columns


# --- kanban -----------------------------------------------------------------------------

class KanbanView(BoardView):
    template_name = "crm/kanban.html"

    def get(self, request: HttpRequest, module: str):
        queryset = self.records()
        spec = self.group_spec()
        if spec is None:
            return render(request, self.template_name, self.base_context(None, columns=[]))
        counts = column_counts(queryset, spec)
        columns = _columns(spec)
        by_value = {column.value: column for column in columns}
        for column in columns:
            column.count = counts.get(column.value, 0)
        # The first page of every column in one query: a UNION ALL of per-column LIMITs,
        # each served by the (module, field, modified) index, so a large module opens fast.
        parts = [self.card_queryset(queryset.filter(column_q(spec, column.value)))[:CARDS_PER_PAGE]
                 for column in columns if column.count]
        records = list(parts[0].union(*parts[1:], all=True)) if parts else []
        records.sort(key=lambda r: (r.modified_at, r.pk), reverse=True)
        for card, record in zip(self.cards(records, spec), records):
            by_value[column_of(spec, record)].cards.append(card)
        last = {column_of(spec, record): record for record in records}  # records run newest first
        for column in columns:
            if column.count > len(column.cards):
                column.next_url = self.url("crm:kanban_column", field=spec.key, value=column.value, page=2,
                                           after=cursor(last[column.value]))
        return render(request, self.template_name, self.base_context(
            spec, columns=columns, required=spec.required, movable=spec.editable))


class KanbanColumnView(BoardView):
    """One more page of one column's cards (htmx partial).

    `page` alone pages by offset; the board's own links also carry `after`, the last card
    shown, so cards moved in or out meanwhile neither repeat nor get skipped."""

    template_name = "crm/kanban_column.html"

    def get(self, request: HttpRequest, module: str):
        spec = self.group_spec()
        value = request.GET.get("value", EMPTY)
        if spec is None or (value != EMPTY and value not in spec.option_values()):
            raise Http404
        page = bounded_int(request.GET.get("page"), default=1, low=1, high=MAX_PAGE)
        queryset = self.card_queryset(self.records().filter(column_q(spec, value)))
        after = parse_cursor(request.GET.get("after", ""))
        if after is not None:
            moment, pk = after
            queryset = queryset.filter(Q(modified_at__lt=moment) | Q(modified_at=moment, pk__lt=pk))
            records = list(queryset[:CARDS_PER_PAGE + 1])
        else:
            start = (page - 1) * CARDS_PER_PAGE
            records = list(queryset[start:start + CARDS_PER_PAGE + 1])
        more = len(records) > CARDS_PER_PAGE
        records = records[:CARDS_PER_PAGE]
        next_url = self.url("crm:kanban_column", field=spec.key, value=value, page=page + 1,
                            after=cursor(records[-1])) if more else ""
        return render(request, self.template_name, {"cards": self.cards(records, spec), "next_url": next_url,
                                                    "person_label": person_field(self.schema).label})


def cursor(record: Any) -> str:
    """Where a column page ended: the last card's (modified_at, pk), the cards' sort order."""
    return f"{record.modified_at.isoformat()}_{record.pk}"


def parse_cursor(text: str) -> tuple[dt.datetime, int] | None:
    moment, _sep, pk = text.rpartition("_")
    try:
        parsed = dt.datetime.fromisoformat(moment)
        return (parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)), int(pk)
    except ValueError:
        return None


class KanbanMoveView(BoardView):
    """A card dropped into another column: one field change through the record action."""

    def post(self, request: HttpRequest, module: str, pk: int):
        spec = next((f for f in picklist_fields(self.schema, request.user)
                     if request.POST.get("field") in (f.key, f.api_name)), None)
        if spec is None:
            return _refused(_("This board cannot group by that field."), 400)
        value = request.POST.get("value", EMPTY)
        raw_version = request.POST.get("version", "")
        try:
            version = int(raw_version) if raw_version != "" else None
        except ValueError:
            return _refused(_("The card is out of date; reload the board."), 400)
        try:
            record = crm_actions.do_update_record(
                self.record, {spec.key: value or None}, version=version, actor=request.user, path="page",
                schema=self.schema)
        except crm_actions.ConflictError as exc:
            return _refused(str(exc), 409)
        except crm_actions.RecordValidationError as exc:
            reasons = [message for messages_ in exc.message_dict.values() for message in messages_]
            return _refused(" ".join(reasons) or _("This value cannot be set here."), 400)
        except PermissionDenied as exc:
            return _refused(str(exc) or _("You may not change this record."), 403)
        return JsonResponse({"ok": True, "version": record.version, "value": column_of(spec, record),
                             **_counts_json(column_counts(self.records(), spec))})


def _counts_json(counts: dict[str, int]) -> dict[str, Any]:
    """The board's new counts: numbers (cap+1 meaning "more") and the labels the badges show."""
    return {"counts": counts, "count_labels": count_labels(counts)}


def _refused(reason: str, status: int) -> JsonResponse:
    return JsonResponse({"ok": False, "error": reason}, status=status)


# --- chart ---------------------------------------------------------------------------

class ChartView(BoardView):
    """Records per person (assignee, else owner) and per picklist value: one GROUP BY over at
    most cap+1 rows, so a large module is not read whole; above the cap every figure is a
    lower bound and says so ("12+")."""

    template_name = "crm/chart.html"
    view_name = "crm:chart"

    def get(self, request: HttpRequest, module: str):
        queryset = self.records()
        spec = self.group_spec()
        person = person_field(self.schema)
        done = done_statuses(self.schema)
        group = group_expression(spec) if spec is not None else Value(EMPTY, output_field=CharField())
        annotations: dict[str, Any] = {"chart_person": F(person.orm_path), "chart_column": group}
        flags: tuple[str, ...] = ()
        if done:
            annotations["chart_done"] = ExpressionWrapper(column_filter(self.schema.field("status"), done),
                                                          output_field=BooleanField())
            flags = ("chart_done",)
        rows, capped = selectors.bounded_groups(queryset.annotate(**annotations), ["chart_person", "chart_column"],
                                                flags)
        chart = self.chart_data(rows, spec, person)
        totals = {"total": sum(r["n"] for r in rows), "done": sum(r.get("chart_done", 0) for r in rows),
                  "unassigned": sum(r["n"] for r in rows if r["chart_person"] is None)}
        totals["open"] = totals["total"] - totals["done"]
        labels = {key: selectors.count_label(value, capped) for key, value in totals.items()}
        chart["table"] = [{**row, "cells": [(count, url, selectors.count_label(count, capped))
                                            for count, url in row["cells"]],
                           "total_label": selectors.count_label(row["total"], capped)} for row in chart["table"]]
        chart["column_total_labels"] = [selectors.count_label(total, capped) for total in chart["column_totals"]]
        return render(request, self.template_name, self.base_context(
            spec, chart=chart, totals=totals, total_labels=labels, capped=capped, cap=selectors.count_label(
                selectors.count_cap()), show_done=bool(done),
            has_assignee=has_assignee(self.schema),
            chart_json={key: chart[key] for key in ("labels", "persons", "datasets")},
            **self.unassigned_panel(queryset, spec)))

    def chart_data(self, rows: list[dict], spec: FieldSpec | None, person: FieldSpec) -> dict[str, Any]:
        counts: dict[tuple[Any, str], int] = {}
        for row in rows:
            key = (row["chart_person"], row["chart_column"] or EMPTY)
            counts[key] = counts.get(key, 0) + row["n"]
        people = self.people({p for p, _column in counts})
        persons: list[int | None] = sorted(
            {p for p, _column in counts}, key=lambda p: (p is not None, people.get(p, ("", False))[0].lower()))
        if spec is None:
            columns = [Column(EMPTY, _("Records"), PALETTE[0])]
        else:  # the "no value" series only when some record has no value
            has_empty = any(column == EMPTY for _person, column in counts)
            columns = [c for c in _columns(spec) if c.value != EMPTY or has_empty]
        datasets, table = [], []
        for column in columns:
            data = [counts.get((p, column.value), 0) for p in persons]
            value = column.value if spec is not None else None
            urls = [self.drill_url(spec, person, p, value, people) for p in persons]
            datasets.append({"label": column.label, "value": column.value, "color": column.color,
                             "data": data, "urls": urls})
        for index, p in enumerate(persons):
            cells = [(d["data"][index], d["urls"][index]) for d in datasets]
            table.append({"person": p, "name": people.get(p, (_("Unassigned"), False))[0],
                          "cells": cells, "total": sum(c for c, _u in cells),
                          "url": self.drill_url(None, person, p, None, people)})
        labels = [people.get(p, (_("Unassigned"), False))[0] if p is not None else _("Unassigned") for p in persons]
        return {"labels": labels, "persons": persons, "datasets": datasets, "table": table,
                "column_totals": [sum(d["data"]) for d in datasets]}

    def people(self, ids: set[int | None]) -> dict[int | None, tuple[str, bool]]:
        """{user id: (name, active member here)} for the people on the chart (one query)."""
        ids = {pk for pk in ids if pk is not None}
        if not ids:
            return {}
        active = Membership.objects.filter(org=self.request.org, user=OuterRef("pk"), is_active=True)
        users = User.objects.filter(pk__in=ids).annotate(active_here=Exists(active))
        return {u.pk: (str(u), u.active_here) for u in users}

    def drill_url(self, spec: FieldSpec | None, person: FieldSpec, person_id: int | None, value: str | None,
                  people: dict) -> str:
        """Where a bar leads: the list page when its filters can say it, else the chart's record table."""
        expressible = (person_id is not None and people.get(person_id, ("", False))[1]
                       and (value is None or value != EMPTY))
        if expressible:
            query = self.filter_params()
            query.setlist(person.key, [str(person_id)])
            if spec is not None and value is not None:
                query.setlist(spec.key, [value])
            return f"{reverse('crm:list', args=[self.module.key])}?{query.urlencode()}"
        return self.url("crm:chart_records", field=spec.key if spec else None, value=value,
                        person=NONE_PERSON if person_id is None else person_id)

    def unassigned_panel(self, queryset: QuerySet, spec: FieldSpec | None) -> dict[str, Any]:
        """Unassigned records stand out: a panel listing them, with one-click assignment for managers."""
        if not has_assignee(self.schema):
            return {"unassigned": []}
        records = list(self.card_queryset(queryset.filter(assignee__isnull=True))[:UNASSIGNED_SHOWN])
        offer = assign_offer(self.request, self.schema)
        assignable: set[int] = set()
        if offer is not None and records:  # who may assign which record is the decision point's to say
            decisions = decide_many(self.request.user, records, "edit", {"assignee": None}, schema=self.schema,
                                    fields=False)
            assignable = {pk for pk, decision in decisions.items() if decision.allowed}
        rows = [{"record": r, "value": spec.display(r) if spec is not None else "",
                 "color": (spec.option_color(column_of(spec, r)) or EMPTY_COLOR) if spec is not None else "",
                 "assign_url": offer.url(r) if r.pk in assignable else ""}
                for r in records]
        members = offer.members if offer is not None else []
        return {"unassigned": rows, "assign_members": members, "can_assign": bool(members and assignable),
                "next": self.request.get_full_path(),
                "unassigned_url": self.url("crm:chart_records", field=spec.key if spec else None,
                                           person=NONE_PERSON)}


def column_filter(spec: FieldSpec, values: list[str]) -> Q:
    return Q(In(field_expression(spec), values))


class ChartRecordsView(BoardView):
    """The records behind one bar: ?person=<user id>|none&value=<option>|(empty)&field=."""

    template_name = "crm/chart.html"
    view_name = "crm:chart"

    def get(self, request: HttpRequest, module: str):
        queryset = self.records()
        spec = self.group_spec()
        person = person_field(self.schema)
        wanted = request.GET.get("person")
        if wanted == NONE_PERSON:
            queryset = queryset.filter(**{f"{person.orm_path}__isnull": True})
        elif wanted:
            try:
                queryset = queryset.filter(**{person.orm_path: int(wanted)})
            except ValueError:
                raise Http404
        value = request.GET.get("value")
        if value is not None and spec is not None:
            if value != EMPTY and value not in spec.option_values():
                raise Http404
            queryset = queryset.filter(column_q(spec, value))
        page = bounded_int(request.GET.get("page"), default=1, low=1, high=MAX_PAGE)
        queryset = self.card_queryset(queryset)
        rows = list(queryset[(page - 1) * RECORDS_PER_PAGE:page * RECORDS_PER_PAGE + 1])
        more = len(rows) > RECORDS_PER_PAGE
        rows = rows[:RECORDS_PER_PAGE]
        due = due_field(self.schema, request.user)
        records = [{"record": r, "title": str(r), "person": getattr(r, person.key),
                    "value": spec.display(r) if spec is not None else "",
                    "due": due.get_value(r) if due is not None else None} for r in rows]
        person_name = ""
        if wanted == NONE_PERSON:
            person_name = _("Unassigned")
        elif wanted:
            person_name = str(User.objects.filter(pk=int(wanted), memberships__org=request.org).first() or "")
        return render(request, self.template_name, self.base_context(
            spec, records_view=True, records=records, due_label=due.label if due else "",
            value_label=(spec.option_label(value) if value else _("No value")) if (spec and value is not None) else "",
            person_name=person_name, page=page,
            previous_url=self.url("crm:chart_records", base=request.GET, page=page - 1) if page > 1 else "",
            next_url=self.url("crm:chart_records", base=request.GET, page=page + 1) if more else ""))


board_urlpatterns = [
    path("m/<slug:module>/kanban/", KanbanView.as_view(), name="kanban"),
    path("m/<slug:module>/kanban/column/", KanbanColumnView.as_view(), name="kanban_column"),
    path("m/<slug:module>/kanban/move/<int:pk>/", KanbanMoveView.as_view(), name="kanban_move"),
    path("m/<slug:module>/chart/", ChartView.as_view(), name="chart"),
    path("m/<slug:module>/chart/records/", ChartRecordsView.as_view(), name="chart_records"),
]
