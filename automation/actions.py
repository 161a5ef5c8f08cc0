"""The only writers of notifications and notification preferences."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .messages import KIND_LABELS
from .models import Channel, Notification, NotificationPreference


def do_notify(*, org_id: int, recipient_id: int, kind: str, module: str, record_id: int, key: str,
              actor_id: int | None = None, params: dict | None = None, in_app: bool = True,
              by_email: bool = False) -> Notification | None:
    """Write one notification unless one with this key exists (a retried delivery): the new row, or None.
    `in_app` shows it in the bell and on the page; `by_email` asks for one e-mail about it."""
    row, created = Notification.objects.get_or_create(
        org_id=org_id, key=key,
        defaults={"recipient_id": recipient_id, "kind": kind, "module": module, "record_id": record_id,
                  "actor_id": actor_id, "params": params or {}, "in_app": in_app, "by_email": by_email})
    return row if created else None


@transaction.atomic
def do_mark_read(user, ids: Iterable[int] | str) -> int:
    """Mark the user's own unread notifications of their current org as read: `ids` or "all"."""
    rows = Notification.objects.filter(org=user.org, recipient=user, read_at__isnull=True)
    if ids != "all":
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())


def do_email_notification(notification_id: int, send: Callable[[Notification], bool]) -> bool:
    """Send a notification's e-mail at most once: `send(row)` runs under the row's lock and
    `emailed_at` is set in the same transaction, so a retry or a second worker finds it sent.
    If `send` raises (the mail server is down), nothing is marked and the caller retries; the
    in-app notification is untouched either way. True if an e-mail went out."""
    with transaction.atomic():
        row = (Notification.objects.select_for_update(of=("self",)).select_related("recipient", "actor")
               .filter(pk=notification_id, by_email=True, emailed_at__isnull=True).first())
        if row is None:
            return False
        sent = send(row)
        if sent:
            row.emailed_at = timezone.now()
            row.save(update_fields=["emailed_at"])
        return sent


@transaction.atomic
def do_set_notification_preferences(user, prefs: Mapping[str, str], *, actor) -> dict[str, str]:
    """Set how `user` is told of each kind (kind -> "in_app", "email", "both" or "none") in their
    current org. Only the user themselves may; an unknown kind or channel writes nothing."""
    if actor.pk != user.pk:
        raise PermissionDenied(_("You can change only your own notification preferences."))
    errors = {}
    for kind, channel in prefs.items():
        if kind not in KIND_LABELS:
            errors[kind] = _("Unknown kind of notification: %(kind)s.") % {"kind": kind}
        elif channel not in Channel.values:
            errors[kind] = _("Choose in the app, by e-mail, both or not at all.")
    if errors:
        raise ValidationError(errors)
    for kind, channel in sorted(prefs.items()):
        NotificationPreference.objects.update_or_create(org=user.org, user=user, kind=kind,
                                                        defaults={"channel": channel})
    return dict(prefs)
