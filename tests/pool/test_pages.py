"""The pool pages: the settings pages (administrators only, errors on their fields), the pool
list (a keyset page at a time, masked, claim buttons the decision point's), the navigation tab,
and the record pages, kanban and charts of a module with waiting records (no owner) for members
and administrators."""
from __future__ import annotations

import pytest
from django.urls import reverse

from pool.models import Pool
from pool.views import PAGE_SIZE
from tests.pool.conftest import make_pool, waiting_leads

pytestmark = pytest.mark.django_db


def test_settings_pages_are_for_administrators_and_name_the_bad_field(admin_user, sally, leads_pool, client_for):
    admin = client_for(admin_user)
    assert "China East" in admin.get(reverse("pool:settings")).content.decode()
    assert admin.get(reverse("pool:new") + "?module=accounts").status_code == 200
    response = admin.post(reverse("pool:new"), {"name": "China East", "module": "leads", "capacity": "-3"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Ensure this value is greater than or equal to 1" in page
    response = admin.post(reverse("pool:new"), {"name": "china east", "module": "leads"})
    assert response.status_code == 400 and "Another pool is already called" in response.content.decode()
    response = admin.post(reverse("pool:new"), {"name": "West", "module": "accounts", "masked_fields": ["phone"],
                                                "member_users": [sally.pk], "daily_claims": "5",
                                                "capacity_counts_won": "on"})
    assert response.status_code == 302
    west = Pool.objects.get(org=admin_user.org, name="West")
    assert west.masked_fields == ["phone"] and west.daily_claims == 5 and list(west.member_users.all()) == [sally]
    for url in (reverse("pool:settings"), reverse("pool:new"), reverse("pool:edit", args=[west.pk])):
        assert client_for(sally).get(url).status_code == 404


def test_a_pool_with_waiting_records_is_not_deleted(admin_user, leads_pool, client_for):
    waiting_leads(admin_user, leads_pool, 1)
    response = client_for(admin_user).post(reverse("pool:delete", args=[leads_pool.pk]), follow=True)
    assert "assign or move them first" in response.content.decode()
    assert Pool.objects.filter(pk=leads_pool.pk).exists()


def test_the_pool_list_pages_by_entry_and_offers_claims(admin_user, sally, client_for, settings):
    pool = make_pool(admin_user, members=[sally], daily_claims=1)
    made = waiting_leads(admin_user, pool, PAGE_SIZE + 2)
    client = client_for(sally)
    first = client.get(reverse("pool:list", args=[pool.pk]))
    assert first.status_code == 200
    rows = first.context["rows"]
    assert len(rows) == PAGE_SIZE and first.context["next_after"]
    assert all(row["claim"].allowed for row in rows)
    second = client.get(reverse("pool:list", args=[pool.pk]), {"after": first.context["next_after"]})
    ids = {row["record"].pk for row in rows} | {row["record"].pk for row in second.context["rows"]}
    assert ids == {lead.pk for lead in made} and not second.context["next_after"]
    assert client.get(reverse("pool:list", args=[pool.pk]), {"after": "garbage_x"}).status_code == 200
    # Past the daily limit the buttons give way to the reason.
    client.post(reverse("pool:claim"), {"ids": [made[0].pk], "module": "leads"})
    again = client.get(reverse("pool:list", args=[pool.pk]))
    assert "resets at midnight" in again.content.decode()


def test_the_navigation_shows_pools_to_members_only(admin_user, sally, standard_user, leads_pool, client_for):
    assert 'data-testid="pools-tab"' in client_for(sally).get(reverse("home"), follow=True).content.decode()
    assert 'data-testid="pools-tab"' not in client_for(standard_user).get(reverse("home"),
                                                                       follow=True).content.decode()
    assert client_for(standard_user).get(reverse("pool:list", args=[leads_pool.pk])).status_code == 404


@pytest.mark.parametrize("who", ["sally", "admin"])
def test_module_pages_with_waiting_records_work(admin_user, sally, leads_pool, client_for, who):
    lead = waiting_leads(admin_user, leads_pool, 2)[0]
    client = client_for(sally if who == "sally" else admin_user)
    for url in (reverse("crm:list", args=["leads"]), reverse("crm:list", args=["leads"]) + "?columns=owner",
                reverse("crm:kanban", args=["leads"]), reverse("crm:chart", args=["leads"]),
                reverse("crm:detail", args=["leads", lead.pk]), reverse("pool:index")):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
    page = client.get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
    assert 'data-testid="pool-badge"' in page and 'data-testid="pool-history"' in page
    assert ('data-testid="pool-claim"' in page) and (('data-testid="pool-assign"' in page) == (who == "admin"))
