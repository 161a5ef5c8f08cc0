"""Type-ahead lookups: the search endpoints behind lookup and user fields, and the forms that
use them (only the chosen option is rendered; what is posted is still checked)."""
from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_membership_active, do_set_org_default
from access.share_actions import do_share_record
from crm import actions
from crm.lookup_views import MAX_QUERY, MAX_RESULTS
from crm.models import Account, Deal
from teams import actions as team_actions
from teams import roles
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

STATUSES = [{"value": "open", "label_en": "Open", "label_zh": "打开"}, {"value": "done", "label_en": "Done"}]


def token() -> str:
    return str(uuid.uuid4())


def lookup(client, module, q="", **params):
    return client.get(reverse("crm:lookup", args=[module]), {"q": q, **params})


def names(response):
    assert response.status_code == 200, response.content
    return [item["text"] for item in response.json()["results"]]


def account(actor, name, **values):
    return actions.do_create_record("accounts", {"name": name, **values}, actor=actor)


def test_a_standard_user_finds_only_what_visible_allows(admin_user, standard_user, other_user, other_org_user,
                                                        client_for):
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)
    account(standard_user, "Northwind Mine")
    theirs = account(other_user, "Northwind Theirs")
    shared = account(other_user, "Northwind Shared")
    do_share_record(admin_user.org, "accounts", shared, user=standard_user, access="read", actor=admin_user)
    globex = account(other_org_user, "Northwind Globex", city="Springfield")
    client = client_for(standard_user)

    assert names(lookup(client, "accounts", "northwind")) == ["Northwind Mine", "Northwind Shared"]
    # Another org's rows never, even by their exact name or id, nor a same-org row not shared.
    for q in ("Northwind Globex", str(globex.pk), "Springfield", "Northwind Theirs", str(theirs.pk)):
        assert names(lookup(client, "accounts", q)) == [], q
    assert names(lookup(client_for(admin_user), "accounts", "northwind")) == [
        "Northwind Mine", "Northwind Shared", "Northwind Theirs"]
    assert names(lookup(client_for(other_org_user), "accounts", "northwind")) == ["Northwind Globex"]


def test_at_most_twenty_matches_in_a_stable_order(standard_user, client_for):
    for i in reversed(range(MAX_RESULTS + 5)):
        account(standard_user, f"Bulk {i:02d}")
    account(standard_user, "Bulk 00")  # same name: the older one (lower pk) comes first
    results = lookup(client_for(standard_user), "accounts", "bulk").json()["results"]
    assert len(results) == MAX_RESULTS
    assert [r["text"] for r in results] == ["Bulk 00", "Bulk 00"] + [f"Bulk {i:02d}" for i in range(1, 19)]
    assert results[0]["id"] < results[1]["id"]
    # An empty query lists the first ones too (bounded the same way).
    assert len(lookup(client_for(standard_user), "accounts", "").json()["results"]) == MAX_RESULTS


def test_a_chinese_substring_finds_the_record_with_its_distinguishing_field(standard_user, client_for):
    account(standard_user, "上海星辰科技", city="上海")
    account(standard_user, "北京星辰有限公司", city="北京")
    account(standard_user, "深圳科技")
    response = lookup(client_for(standard_user), "accounts", "星辰")
    assert [(r["text"], r["detail"]) for r in response.json()["results"]] == [
        ("上海星辰科技", "上海"), ("北京星辰有限公司", "北京")]
    assert response.json()["results"][0]["id"] == Account.objects.get(name="上海星辰科技").pk


def test_each_module_names_one_distinguishing_field(admin_user, standard_user, client_for):
    acme = account(standard_user, "Acme Holdings", city="Shanghai")
    gone = account(standard_user, "Gone Ltd")
    actions.do_create_record("contacts", {"first_name": "Ann", "last_name": "Lee", "account": acme.pk,
                                          "email": "ann@acme.test"}, actor=standard_user)
    actions.do_create_record("contacts", {"last_name": "Leeward", "email": "lw@acme.test", "account": gone.pk},
                             actor=standard_user)
    actions.do_delete_record(gone, version=version_of(gone), actor=standard_user)  # in the bin: not named
    actions.do_create_record("deals", {"name": "Acme renewal", "account": acme.pk}, actor=standard_user)
    actions.do_create_record("leads", {"last_name": "Lin", "company": "Star Tech"}, actor=standard_user)
    actions.do_create_record("tasks", {"subject": "Call Acme", "due_date": "2026-03-01"}, actor=standard_user)
    client = client_for(standard_user)

    def details(module, q):
        return [(r["text"], r["detail"]) for r in lookup(client, module, q).json()["results"]]

    assert details("contacts", "lee") == [("Ann Lee", "Acme Holdings"), ("Leeward", "lw@acme.test")]
    assert details("deals", "renewal") == [("Acme renewal", "Acme Holdings")]
    assert details("leads", "lin") == [("Lin", "Star Tech")]
    assert details("tasks", "call")[0][0] == "Call Acme" and "2026" in details("tasks", "call")[0][1]
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[standard_user.pk],
                                         actor=admin_user)
    roles.forget(standard_user)
    module = team_actions.do_create_team_module(space, name_en="Jobs", statuses=STATUSES, actor=standard_user)
    actions.do_create_record(module.key, {"title": "Fix the roof"}, actor=standard_user)
    assert details(module.key, "roof") == [("Fix the roof", "Open")]
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert details(module.key, "roof") == [("Fix the roof", "打开")]


