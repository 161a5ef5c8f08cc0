"""A file field's values: the stored file, an upload not stored yet, and the upload checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class StoredFile:
    """A file field's value: the field's file, kept as an `Attachment` row tied to the field key.
    The JSON value carries the name and size too, so lists and pages show it with no query.
    `url` is where a page offers it for download (never compared, never stored)."""

    id: int | None
    name: str
    size: int = 0
    url: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.name


class NewFile:
    """An upload not stored yet: the record actions store it once the guards let the write through
    (crm.actions.attachments), so a refused write leaves no file behind."""

    def __init__(self, upload: Any) -> None:
        self.upload = upload
        self.name = str(upload.name or "").replace("\\", "/").rsplit("/", 1)[-1][:255] or "file"
        self.size = int(upload.size or 0)

    def __str__(self) -> str:
        return self.name


def check_upload(upload: Any) -> None:
    """An empty file or one above the size limit is refused by name, before anything is stored."""
    from django.conf import settings

    if not upload.size:
        raise ValidationError(_("The file “%(name)s” is empty.") % {"name": upload.name})
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(_("The file is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)})
