"""Who is told about a record event: read the record as it is now, check that each recipient
may open it, and write through `do_notify` what their preference for the kind asks for; then
e-mail those who want e-mail, each by its own task.

`notify_users` is the one door for anyone who wants to tell people about a record (record
events here, workflow rules elsewhere): it applies the may-open check and the preferences and
writes one notification per recipient, idempotently by key."""
from __future__ import annotations

import logging
from typing import Any, Iterable

from celery import shared_task
from celery.exceptions import Retry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import Http404
from kombu.exceptions import OperationalError

from access.models import Membership, Organization, User
from access.visibility import bind_org, can
from config.params import optional_id
from crm.models import Note
from crm.modules import get_module

from . import messages
from .actions import do_email_notification, do_notify
from .models import Channel, Notification
from .notify_mail import compose
from .preferences import channels

logger = logging.getLogger(__name__)

# The record events that may concern someone, and the changes in them that do.
EVENT_KINDS = ("owner_changed", "updated", "note_added", "note_edited")
WATCHED = ("owner", "assignee", "status", "mentions")

Wanted = tuple[int | None, str, dict]  # (recipient id, kind, params)


def _user_id(value: Any) -> int | None:
    """The user id of a change's new value (an id, or the {"id": ...} form)."""
    return optional_id(value.get("id") if isinstance(value, dict) else value)


def _ids(values: Any) -> set[int]:
    return {i for i in (optional_id(v) for v in (values or [])) if i is not None}


def relevant_changes(kind: str, changes: dict[str, list]) -> dict[str, list] | None:
    """The part of a record event that may tell someone something, or None (nothing to queue)."""
    if kind not in EVENT_KINDS:
        return None
    picked = {k: v for k, v in changes.items() if k in WATCHED}
    if "mentions" in picked:
        old, new = picked["mentions"]
        if _ids(new) - _ids(old):
            picked["note"] = changes.get("note")  # for the link to the note itself
        else:
            del picked["mentions"]
    return picked or None


def _target(org_id: int, module: str, record_id: int):
    """(org, schema, record) as they are now, or None when any of them is gone."""
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return None
    try:
        schema = get_module(module, org)
    except Http404:  # the module is gone since: nothing to point at
        return None
    record = schema.base_queryset(org).filter(pk=record_id).first()
    return None if record is None else (org, schema, record)


def notify_users(org_id: int, user_ids: Iterable[int | None], kind: str, module: str, record_id: int,
                 key_prefix: str, actor_id: int | None = None, params: dict | None = None, *,
                 include_actor: bool = False) -> int:
    """Tell each of `user_ids` about a record (kind from `messages`, e.g. RULE_NOTICE with
    {"record", "rule", "message"}); returns how many notifications were new.

    Only members who may open the record are told, each as their preference for the kind says
    (in the app, by e-mail, both, or not at all); the actor is not told of their own doing
    unless `include_actor`. Idempotent: a notification's key is `key_prefix:user:kind`, so a
    retried caller with the same prefix writes nothing twice."""
    target = _target(org_id, module, record_id)
    if target is None:
        return 0
    org, schema, record = target
    params = {"record": str(record), **(params or {})}
    return _send(org, schema, record_id, [(uid, kind, params) for uid in user_ids], key_prefix, actor_id,
                 include_actor=include_actor)


def deliver(event_id: str, module: str, org_id: int, record_id: int, actor_id: int | None,
            changes: dict[str, list], *, include_actor: bool = False) -> int:
    """Write the event's notifications; returns how many were new. `include_actor` for changes a
    rule made acting as its author: the author did not make them by hand, so is told too."""
    target = _target(org_id, module, record_id)
    if target is None:
        return 0
    org, schema, record = target
    return _send(org, schema, record_id, _wanted(record, changes), event_id, actor_id, include_actor=include_actor)


def _wanted(record: Any, changes: dict[str, list]) -> list[Wanted]:
    """Who is to be told what, from the record and the event's changes."""
    wanted: list[Wanted] = []
    name = str(record)
    if "owner" in changes:
        wanted.append((_user_id(changes["owner"][1]), messages.OWNER, {"record": name}))
    if "assignee" in changes:
        assignee_id = _user_id(changes["assignee"][1])
        wanted.append((assignee_id, messages.ASSIGNED, {"record": name}))
        requester_id = getattr(record, "requested_by_id", None)
        if assignee_id is not None and requester_id:
            assignee = User.objects.filter(pk=assignee_id).first()
            wanted.append((requester_id, messages.REQUEST_ASSIGNED,
                           {"record": name, "assignee": str(assignee) if assignee else ""}))
    if "status" in changes and getattr(record, "requested_by_id", None):
        status = changes["status"][1] or ""
        team_module = record.module
        done = status in (team_module.done_statuses or [])
        # Both names of the status, so each reader sees it in their own language.
        label = next((s for s in team_module.statuses if s.get("value") == status), {})
        wanted.append((record.requested_by_id, messages.REQUEST_DONE if done else messages.REQUEST_STATUS,
                       {"record": name, "status_en": label.get("label_en") or status,
                        "status_zh": label.get("label_zh", "")}))
    if "mentions" in changes:
        # Only the newly mentioned: editing a note does not tell its old mentions again.
        old, new = changes["mentions"]
        note_id = optional_id((changes.get("note") or [None, None])[1])
        for user_id in sorted(_ids(new) - _ids(old)):
            wanted.append((user_id, messages.MENTIONED, {"record": name, "note": note_id}))
    return wanted


