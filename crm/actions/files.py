"""File fields inside the record actions: an upload is stored only after the guards let the write
through, as an `Attachment` row tied to the field key; the file it replaces (or the one cleared)
goes with the write, its bytes removed once the transaction commits.

Called by do_create_record and do_update_record, so uploads, replacements and clears pass the
same checks as any field change (permissions, field permissions, locks, blueprints, approvals)
and are written to the timeline as the field's change."""
from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from access.models import User

from ..fieldtypes import NewFile, StoredFile
from ..models import Attachment
from ..schema import BoundSchema


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