def test_a_module_the_user_cannot_open_is_refused_without_leaking(admin_user, standard_user, client_for):
    space = team_actions.do_create_space(admin_user.org, name_en="Secret space", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    module = team_actions.do_create_team_module(space, name_en="Secret jobs", statuses=STATUSES, actor=admin_user)
    actions.do_create_record(module.key, {"title": "Secret roof"}, actor=admin_user)
    client = client_for(standard_user)
    for key in (module.key, "no-such-module", "team-999999"):
        response = lookup(client, key, "roof")
        assert response.status_code in (403, 404), key
        assert "error" in response.json() and "roof" not in response.content.decode().lower()
    assert names(lookup(client_for(admin_user), module.key, "roof")) == ["Secret roof"]
    client.logout()
    assert lookup(client, "accounts", "x").status_code == 403


@pytest.mark.parametrize("q, status", [("x" * (MAX_QUERY + 1), 400), ("bad\x00nul", 400), ("%_\\", 200),
                                       ("' OR 1=1 --", 200)])
def test_bad_search_text_is_a_clear_400_never_a_500(standard_user, client_for, q, status):
    account(standard_user, "Plain")
    client = client_for(standard_user)
    for url in (reverse("crm:lookup", args=["accounts"]), reverse("crm:member_lookup")):
        response = client.get(url, {"q": q}, HTTP_ACCEPT="application/json")
        assert response.status_code == status, (url, response.content)
        if status == 200:
            assert response.json()["results"] == [] or url.endswith("/members/lookup/")


def test_members_are_the_active_members_of_my_org(admin_user, standard_user, other_user, other_org_user, make_user,
                                                  client_for):
    leaver = make_user(admin_user.org, username="olgaleaver")
    do_set_membership_active(leaver.membership, False, actor=admin_user)
    client = client_for(standard_user)
    url = reverse("crm:member_lookup")
    found = client.get(url, {"q": "olga"}).json()["results"]
    assert [(r["id"], r["text"], r["detail"]) for r in found] == [(other_user.pk, "Olga", "olga@example.test")]
    assert client.get(url, {"q": "alice admin"}).json()["results"][0]["id"] == admin_user.pk
    for q in ("globex", "Gary", "admin@globex.test", "olgaleaver"):
        assert client.get(url, {"q": q}).json()["results"] == [], q
    everyone = {r["id"] for r in client.get(url).json()["results"]}
    assert everyone == {admin_user.pk, standard_user.pk, other_user.pk}
    client.logout()
    assert client.get(url, {"q": "olga"}).status_code == 403


def test_the_deal_form_renders_only_the_chosen_account(standard_user, client_for):
    accounts = [account(standard_user, f"Account {i}") for i in range(30)]
    deal = actions.do_create_record("deals", {"name": "Big one", "account": accounts[7].pk}, actor=standard_user)
    client = client_for(standard_user)
    page = client.get(reverse("crm:edit", args=["deals", deal.pk])).content.decode()
    select = re.search(r'<select name="account".*?</select>', page, re.S).group(0)
    assert 'data-lookup-url="/m/accounts/lookup/"' in select
    assert re.findall(r'<option value="(\d*)"', select) == ["", str(accounts[7].pk)]
    assert "Account 7" in select and "Account 8" not in select
    owner = re.search(r'<select name="owner".*?</select>', page, re.S)
    assert owner is None or len(re.findall("<option", owner.group(0))) <= 2
    new = client.get(reverse("crm:create", args=["deals"])).content.decode()
    assert "Account 1" not in new and 'data-lookup-url="/m/accounts/lookup/"' in new
    assert 'data-placeholder="Type to search…"' in new
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert 'data-no-results="没有匹配项"' in client.get(reverse("crm:create", args=["deals"])).content.decode()


def test_form_queries_do_not_grow_with_the_records_to_choose_from(standard_user, client_for):
    client = client_for(standard_user)
    url = reverse("crm:create", args=["contacts"])

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    client.get(url)  # per-process caches filled
    few = count()
    for i in range(40):
        account(standard_user, f"Filler {i}")
    assert count() <= few


def test_posting_an_account_the_user_cannot_see_is_a_field_error(admin_user, standard_user, other_user,
                                                                  other_org_user, client_for):
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)
    hidden = account(other_user, "Not yours")
    foreign = account(other_org_user, "Globex account")
    mine = account(standard_user, "Yours")
    client = client_for(standard_user)
    for pk in (hidden.pk, foreign.pk):
        response = client.post(reverse("crm:create", args=["deals"]),
                               {"name": "Sneaky", "stage": "qualification", "account": pk, "form_token": token()})
        assert response.status_code == 400
        assert response.context["form"].errors["account"], pk
        assert "Not yours" not in response.content.decode() and "Globex account" not in response.content.decode()
    assert not Deal.objects.filter(name="Sneaky").exists()
    client.post(reverse("crm:create", args=["deals"]),
                {"name": "Mine", "stage": "qualification", "account": mine.pk, "form_token": token()})
    assert Deal.objects.get(name="Mine").account_id == mine.pk
    deal = actions.do_create_record("deals", {"name": "Fine", "account": mine.pk}, actor=standard_user)
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           {"name": "Fine", "stage": "qualification", "account": hidden.pk,
                            "version": version_of(deal)})
    assert response.status_code == 400 and response.context["form"].errors["account"]
    deal.refresh_from_db()
    assert deal.account_id == mine.pk


