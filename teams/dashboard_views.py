"""A team space's dashboard: per-module figures for its managers.

Every figure is an aggregate over `access.visible(user, schema, "view")` and costs a fixed
number of queries per module (GROUP BY / aggregates), never a loop over rows.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Aggregate, Avg, Count, F, FloatField, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.views import View

from access.visibility import visible
from crm import criteria
from crm.models import FieldDefinition, TimelineEntry
from crm.schema import BoundSchema, FieldSpec

from . import roles
from .models import TeamModule, TeamRecord, TeamSpace
from .schema import schema_for


SAFE_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}")


class Median(Aggregate):
    """PostgreSQL's continuous median of the expression (NULLs ignored)."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class DaysBetween(Func):
    """(end - start) in days, as a float."""

    template = "(EXTRACT(EPOCH FROM (%(expressions)s)) / 86400.0)::double precision"
    arg_joiner = " - "
    output_field = FloatField()


def can_view_dashboard(user: Any, space: TeamSpace) -> bool:
    """The space's managers, org administrators and team-modules admins."""
    return roles.is_manager(user, space.pk) or roles.is_team_modules_admin(user)


def bound_schemas(org: Any, modules: list[TeamModule]) -> dict[int, BoundSchema]:
    """Each module's schema with its live fields, for all modules in one query."""
    specs: dict[str, list[FieldSpec]] = defaultdict(list)
    definitions = (FieldDefinition.objects.filter(org=org, module__in=[m.key for m in modules], retired=False)
                   .order_by("order", "pk"))
    for definition in definitions:
        specs[definition.module].append(definition.spec())
    return {m.pk: BoundSchema(schema_for(m), org, specs[m.key]) for m in modules}


def due_field(schema: BoundSchema) -> FieldSpec | None:
    """The module's due date field, if it has one that is still in use."""
    due_id = schema.team_module.due_field_id
    if due_id is None:
        return None
    return next((f for f in schema.custom_fields if f.definition_id == due_id and f.type == "date"), None)


def overdue_q(schema: BoundSchema) -> Q | None:
    """Due before today, compiled by crm.criteria (the same typed expression as lists and rules)."""
    spec = due_field(schema)
    if spec is None:
        return None
    return criteria.to_q({"all": [{"field": spec.key, "op": "before_days", "value": 0}]}, schema)


def module_figures(user: Any, schema: BoundSchema) -> dict[str, Any]:
    """Figures for one module: four queries whatever the number of records."""
    module = schema.team_module
    done = list(module.done_statuses or [])
    not_done = ~Q(status__in=done) if done else Q()
    records: QuerySet = visible(user, schema, "view")
    overdue = overdue_q(schema)

    # 1. Counts, one aggregate query.
    aggregates: dict[str, Any] = {
        "total": Count("pk"),
        "open_requests": Count("pk", filter=Q(requested_by__isnull=False) & not_done),
        "unassigned": Count("pk", filter=Q(assignee__isnull=True) & not_done),
    }
    if overdue is not None:
        aggregates["overdue"] = Count("pk", filter=overdue & not_done)
    counts = records.aggregate(**aggregates)
    counts.setdefault("overdue", None)

    # 2. Records per status, one GROUP BY query.
    per_status = dict(records.order_by().values_list("status").annotate(n=Count("pk")))
    statuses = []
    for choice in schema.field("status").options:
        color = choice.color if SAFE_COLOR.fullmatch(choice.color or "") else ""  # goes into a style attribute
        statuses.append({"value": choice.value, "label": choice.label, "color": color,
                         "count": per_status.pop(choice.value, 0), "done": choice.value in done})
    for value, n in sorted(per_status.items()):  # values no longer among the module's statuses
        statuses.append({"value": value, "label": value or "—", "color": "", "count": n, "done": value in done})
    for item in statuses:
        item["percent"] = round(100 * item["count"] / counts["total"]) if counts["total"] else 0

    # 3. Cycle time, one aggregate query: created -> first change into a done status.
    cycle = {"median": None, "average": None, "count": 0}
    if done:
        first_done = (TimelineEntry.objects
                      .filter(org_id=schema.org.pk, record_type=ContentType.objects.get_for_model(TeamRecord),
                              record_id=OuterRef("pk"), kind="updated")
                      .annotate(new_status=KT("changes__status__1"))
                      .filter(new_status__in=done)
                      .order_by("at").values("at")[:1])
        days = DaysBetween(F("done_at"), F("created_at"))
        # Records never done have a NULL done_at, which the aggregates skip.
        cycle = (records.annotate(done_at=Subquery(first_done))
                 .aggregate(median=Median(days), average=Avg(days), count=Count("done_at")))

    # 4. Load per assignee (open records, with names), one GROUP BY query.
    load_aggregates: dict[str, Any] = {"open": Count("pk")}
    if overdue is not None:
        load_aggregates["overdue"] = Count("pk", filter=overdue)
    load_rows = (records.filter(not_done, assignee__isnull=False).order_by()
                 .values("assignee_id", "assignee__username", "assignee__first_name", "assignee__last_name")
                 .annotate(**load_aggregates).order_by("-open", "assignee__username"))
    load = [{"user_id": row["assignee_id"],
             "name": f"{row['assignee__first_name']} {row['assignee__last_name']}".strip()
             or row["assignee__username"],
             "open": row["open"], "overdue": row.get("overdue")} for row in load_rows]

    return {
        "module": module, "schema": schema, "has_due": overdue is not None,
        "total": counts["total"], "open_requests": counts["open_requests"],
        "unassigned": counts["unassigned"], "overdue": counts["overdue"],
        "statuses": statuses, "has_done": bool(done),
        "cycle_median": cycle["median"], "cycle_average": cycle["average"], "cycle_count": cycle["count"],
        "load": load,
    }


def space_figures(user: Any, space: TeamSpace) -> list[dict[str, Any]]:
    """Figures for each live module of the space (two queries, then four per module)."""
    modules = list(TeamModule.objects.filter(org=space.org_id, space=space, retired=False)
                   .order_by("name_en", "pk"))
    schemas = bound_schemas(user.org, modules)
    return [module_figures(user, schemas[m.pk]) for m in modules]


class TeamDashboardView(LoginRequiredMixin, View):
    """Managers', administrators' and team-modules admins' view of a space; others get 404."""

    template_name = "teams/dashboard.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.space = TeamSpace.objects.filter(org=request.org, pk=kwargs["space_pk"]).first()
        if self.space is None or not can_view_dashboard(request.user, self.space):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, space_pk: int):
        return render(request, self.template_name, {
            "space": self.space, "modules": space_figures(request.user, self.space),
        })


dashboard_urlpatterns = [
    path("teams/<int:space_pk>/dashboard/", TeamDashboardView.as_view(), name="dashboard"),
]
