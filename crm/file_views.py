"""A file field's download: the only way its file leaves the server (never a public media URL).

The record is resolved through `access` in `dispatch` (another org's record, or one the user may
not see, is a 404); the field must be one the user may see on that record (a hidden field, or
one a team's requesters are not shown, is a 404 too)."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.http import FileResponse, Http404

from .models import Attachment
from .views import ModuleView


class FieldFileView(ModuleView):
    def get(self, request, module, pk, field_key):
        spec = next((spec for spec in self.schema.fields_for(request.user) if spec.key == field_key), None)
        if spec is None or spec.type != "file" or spec.key in self.decision.hidden:
            raise Http404
        value = spec.get_value(self.record)
        attachment = None if value is None or not value.id else Attachment.objects.filter(
            org=request.org, pk=value.id, field_key=spec.key, record_id=self.record.pk,
            record_type=ContentType.objects.get_for_model(self.record)).first()
        if attachment is None or not attachment.file:
            raise Http404
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError:  # the bytes are gone (storage restored without them): nothing to send
            raise Http404
        return FileResponse(handle, as_attachment=True, filename=attachment.name)
