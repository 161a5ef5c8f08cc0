"""Recycle bin actions: purge records deleted longer ago than RECYCLE_BIN_DAYS."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Attachment, Note


@transaction.atomic
def do_purge_recycle_bin(*, path: str = "system") -> int:
    """Remove records deleted more than RECYCLE_BIN_DAYS ago, with their notes and files."""
    from django.contrib.contenttypes.models import ContentType

    from ..modules import org_modules

    cutoff = timezone.now() - dt.timedelta(days=settings.RECYCLE_BIN_DAYS)
    purged = 0
    for module in org_modules():
        expired = module.model.objects.filter(deleted_at__lt=cutoff)
        ids = list(expired.values_list("pk", flat=True)[:5000])
        if not ids:
            continue
        record_type = ContentType.objects.get_for_model(module.model)
        for attachment in Attachment.objects.filter(record_type=record_type, record_id__in=ids):
            attachment.file.delete(save=False)
        Attachment.objects.filter(record_type=record_type, record_id__in=ids).delete()
        Note.objects.filter(record_type=record_type, record_id__in=ids).delete()
        purged += module.model.objects.filter(pk__in=ids).delete()[0]
    return purged
