"""The only writers of notifications."""
from __future__ import annotations

from typing import Iterable

from django.db import transaction
from django.utils import timezone

from .models import Notification


def do_notify(*, org_id: int, recipient_id: int, kind: str, module: str, record_id: int, key: str,
              actor_id: int | None = None, params: dict | None = None) -> Notification | None:
    """Write one notification unless one with this key exists (a retried delivery): the new row, or None."""
    row, created = Notification.objects.get_or_create(
        org_id=org_id, key=key,
        defaults={"recipient_id": recipient_id, "kind": kind, "module": module, "record_id": record_id,
                  "actor_id": actor_id, "params": params or {}})
    return row if created else None


@transaction.atomic
def do_mark_read(user, ids: Iterable[int] | str) -> int:
    """Mark the user's own unread notifications of their current org as read: `ids` or "all"."""
    rows = Notification.objects.filter(org=user.org, recipient=user, read_at__isnull=True)
    if ids != "all":
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())
