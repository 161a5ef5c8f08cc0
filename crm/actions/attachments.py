"""Attachment actions: add a file to a record, delete it; and the files of file fields.

A file field's file is an `Attachment` row tied to the field key. The record actions
(do_create_record, do_update_record) store an upload only after the guards let the write through,
so uploads, replacements and clears pass the same checks as any field change (permissions, field
permissions, locks, blueprints, approvals) and are on the timeline as the field's change; the file
a write replaces or clears goes with it, its bytes removed once the transaction commits."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils.translation import gettext as _

from access.models import User

from .. import timeline
from ..file_values import NewFile, StoredFile
from ..guards import WriteContext, run_guards
from ..models import Attachment
from ..schema import BoundSchema
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


# --- file fields ---------------------------------------------------------------------

def has_uploads(values: dict[str, Any]) -> bool:
    return any(isinstance(value, NewFile) for value in values.values())


def store_uploads(schema: BoundSchema, record: Any, values: dict[str, Any], *, actor: User) -> dict[str, Any]:
    """`values` with each upload stored for the saved `record`, as the StoredFile to keep."""
    stored = dict(values)
    record_type = ContentType.objects.get_for_model(record)
    for key, value in values.items():
        if not isinstance(value, NewFile):
            continue
        upload = value.upload
        attachment = Attachment.objects.create(
            org_id=record.org_id, record_type=record_type, record_id=record.pk, uploaded_by=actor, file=upload,
            name=value.name, size=value.size, content_type=(getattr(upload, "content_type", "") or "")[:100],
            field_key=key)
        stored[key] = StoredFile(attachment.pk, value.name, value.size)
    return stored


def drop_replaced(record: Any, replaced: dict[str, Any]) -> None:
    """Remove the files a write replaced or cleared ({field key: the old value}): their rows now,
    their bytes once the write is committed (a rollback keeps both)."""
    ids = [old.id for old in replaced.values() if isinstance(old, StoredFile) and old.id]
    if not ids:
        return
    rows = Attachment.objects.filter(org_id=record.org_id, record_type=ContentType.objects.get_for_model(record),
                                     record_id=record.pk, pk__in=ids, field_key__in=list(replaced))
    names = [row.file.name for row in rows if row.file]
    rows.delete()
    if names:
        storage = Attachment._meta.get_field("file").storage
        transaction.on_commit(lambda: [storage.delete(name) for name in names])
