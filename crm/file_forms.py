"""The form field of a file field: upload, keep, replace or clear, on the record form."""
from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .file_values import StoredFile, check_upload


class RecordFileInput(forms.ClearableFileInput):
    """Shows the stored file as a link to its access-checked download (the value's `url`, set by
    the form) with a "clear" box, and an input to upload a replacement."""

    clear_checkbox_label = _("Clear")
    initial_text = _("Current file")
    input_text = _("Replace")

    def is_initial(self, value: Any) -> bool:
        return isinstance(value, StoredFile)


class RecordFileField(forms.FileField):
    """Cleans to an upload, False ("clear" ticked) or the stored file kept as it was. An empty file
    or one above the size limit is an error under the field, as the action would say."""

    widget = RecordFileInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {"empty": _("The file is empty."),
                                             "required": _("Choose a file to upload.")})
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        value = super().clean(data, initial)
        if value and not isinstance(value, StoredFile):
            try:
                check_upload(value)
            except ValidationError as exc:
                raise ValidationError(exc.messages)
        return value

    def has_changed(self, initial: Any, data: Any) -> bool:
        return not self.disabled and data is not None


def file_url(module_key: str, pk: int, field_key: str) -> str:
    """Where a record's file field is downloaded (crm.file_views, after the access checks)."""
    from django.urls import reverse

    return reverse("crm:field_file", args=[module_key, pk, field_key])
