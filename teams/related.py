"""The 360 view's team part: on a record's page, the team records that look it up.

A related-block provider for `crm.modules.register_related_provider`: one block per team
module, only rows the viewer may see (through `access.visible`), at most ROWS_PER_BLOCK rows
each, and three queries whatever the number of modules and rows.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import F, Subquery, Window
from django.db.models.functions import RowNumber
from django.urls import reverse

from access.visibility import visible
from crm.models import RecordLink

from .models import TeamModule, TeamRecord
from .schema import TeamModuleSchema, schema_for

ROWS_PER_BLOCK = 10


def _status_spec(schema: TeamModuleSchema):
    return next(f for f in schema.core_fields if f.key == "status")


def team_records_for(user: Any, schema: Any, record: Any) -> list[dict]:
    """Blocks {"module", "rows", "field", "fields", "all_url"} of team records linking to `record`."""
    org = getattr(user, "org", None)
    if org is None or record is None or getattr(record, "org_id", None) != org.pk:
        return []
    links = RecordLink.objects.filter(
        org=org, target_type=ContentType.objects.get_for_model(record), target_id=record.pk,
        source_type=ContentType.objects.get_for_model(TeamRecord), field__retired=False,
    )
    # 1. Which team modules (and which of their lookup fields) point here.
    fields_by_module: dict[str, list[str]] = defaultdict(list)
    for module_key, field_id in links.order_by("field_id").values_list("field__module", "field_id").distinct():
        fields_by_module[module_key].append(f"f_{field_id}")
    module_ids = []
    for key in fields_by_module:
        if key.startswith("team-") and key.removeprefix("team-").isdigit():
            module_ids.append(int(key.removeprefix("team-")))
    if not module_ids:
        return []
    # 2. The live modules among them.
    modules = list(TeamModule.objects.filter(org=org, pk__in=module_ids, retired=False)
                   .order_by("name_en", "pk"))
    if not modules:
        return []
    schemas = {m.pk: schema_for(m) for m in modules}
    # 3. The visible rows of every module in one query: each module's own visibility predicate,
    #    OR-ed, then the newest ROWS_PER_BLOCK per module by a window function.
    sources = Subquery(links.values("source_id"))
    combined = None
    for module in modules:
        part = visible(user, schemas[module.pk], "view").filter(pk__in=sources)
        combined = part if combined is None else combined | part
    rows = (combined.select_related("owner")
            .annotate(position=Window(RowNumber(), partition_by=F("module_id"),
                                      order_by=[F("modified_at").desc(), F("pk").desc()]))
            .filter(position__lte=ROWS_PER_BLOCK)
            .order_by("module_id", "position"))
    rows_by_module: dict[int, list[TeamRecord]] = defaultdict(list)
    for row in rows:
        rows_by_module[row.module_id].append(row)

    blocks = []
    for module in modules:
        module_rows = rows_by_module.get(module.pk)
        if not module_rows:
            continue
        team_schema = schemas[module.pk]
        status = _status_spec(team_schema)
        for row in module_rows:
            row.status_label = status.option_label(row.status) if row.status else ""
            row.status_color = status.option_color(row.status) if row.status else ""
        fields = fields_by_module[module.key]
        all_url = ""
        if len(fields) == 1:  # the list can filter by one lookup field
            all_url = reverse("crm:list", args=[module.key]) + f"?{fields[0]}={record.pk}"
        blocks.append({"module": team_schema, "rows": module_rows, "field": fields[0], "fields": fields,
                       "all_url": all_url})
    return blocks


def register() -> None:
    """Called from TeamsConfig.ready."""
    from crm.modules import register_related_provider

    register_related_provider(team_records_for)
