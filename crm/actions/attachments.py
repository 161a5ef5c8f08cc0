"""Attachment actions: add a file to a record, delete it."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from access.models import User

from .. import timeline
from ..guards import WriteContext, run_guards
from ..models import Attachment
from .base import RecordValidationError, _event, _record_for, _require_member, bound_schema, record_refusals


@record_refusals
@transaction.atomic
def do_add_attachment(record: Any, upload: Any, *, actor: User, path: str = "page",
                      deliverable: bool = False) -> Attachment:
    """Attach a file to a record the actor may edit. A deliverable is also shown to the people
    who requested the record (team requests)."""
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    if upload is None:
        raise RecordValidationError({"file": [_("Choose a file to upload.")]})
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        raise RecordValidationError({"file": [_("The file is larger than %(mb)d MB.")
                                              % {"mb": settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)}]})
    current = _record_for(schema, record, actor, "edit")
    run_guards(WriteContext("add_attachment", schema, current, actor, path, {"file": upload.name}))
    name = upload.name.rsplit("/", 1)[-1][:255]
    attachment = Attachment.objects.create(org_id=current.org_id, record=current, uploaded_by=actor, file=upload,
                                           name=name, size=upload.size, deliverable=deliverable,
                                           content_type=getattr(upload, "content_type", "") or "")
    # The id lets the timeline show the entry only to those who may see the file.
    timeline.write(current, kind="attachment_added", actor=actor, path=path,
                   changes={"file": [None, name], "attachment": [None, attachment.pk]})
    _event("attachment_added", schema, current, actor, path)
    return attachment


@record_refusals
@transaction.atomic
def do_delete_attachment(attachment: Attachment, *, actor: User, path: str = "page") -> None:
    record = attachment.record
    schema = bound_schema(record, actor.org)
    _require_member(actor, schema)
    current = _record_for(schema, record, actor, "edit")
    run_guards(WriteContext("delete_attachment", schema, current, actor, path, {"file": attachment.pk}))
    timeline.write(current, kind="attachment_deleted", actor=actor, path=path,
                   changes={"file": [attachment.name, None], "attachment": [attachment.pk, None]})
    attachment.file.delete(save=False)
    attachment.delete()
    _event("attachment_deleted", schema, current, actor, path)
