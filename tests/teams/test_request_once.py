"""A request form sent twice submits one request (the one-time form token)."""
from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from teams.models import TeamRecord


@pytest.mark.django_db
def test_a_team_request_sent_twice_is_one_request(case_studies, requester, client_for):
    client = client_for(requester)
    data = {"title": "Twice", "form_token": str(uuid.uuid4())}
    url = reverse("teams:request_new", args=[case_studies.pk])
    first, second = client.post(url, data), client.post(url, data)
    record = TeamRecord.objects.get(title="Twice")
    assert first["Location"] == second["Location"] == record.get_absolute_url()
