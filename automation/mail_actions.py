"""The only writers of e-mail templates and of the e-mails workflow rules send."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from access.visibility import current_membership, is_org_admin
from crm import timeline
from crm.modules import get_module

from . import runs
from .mail_models import EmailTemplate, OutgoingEmail
from .mail_render import check_template
from .run_models import RuleRun

logger = logging.getLogger(__name__)
EMAIL_SENT = "email_sent"  # the timeline entry of each e-mail sent


def may_manage_templates(user: Any, module_key: str) -> bool:
    """Org administrators manage every template; team managers those of their team modules."""
    if current_membership(user) is None:
        return False
    if not module_key:
        return is_org_admin(user)
    try:
        schema = get_module(module_key, user.org)
    except Http404:
        return False
    return schema.can_configure(user)


def _checked(org: Any, values: dict[str, Any], actor: Any, exclude_pk: int | None = None) -> dict[str, Any]:
    cleaned = {key: str(values.get(key) or "").strip() for key in ("name", "subject", "body", "module")}
    errors: dict[str, list[str]] = {}
    for key, limit in (("name", 120), ("subject", 255)):
        if not cleaned[key]:
            errors.setdefault(key, []).append(_("This field is required."))
        elif len(cleaned[key]) > limit:
            errors.setdefault(key, []).append(_("At most %(limit)d characters.") % {"limit": limit})
    if not cleaned["body"]:
        errors.setdefault("body", []).append(_("This field is required."))
    if not may_manage_templates(actor, cleaned["module"]):
        errors.setdefault("module", []).append(_("You may not manage templates of this module."))
    for key in ("subject", "body"):
        if cleaned[key] and key not in errors:
            try:
                check_template(cleaned[key], key)
            except ValidationError as exc:
                errors.setdefault(key, []).extend(exc.message_dict[key])
    taken = EmailTemplate.objects.filter(org=org, name__iexact=cleaned["name"]).exclude(pk=exclude_pk)
    if cleaned["name"] and taken.exists():
        errors.setdefault("name", []).append(_("A template with this name exists already."))
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def do_create_email_template(values: dict[str, Any], *, actor: Any) -> EmailTemplate:
    """A new template in the actor's org (administrators; team managers for their modules)."""
    cleaned = _checked(actor.org, values, actor)
    return EmailTemplate.objects.create(org=actor.org, created_by=actor, **cleaned)


@transaction.atomic
def do_update_email_template(template: EmailTemplate, values: dict[str, Any], *, actor: Any) -> EmailTemplate:
    if template.org_id != actor.org.pk or not may_manage_templates(actor, template.module):
        raise PermissionDenied
    cleaned = _checked(actor.org, values, actor, exclude_pk=template.pk)
    for key, value in cleaned.items():
        setattr(template, key, value)
    template.save()
    return template


@transaction.atomic
def do_delete_email_template(template: EmailTemplate, *, actor: Any) -> None:
    """Rules still naming it fail with "the template is gone" in their run log."""
    if template.org_id != actor.org.pk or not may_manage_templates(actor, template.module):
        raise PermissionDenied
    template.delete()


def do_queue_email(*, org_id: int, key: str, recipient: str, template_id: int | None, module: str, record_id: int,
                   run_id: int | None, actor_id: int | None, path: str, subject: str, text: str,
                   html: str) -> tuple[OutgoingEmail, bool]:
    """The e-mail to send for (key, recipient): (row, True) when new, (the existing row, False) when
    the action ran already (a retried run). Call inside the rule's transaction."""
    return OutgoingEmail.objects.get_or_create(
        org_id=org_id, key=key, recipient=recipient,
        defaults={"template_id": template_id, "module": module, "record_id": record_id, "run_id": run_id,
                  "actor_id": actor_id, "path": path, "subject": subject, "body_text": text, "body_html": html})


def do_send_email(email_id: int) -> bool:
    """Send one queued e-mail and write its timeline entry, once: the row is locked while sending,
    so a second delivery of the task waits and then finds it sent. True when it was sent now.
    A crash between the SMTP server's acceptance and the commit can still send it again: mail has
    no two-phase commit, so this is at-least-once only inside that window."""
    with transaction.atomic():
        row = OutgoingEmail.objects.select_for_update().filter(pk=email_id).first()
        if row is None or row.status != OutgoingEmail.Status.QUEUED:
            return False
        row.attempts += 1
        message = EmailMultiAlternatives(row.subject, row.body_text, settings.DEFAULT_FROM_EMAIL, [row.recipient])
        message.attach_alternative(row.body_html, "text/html")
        message.send()
        row.status, row.sent_at, row.error = OutgoingEmail.Status.SENT, timezone.now(), ""
        row.save(update_fields=["status", "sent_at", "error", "attempts"])
        _log_sent(row)
    return True


def _log_sent(row: OutgoingEmail) -> None:
    """The e-mail on the record's timeline, by the rule (its path) acting as its user. The entry
    needs only the record's type and id, so the record is not read again."""
    from access.models import Organization

    try:
        schema = get_module(row.module, Organization(pk=row.org_id))
    except Http404:  # the module is gone since
        return
    record = schema.model(pk=row.record_id, org_id=row.org_id)
    timeline.write(record, kind=EMAIL_SENT, actor=row.actor, path=row.path,
                   changes={"email_to": [None, row.recipient], "email_subject": [None, row.subject]})


def do_fail_email(email_id: int, error: str, attempts: int) -> None:
    """Sending gave up: the row says why and the rule's run shows as failed to administrators."""
    with transaction.atomic():
        row = OutgoingEmail.objects.select_for_update().filter(pk=email_id).first()
        if row is None or row.status != OutgoingEmail.Status.QUEUED:
            return
        row.status, row.error, row.attempts = OutgoingEmail.Status.FAILED, error[:4000], attempts
        row.save(update_fields=["status", "error", "attempts"])
        fail_run(row.org_id, row.run_id, _("E-mail to %(to)s not sent: %(error)s") % {"to": row.recipient,
                                                                                         "error": error})


def fail_run(org_id: int, run_id: int | None, message: str) -> None:
    """Mark a finished run failed after one of its queued actions gave up (e-mail, webhook)."""
    run = RuleRun.objects.filter(org_id=org_id, pk=run_id).first() if run_id else None
    if run is None:
        return
    error = f"{run.error}\n{message}".strip() if run.error else message
    runs.finish(run, RuleRun.Status.FAILED, list(run.actions or []) + [{"action": "queued", "error": message}], error)
