"""A create form submitted twice creates one record: the second submit lands on the first result."""
from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from crm import actions
from crm.models import Account, Note


def token() -> str:
    return str(uuid.uuid4())


@pytest.mark.django_db
def test_the_new_record_form_carries_a_fresh_token_each_time(standard_user, client_for):
    client = client_for(standard_user)
    first = client.get(reverse("crm:create", args=["accounts"])).context["form"]["form_token"].value()
    second = client.get(reverse("crm:create", args=["accounts"])).context["form"]["form_token"].value()
    assert first and second and first != second


@pytest.mark.django_db
def test_a_record_form_sent_twice_creates_one_record(standard_user, client_for):
    client = client_for(standard_user)
    data = {"name": "Once Ltd", "form_token": token()}
    first = client.post(reverse("crm:create", args=["accounts"]), data)
    second = client.post(reverse("crm:create", args=["accounts"]), data)
    record = Account.objects.get(name="Once Ltd")
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == record.get_absolute_url()
    # Another rendering of the form (another token) is another record, as the user meant.
    client.post(reverse("crm:create", args=["accounts"]), {**data, "form_token": token()})
    assert Account.objects.filter(name="Once Ltd").count() == 2


@pytest.mark.django_db
def test_a_token_is_per_user(standard_user, other_user, client_for):
    data = {"name": "Shared token", "form_token": token()}
    client_for(standard_user).post(reverse("crm:create", args=["accounts"]), data)
    client_for(other_user).post(reverse("crm:create", args=["accounts"]), data)
    assert Account.objects.filter(name="Shared token").count() == 2


@pytest.mark.django_db
def test_a_refused_submit_frees_its_token_for_the_corrected_form(standard_user, client_for):
    client = client_for(standard_user)
    data = {"name": "", "form_token": token()}
    assert client.post(reverse("crm:create", args=["accounts"]), data).status_code == 400
    response = client.post(reverse("crm:create", args=["accounts"]), {**data, "name": "Fixed"})
    assert response.status_code == 302 and Account.objects.filter(name="Fixed").count() == 1


@pytest.mark.django_db
def test_a_note_form_sent_twice_adds_one_note(standard_user, client_for):
    account = actions.do_create_record("accounts", {"name": "Noted"}, actor=standard_user)
    client = client_for(standard_user)
    page = client.get(account.get_absolute_url()).content.decode()
    assert 'name="form_token"' in page
    data = {"body": "Called them", "form_token": token()}
    url = reverse("crm:note_add", args=["accounts", account.pk])
    assert client.post(url, data).status_code == client.post(url, data).status_code == 302
    assert Note.objects.filter(body="Called them").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_submits_create_one_record(admin_user, client_for):
    data = {"name": "Race Ltd", "form_token": token()}
    clients = [client_for(admin_user), client_for(admin_user)]
    start = threading.Barrier(2)
    answers: list = []

    def submit(client):
        try:
            start.wait()
            answers.append(client.post(reverse("crm:create", args=["accounts"]), data))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = Account.objects.get(name="Race Ltd")
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {record.get_absolute_url()}
