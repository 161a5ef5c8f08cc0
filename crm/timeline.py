"""Timeline entries, written by actions only: one per logical change."""
from __future__ import annotations

from typing import Any, Iterable

from django.contrib.contenttypes.models import ContentType

from .context import request_id_var
from .models import TimelineEntry


def actor_name(actor: Any) -> str:
    return str(actor) if actor is not None else ""


def entry(record: Any, *, kind: str, actor: Any, path: str, changes: dict | None = None) -> TimelineEntry:
    """An unsaved entry (so batches can bulk_create)."""
    return TimelineEntry(
        org_id=record.org_id, record_type=ContentType.objects.get_for_model(record), record_id=record.pk,
        actor=actor, actor_name=actor_name(actor), path=path, kind=kind, changes=changes or {},
        request_id=request_id_var.get(),
    )


def write(record: Any, *, kind: str, actor: Any, path: str, changes: dict | None = None) -> TimelineEntry:
    item = entry(record, kind=kind, actor=actor, path=path, changes=changes)
    item.save()
    return item


def write_many(entries: Iterable[TimelineEntry]) -> None:
    TimelineEntry.objects.bulk_create(list(entries), batch_size=1000)


def for_record(record: Any):
    return (TimelineEntry.objects.filter(org_id=record.org_id, record_type=ContentType.objects.get_for_model(record),
                                         record_id=record.pk)
            .select_related("actor").order_by("-at", "-pk"))
