"""Masked fields stay masked for everyone but a pool's administrators until someone claims the
record: the pool list, the record page (and its source), the module list, export, global search,
type-ahead and list filters; searching by a masked phone number does not find the record."""
from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from access.visibility import visible
from crm.modules import get_module
from pool import actions
from tests.pool.conftest import waiting_leads

pytestmark = pytest.mark.django_db

PHONE, EMAIL = "13800130000", "zhang0@example.com"
SHOWN_PHONE, SHOWN_EMAIL = "138****0000", "z***@example.com"


@pytest.fixture
def lead(admin_user, leads_pool):
    return waiting_leads(admin_user, leads_pool, 1)[0]


def pages(client, lead, pool):
    """Every page that shows or finds the lead, as the member reads them."""
    export = client.post(reverse("exports:export", args=["leads"]), {"format": "csv"})
    exported = b"".join(export.streaming_content).decode("utf-8-sig") if export.status_code == 200 else ""
    return {
        "pool list": client.get(reverse("pool:list", args=[pool.pk])).content.decode(),
        "record page": client.get(reverse("crm:detail", args=["leads", lead.pk])).content.decode(),
        "module list": client.get(reverse("crm:list", args=["leads"]) + "?columns=last_name&columns=phone"
                                  "&columns=email").content.decode(),
        "export": exported,
        "global search": client.get(reverse("crm:search"), {"q": "Lead0"}).content.decode(),
        "type-ahead": client.get(reverse("crm:lookup", args=["leads"]), {"q": "Lead"}).content.decode(),
    }


def test_a_member_sees_only_the_masks_until_the_claim(sally, lead, leads_pool, client_for):
    client = client_for(sally)
    for where, text in pages(client, lead, leads_pool).items():
        assert PHONE not in text and EMAIL not in text, where
    shown = pages(client, lead, leads_pool)
    assert SHOWN_PHONE in shown["pool list"] and SHOWN_EMAIL in shown["pool list"]
    assert SHOWN_PHONE in shown["record page"] and SHOWN_EMAIL in shown["record page"]
    assert "Lead0" in shown["export"] and SHOWN_EMAIL in shown["export"]
    assert "Lead0" in shown["global search"] and "Lead0" in shown["type-ahead"]
    actions.do_claim_records(get_module("leads", sally.org), [lead.pk], actor=sally)
    page = client.get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
    assert PHONE in page and EMAIL in page


def test_searching_by_a_masked_value_does_not_find_the_record(sally, admin_user, lead, client_for):
    client = client_for(sally)
    for term in (PHONE, "0013 0000", "zhang0@"):
        assert "Lead0" not in client.get(reverse("crm:list", args=["leads"]), {"q": term}).content.decode(), term
        assert "Lead0" not in client.get(reverse("crm:search"), {"q": term}).content.decode(), term
        lookup = client.get(reverse("crm:lookup", args=["leads"]), {"q": term}).json()
        assert lookup["results"] == [], term
    for params in ({"phone": "0013"}, {"email": "zhang0"}):  # nor filtering by it
        assert "Lead0" not in client.get(reverse("crm:list", args=["leads"]), params).content.decode(), params
    export = client.post(reverse("exports:export", args=["leads"]) + f"?q={PHONE}", {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert rows[1:] == []
    # The administrator sees it whole and finds it by the phone.
    assert "Lead0" in client_for(admin_user).get(reverse("crm:search"), {"q": PHONE}).content.decode()


def test_pool_administrators_and_org_administrators_see_the_values(admin_user, sally, lead, leads_pool, make_user,
                                                                  client_for):
    boss = make_user(admin_user.org, username="bob")
    leads_pool.admins.add(boss)
    actions._pools_changed(admin_user.org.pk)
    for user in (admin_user, boss):
        page = client_for(user).get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
        assert PHONE in page and EMAIL in page


def test_a_masked_record_is_never_written_back(sally, lead):
    record = visible(sally, get_module("leads", sally.org)).get(pk=lead.pk)
    assert record.phone == SHOWN_PHONE
    with pytest.raises(Exception, match="masked"):
        record.save()
