"""Uploaded files never run in the app's origin: whatever a user uploads (an HTML page, a script
named like a path) is stored under the media folder by the storage's own name and served only as a
download, with the browser told not to guess its type."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import actions
from crm.models import Attachment
from tests.files.test_org_file_fields import contract, download_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

PAGE = b"<html><script>alert(document.cookie)</script></html>"


def hostile_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("../../../static/js/evil.html", PAGE, "text/html")


def test_a_file_field_upload_is_served_as_a_download_never_as_a_page(contract, standard_user, client_for):  # noqa: F811
    deal = actions.do_create_record("deals", {"name": "Northwind", "contract": hostile_upload()}, actor=standard_user)
    stored = Attachment.objects.get(record_id=deal.pk, field_key=contract.key)
    assert stored.name == "evil.html"  # the path part of the name is dropped
    assert Path(stored.file.path).resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve() / "attachments")
    response = client_for(standard_user).get(download_url(deal, contract.key))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PAGE


def test_an_attachment_upload_is_served_as_a_download_never_as_a_page(standard_user, client_for):
    deal = actions.do_create_record("deals", {"name": "Northwind"}, actor=standard_user)
    client = client_for(standard_user)
    response = client.post(reverse("crm:attachment_add", args=["deals", deal.pk]), {"file": hostile_upload()})
    assert response.status_code in (200, 302)
    attachment = Attachment.objects.get(record_id=deal.pk, field_key="")
    assert attachment.name == "evil.html"
    assert Path(attachment.file.path).resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve() / "attachments")
    response = client.get(reverse("crm:attachment_download", args=["deals", deal.pk, attachment.pk]))
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
