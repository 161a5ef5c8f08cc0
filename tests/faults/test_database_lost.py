"""PostgreSQL going away under the app (a restart, a network cut), seen through a relay the test
cuts (tests/faults/proxy.py), on the real test database: a request cut off gets a clear 503 and
writes nothing; requests while it is gone get the same; once it is back, the next request works
with no restart of anything."""
from __future__ import annotations

import contextlib

import pytest
from django.db import DatabaseError, close_old_connections, connection
from django.test import Client
from django.urls import reverse

from crm import actions as crm_actions
from crm.models import TimelineEntry

from .proxy import Relay

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def relay(transactional_db):
    """The test's connections (the app's, in this process) go through a relay to the database
    (set up after the test database and taken away before it is emptied)."""
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    relay = Relay(saved[0] or "127.0.0.1", int(saved[1] or 5432))
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(relay.port)
    yield relay
    settings_dict["HOST"], settings_dict["PORT"] = saved
    relay.close()
    with contextlib.suppress(DatabaseError):
        connection.close()  # a connection through the relay; the next one is direct


@pytest.fixture
def deal(admin_user, standard_user):
    return crm_actions.do_create_record("deals", {"name": "Big order", "amount": "100"}, actor=standard_user)


class ServerClient(Client):
    """The test client as a real server runs a request: the error page rather than the exception,
    and the start-of-request check of kept connections (which the test client leaves out)."""

    def __init__(self) -> None:
        super().__init__(raise_request_exception=False)

    def request(self, **request):
        close_old_connections()
        return super().request(**request)


def browser(user) -> Client:
    client = ServerClient()
    client.force_login(user)
    return client


def cut_when(relay: Relay, condition):
    """Cut the database off just before the first statement for which `condition(sql)` holds."""
    def wrapper(execute, sql, params, many, context):
        if condition(sql):
            relay.down()
        return execute(sql, params, many, context)

    return connection.execute_wrapper(wrapper)


def test_an_edit_cut_off_mid_transaction_gets_a_503_writes_nothing_and_the_next_try_saves(
        relay, deal, standard_user):
    client = browser(standard_user)
    url = reverse("crm:edit", args=["deals", deal.pk])
    form = {"name": "Big order", "amount": "250", "stage": deal.stage, "version": deal.version}
    entries_before = TimelineEntry.objects.filter(record_id=deal.pk).count()

    # The record's row is updated, then the database goes before the rest (its timeline entry,
    # its event) is written: the transaction never commits.
    with cut_when(relay, lambda sql: connection.in_atomic_block and sql.lstrip().upper().startswith("INSERT")):
        response = client.post(url, form)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert "database cannot be reached" in response.content.decode()
    assert "Nothing was saved" in response.content.decode()

    relay.up()
    deal.refresh_from_db()
    assert str(deal.amount) in ("100", "100.00")  # nothing of the cut-off edit
    assert TimelineEntry.objects.filter(record_id=deal.pk).count() == entries_before

    response = client.post(url, form)  # the person tries again: no restart of anything
    assert response.status_code == 302
    deal.refresh_from_db()
    assert str(deal.amount) in ("250", "250.00")


def test_while_the_database_is_gone_pages_say_so_and_a_kept_connection_recovers_on_its_own(
        relay, deal, standard_user):
    client = browser(standard_user)
    list_url = reverse("crm:list", args=["deals"])
    assert client.get(list_url).status_code == 200  # the connection is kept (CONN_MAX_AGE)

    relay.down()
    page = client.get(list_url)
    assert page.status_code == 503
    assert 'data-testid="server-fault"' in page.content.decode()
    partial = client.get(list_url, HTTP_HX_REQUEST="true")
    assert partial.status_code == 503 and partial["Content-Type"].startswith("text/plain")
    chinese = client.get(list_url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 503 and "数据库" in chinese.content.decode()

    relay.up()  # a restart: every connection the app held is dead
    assert client.get(list_url).status_code == 200
    assert client.get(reverse("crm:detail", args=["deals", deal.pk])).status_code == 200


def test_a_connection_killed_between_requests_is_replaced_before_the_next_one(relay, deal, standard_user):
    client = browser(standard_user)
    detail = reverse("crm:detail", args=["deals", deal.pk])
    assert client.get(detail).status_code == 200
    relay.down()
    relay.up()  # back at once: only the kept connection is dead
    assert client.get(detail).status_code == 200  # checked before reuse (CONN_HEALTH_CHECKS)
