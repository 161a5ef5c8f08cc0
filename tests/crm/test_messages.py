"""Messages say what is wrong in words: no Python dict, no wrong reason."""
from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm import actions
from crm.models import Attachment, Note

pytestmark = pytest.mark.django_db


def shown(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def account(standard_user):
    return actions.do_create_record("accounts", {"name": "Big files"}, actor=standard_user)


def test_an_oversized_upload_says_so(settings, account, standard_user, client_for):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    upload = SimpleUploadedFile("huge.bin", b"x" * (1024 * 1024 + 1))
    response = client_for(standard_user).post(reverse("crm:attachment_add", args=["accounts", account.pk]),
                                              {"file": upload})
    assert shown(response) == ["The file is larger than 1 MB."]
    assert not Attachment.objects.exists()


def test_the_actions_refusal_of_an_oversized_upload_is_a_sentence(settings, account, standard_user):
    from crm.views import reason_of

    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    with pytest.raises(actions.RecordValidationError) as refused:
        actions.do_add_attachment(account, SimpleUploadedFile("huge.bin", b"x" * (1024 * 1024 + 1)),
                                  actor=standard_user)
    assert reason_of(refused.value) == "The file is larger than 1 MB."


def test_an_upload_within_the_limit_is_kept(settings, account, standard_user, client_for):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    response = client_for(standard_user).post(reverse("crm:attachment_add", args=["accounts", account.pk]),
                                              {"file": SimpleUploadedFile("small.txt", b"ok")})
    assert shown(response) == [] and Attachment.objects.get().name == "small.txt"


def test_a_note_over_the_limit_says_so(account, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:note_add", args=["accounts", account.pk]), {"body": "x" * 10001})
    assert shown(response) == ["A note can be at most 10,000 characters (this one has 10001)."]
    empty = client.post(reverse("crm:note_add", args=["accounts", account.pk]), {"body": "   "})
    assert shown(empty)[-1] == "A note cannot be empty."  # (the earlier message was not shown yet)
    assert not Note.objects.exists()


def test_an_edited_note_over_the_limit_says_so(account, standard_user, client_for):
    note = actions.do_add_note(account, "short", actor=standard_user)
    response = client_for(standard_user).post(reverse("crm:note_edit", args=["accounts", account.pk, note.pk]),
                                              {"body": "x" * 10001})
    assert shown(response) == ["A note can be at most 10,000 characters (this one has 10001)."]
    note.refresh_from_db()
    assert note.body == "short"