def test_an_owner_outside_the_org_is_refused(admin_user, standard_user, other_org_user, client_for):
    mine = account(standard_user, "Mine")
    client = client_for(standard_user)
    response = client.post(reverse("crm:owner", args=["accounts", mine.pk]),
                           {"owner": other_org_user.pk, "version": version_of(mine)})
    assert response.status_code in (200, 302, 400)
    mine.refresh_from_db()
    assert mine.owner_id == standard_user.pk


def test_list_filters_are_type_aheads_that_check_what_is_chosen(admin_user, standard_user, other_user, client_for):
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)
    mine = account(standard_user, "Mine")
    hidden = account(other_user, "Hidden")
    actions.do_create_record("deals", {"name": "On mine", "account": mine.pk}, actor=standard_user)
    client = client_for(standard_user)
    page = client.get(reverse("crm:list", args=["deals"]), {"account": mine.pk, "owner": standard_user.pk})
    html = page.content.decode()
    assert "On mine" in html
    owner = re.search(r'<select name="owner".*?</select>', html, re.S).group(0)
    assert 'data-lookup-url="/members/lookup/"' in owner and "multiple" in owner
    assert re.findall(r'<option value="(\d*)"', owner) == [str(standard_user.pk)]
    account_select = re.search(r'<select name="account".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="(\d+)"', account_select) == [str(mine.pk)]
    refused = client.get(reverse("crm:list", args=["deals"]), {"account": hidden.pk})
    assert "Hidden" not in refused.content.decode()
    assert refused.context["filterset"].form.errors["account"]


def test_criteria_rows_over_lookups_and_users_are_type_aheads_showing_names(admin_user, standard_user,
                                                                           other_org_user):
    from crm.forms import ReassignForm
    from crm.modules import get_module

    acme = account(admin_user, "Acme Holdings")
    foreign = account(other_org_user, "Globex secret")
    schema = get_module("deals").bind(admin_user.org)
    form = ReassignForm(org=admin_user.org, schema=schema, from_user=standard_user, initial={
        "c0_field": "account", "c0_op": "in", "c0_value": f"{acme.pk}, {foreign.pk}",
        "c1_field": "owner", "c1_op": "eq", "c1_value": str(admin_user.pk),
        "c2_field": "name", "c2_op": "contains", "c2_value": "renewal"})
    html = str(form["c0_field"])
    assert re.search(r'value="account"[^>]* data-lookup-url="/m/accounts/lookup/"', html)
    assert re.search(r'value="owner"[^>]* data-lookup-url="/members/lookup/"', html)
    assert not re.search(r'value="name"[^>]* data-lookup-url', html)
    account_value = str(form["c0_value"])
    assert 'data-lookup-url="/m/accounts/lookup/"' in account_value and "Acme Holdings" in account_value
    assert "Globex secret" not in account_value  # another org's id is shown as the bare id
    assert "Alice Admin" in str(form["c1_value"])
    assert "data-lookup-url" not in str(form["c2_value"])
    # What is posted is still checked as criteria: ids of this module's lookup.
    posted = ReassignForm({"owner": admin_user.pk, "joiner": "all", "c0_field": "account", "c0_op": "eq",
                           "c0_value": "not an id"}, org=admin_user.org, schema=schema, from_user=standard_user)
    assert not posted.is_valid() and "c0_value" in posted.errors


def test_a_list_with_a_lookup_to_a_retired_module_still_opens(admin_user, client_for):
    space = team_actions.do_create_space(admin_user.org, name_en="Ops", manager_ids=[admin_user.pk],
                                         actor=admin_user)
    jobs = team_actions.do_create_team_module(space, name_en="Jobs", statuses=STATUSES, actor=admin_user)
    sites = team_actions.do_create_team_module(space, name_en="Sites", statuses=STATUSES, actor=admin_user)
    actions.do_create_field(admin_user.org, jobs.key, api_name="site", label_en="Site", field_type="lookup",
                            target=sites.key, actor=admin_user)
    team_actions.do_set_team_module_retired(sites, True, actor=admin_user)
    assert client_for(admin_user).get(reverse("crm:list", args=[jobs.key])).status_code == 200
