"""A team space's dashboard: per-module figures for its managers.

Every figure is an aggregate over `access.visible(user, schema, "view")` and costs a fixed
number of queries per module, never a loop over rows; counts are bounded (crm.selectors), so a
module of a million records costs what one of ten thousand does.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.contenttypes.models import ContentType
from django.db.models import (Aggregate, Avg, BooleanField, Count, ExpressionWrapper, F, FloatField, Func, OuterRef, Q,
                              QuerySet, Subquery)
from django.db.models.fields.json import KT
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.utils.formats import number_format
from django.views import View

from access.visibility import visible
from crm import criteria, selectors
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
    """Figures for one module in a fixed number of queries. Every count reads at most
    cap+1 rows (crm.selectors.count_cap): above the cap a figure reads "10,000+"."""
    module = schema.team_module
    done = list(module.done_statuses or [])
    not_done = ~Q(status__in=done) if done else Q()
    records: QuerySet = visible(user, schema, "view")
    overdue = overdue_q(schema)
    cap = selectors.count_cap()

    # 1. The headline counts and one count per status, one query of bounded subqueries.
    options = list(schema.field("status").options)
    known = [choice.value for choice in options]
    counted: dict[Any, QuerySet] = {
        "total": records,
        "open_requests": records.filter(Q(requested_by__isnull=False) & not_done),
        "unassigned": records.filter(Q(assignee__isnull=True) & not_done),
    }
    if overdue is not None:
        counted["overdue"] = records.filter(overdue & not_done)
    for value in known:
        counted[("status", value)] = records.filter(status=value)
    counts = selectors.bounded_counts(counted, cap)

    # 2. Records in statuses the module no longer has, one bounded GROUP BY query.
    others, others_capped = selectors.bounded_groups(records.exclude(status__in=known), ["status"], cap=cap)
    statuses = []
    for choice in options:
        color = choice.color if SAFE_COLOR.fullmatch(choice.color or "") else ""  # goes into a style attribute
        statuses.append({"value": choice.value, "label": choice.label, "color": color,
                         "count": counts[("status", choice.value)], "done": choice.value in done})
    for row in sorted(others, key=lambda row: row["status"] or ""):
        value = row["status"]
        statuses.append({"value": value, "label": value or "—", "color": "", "count": row["n"],
                         "done": value in done, "capped": others_capped})
    shown = sum(min(item["count"], cap) for item in statuses)
    for item in statuses:
        item["count_label"] = selectors.count_label(item["count"], item.get("capped", False), cap)
        item["percent"] = round(100 * min(item["count"], cap) / shown) if shown else 0

    # 3. Cycle time, one aggregate query: created -> first change into a done status, over
    #    the most recently changed `cap` finished records.
    cycle = {"median": None, "average": None, "count": 0}
    if done:
        first_done = (TimelineEntry.objects
                      .filter(org_id=schema.org.pk, record_type=ContentType.objects.get_for_model(TeamRecord),
                              record_id=OuterRef("pk"), kind="updated")
                      .annotate(new_status=KT("changes__status__1"))
                      .filter(new_status__in=done)
                      .order_by("at").values("at")[:1])
        latest_done = records.filter(status__in=done).order_by("-modified_at", "-pk").values("pk")[:cap]
        days = DaysBetween(F("done_at"), F("created_at"))
        # Records never done have a NULL done_at, which the aggregates skip.
        cycle = (records.filter(pk__in=latest_done).annotate(done_at=Subquery(first_done))
                 .aggregate(median=Median(days), average=Avg(days), count=Count("done_at")))

    # 4. Load per assignee (open records), one bounded GROUP BY query, then their names.
    open_assigned = records.filter(not_done, assignee__isnull=False)
    flags: tuple[str, ...] = ()
    if overdue is not None:
        open_assigned = open_assigned.annotate(is_overdue=ExpressionWrapper(overdue, output_field=BooleanField()))
        flags = ("is_overdue",)
    rows, load_capped = selectors.bounded_groups(open_assigned, ["assignee_id"], flags, cap=cap)
    names = selectors.member_names(schema.org, [row["assignee_id"] for row in rows]) if rows else {}
    load = [{"user_id": row["assignee_id"], "name": names.get(row["assignee_id"], ""), "open": row["n"],
             "open_label": selectors.count_label(row["n"], load_capped, cap),
             "overdue": row.get("is_overdue"),
             "overdue_label": selectors.count_label(row["is_overdue"], load_capped, cap) if flags else ""}
            for row in rows]
    load.sort(key=lambda row: (-row["open"], row["name"].lower(), row["user_id"]))

    return {
        "module": module, "schema": schema, "has_due": overdue is not None,
        "total": counts["total"], "total_label": selectors.count_label(counts["total"], cap=cap),
        "open_requests": counts["open_requests"],
        "open_requests_label": selectors.count_label(counts["open_requests"], cap=cap),
        "unassigned": counts["unassigned"], "unassigned_label": selectors.count_label(counts["unassigned"], cap=cap),
        "overdue": counts.get("overdue"),
        "overdue_label": selectors.count_label(counts["overdue"], cap=cap) if overdue is not None else "",
        "statuses": statuses, "has_done": bool(done), "load": load, "load_capped": load_capped,
        "cycle_median": cycle["median"], "cycle_average": cycle["average"], "cycle_count": cycle["count"],
        "cycle_capped": cycle["count"] >= cap, "cap_label": number_format(cap, force_grouping=True),
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
