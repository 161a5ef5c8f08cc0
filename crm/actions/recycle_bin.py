"""Recycle bin actions: purge records deleted longer ago than RECYCLE_BIN_DAYS, with everything
that hangs off them, so no orphan row is left (notes, files, timeline entries, record links,
manual shares by cascade, and what other apps keep per record through their purge hooks)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Attachment, Note, RecordLink, TimelineEntry

PURGE_BATCH = 5000

# Other apps keep rows per record that crm cannot name (locking's record locks). They register
# a hook, called inside the purge's transaction with the records about to be removed (each with
# `pk`, `org_id` and `MODULE_KEY`), and remove their rows.
PurgeHook = Callable[[list[Any]], None]
_before_purge: list[PurgeHook] = []


def register_before_purge(hook: PurgeHook) -> None:
    if hook not in _before_purge:
        _before_purge.append(hook)


def _purge(model: type, records: list[Any]) -> int:
    from django.contrib.contenttypes.models import ContentType

    ids = [record.pk for record in records]
    for hook in _before_purge:
        hook(records)
    record_type = ContentType.objects.get_for_model(model)
    attached = {"record_type": record_type, "record_id__in": ids}
    for attachment in Attachment.objects.filter(**attached):
        attachment.file.delete(save=False)
    Attachment.objects.filter(**attached).delete()
    Note.objects.filter(**attached).delete()
    TimelineEntry.objects.filter(**attached).delete()
    # Links from the record's lookup fields, and links of other records pointing at it.
    RecordLink.objects.filter(Q(source_type=record_type, source_id__in=ids)
                              | Q(target_type=record_type, target_id__in=ids)).delete()
    return model.objects.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)


@transaction.atomic
def do_purge_recycle_bin(*, path: str = "system") -> int:
    """Remove records (of org and team modules) deleted more than RECYCLE_BIN_DAYS ago, with
    their notes, files, timeline entries, links and shares; other apps' per-record rows go
    through their purge hooks. At most PURGE_BATCH records per record model per run."""
    from ..modules import record_models

    cutoff = timezone.now() - dt.timedelta(days=settings.RECYCLE_BIN_DAYS)
    purged = 0
    for model in record_models():
        records = list(model.objects.filter(deleted_at__lt=cutoff).order_by("pk")[:PURGE_BATCH])
        if records:
            purged += _purge(model, records)
    return purged