def _send(org: Organization, schema, record_id: int, wanted: list[Wanted], key_prefix: str,
          actor_id: int | None, *, include_actor: bool = False) -> int:
    """Write what each recipient's preference for the kind asks for: an in-app notification, one
    for e-mail only (not shown in the app), both, or nothing at all."""
    written = 0
    seen: set[tuple[int, str]] = set()
    email_keys: list[str] = []
    prefs: dict[str, dict[int, str]] = {}
    for recipient_id, kind, params in wanted:
        recipient_id = optional_id(recipient_id)
        if recipient_id is None or (recipient_id == actor_id and not include_actor):
            continue
        if (recipient_id, kind) in seen:
            continue
        seen.add((recipient_id, kind))
        if kind not in prefs:
            prefs[kind] = channels(org.pk, {optional_id(uid) for uid, k, _p in wanted if k == kind} - {None}, kind)
        channel = prefs[kind].get(recipient_id, Channel.IN_APP)
        if channel == Channel.NONE or not _may_open(recipient_id, org, schema, record_id):
            continue
        key = f"{key_prefix}:{recipient_id}:{kind}"
        by_email = channel in (Channel.EMAIL, Channel.BOTH)
        row = do_notify(org_id=org.pk, recipient_id=recipient_id, kind=kind, module=schema.key,
                        record_id=record_id, actor_id=actor_id, params=params, key=key,
                        in_app=channel != Channel.EMAIL, by_email=by_email)
        written += row is not None
        if by_email:
            email_keys.append(key)
    if email_keys:
        # Rows whose e-mail has not gone yet, new or left by an interrupted earlier try; the
        # e-mail task sends each once, so queueing one twice costs nothing.
        ids = list(Notification.objects.filter(org=org, key__in=email_keys, by_email=True, emailed_at__isnull=True)
                   .values_list("pk", flat=True))
        transaction.on_commit(lambda: queue_emails(ids))
    return written


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=600, max_retries=8)
def send_notification_email(notification_id: int) -> bool:
    """Send one notification's e-mail; a retry, or the same task twice, sends it once."""
    return do_email_notification(notification_id, _email)


def _email(notification: Notification) -> bool:
    """Send the e-mail unless the recipient can no longer open the record (it leaves the
    application) or has no address. Raises when the mail server fails, so the task retries."""
    note_id = (notification.params or {}).get("note")
    may_open, note = what_they_may_read(notification.recipient_id, notification.org_id, notification.module,
                                        notification.record_id, note_id if isinstance(note_id, int) else None)
    message = compose(notification, note) if may_open else None
    if message is None:
        return False
    message.send()
    return True


def queue_emails(ids: Iterable[int]) -> None:
    """Queue the e-mails (call after commit). A broker that is down (or, with tasks run eagerly,
    a mail server that is) costs the e-mail, never the in-app notification, which is already
    written; a retried delivery queues the e-mails still unsent."""
    for pk in ids:
        try:
            send_notification_email.delay(pk)
        except (OSError, OperationalError, Retry):
            logger.exception("Could not queue or send the e-mail of notification %s", pk)


def what_they_may_read(user_id: int, org_id: int, module: str, record_id: int,
                       note_id: int | None = None) -> tuple[bool, str]:
    """(whether the user may open the record now, the text of the note if they may read it):
    checked again when an e-mail goes, since it leaves the application."""
    target = _target(org_id, module, record_id)
    if target is None:
        return False, ""
    org, schema, record = target
    user = _member(user_id, org)
    if user is None or not can(user, schema, record_id, "view"):
        return False, ""
    if note_id is None:
        return True, ""
    notes = Note.objects.filter(org=org, pk=note_id, record_id=record_id,
                                record_type=ContentType.objects.get_for_model(record))
    body = schema.notes_for(notes, user).values_list("body", flat=True).first()
    return True, body or ""


def _member(user_id: int, org) -> User | None:
    """The active member, bound to the org (as access expects), or None."""
    membership = Membership.objects.select_related("user", "profile", "org_role").filter(
        org=org, user_id=user_id, is_active=True).first()
    if membership is None or not membership.user.is_active:
        return None
    return bind_org(membership.user, org, membership)


def _may_open(user_id: int, org, schema, record_id: int) -> bool:
    """Never tell someone about a record they cannot open."""
    user = _member(user_id, org)
    return user is not None and can(user, schema, record_id, "view")
