"""Reassigning a (deactivated) user's records, as an org administrator does it on the settings page:
by module and criteria rows, all modules at once, and all or nothing."""
from __future__ import annotations

import html

import pytest
from django.urls import reverse

from access.actions import do_set_membership_active
from crm import actions
from crm.models import Account, TimelineEntry

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def owners(*records) -> dict[str, int]:
    """Each record's stored owner, by name."""
    model = type(records[0])
    return dict(model.objects.filter(pk__in=[r.pk for r in records]).values_list("name", "owner_id"))


def owner_entries(record) -> list[TimelineEntry]:
    return list(TimelineEntry.objects.filter(org_id=record.org_id, record_id=record.pk, kind="owner_changed"))


@pytest.fixture
def leaver(standard_user, admin_user):
    """Sam, who owns three deals and an account, then leaves (deactivated by the admin)."""
    deals = [actions.do_create_record("deals", {"name": name, "stage": stage, "amount": amount}, actor=standard_user)
             for name, stage, amount in [("Big open", "qualification", "900"), ("Won", "won", "900"),
                                         ("Small open", "qualification", "10")]]
    account = actions.do_create_record("accounts", {"name": "Kept"}, actor=standard_user)
    do_set_membership_active(standard_user.membership, False, actor=admin_user)
    return {"user": standard_user, "deals": deals, "account": account}


def reassign_url(membership, module: str = "") -> str:
    url = reverse("crm:settings_reassign", args=[membership.pk])
    return f"{url}?module={module}" if module else url


def rows(*conditions, joiner="all", **extra) -> dict[str, str]:
    """The criteria part of the form as the browser posts it: the joiner, then each row."""
    data = {"joiner": joiner, **extra}
    for i, (field, op, value) in enumerate(conditions):
        data.update({f"c{i}_field": field, f"c{i}_op": op, f"c{i}_value": value})
    return data


def test_the_module_choice_offers_that_modules_fields_as_criteria_rows(leaver, admin_user, client_for):
    client = client_for(admin_user)
    membership = leaver["user"].membership
    everything = client.get(reassign_url(membership))
    text = page_text(everything)
    assert everything.status_code == 200
    assert 'name="c0_field"' not in text  # all modules: no criteria
    assert 'data-count="deals">3<' in text and 'data-count="accounts">1<' in text and 'data-count="all">4<' in text
    deals = client.get(reassign_url(membership, "deals"))
    text = page_text(deals)
    assert deals.status_code == 200
    assert 'name="c0_field"' in text and '<option value="stage">Stage</option>' in text
    assert '<option value="deals" selected>' in text
    assert 'value="website"' not in text  # an accounts field is not offered for deals
    accounts = page_text(client.get(reassign_url(membership, "accounts")))
    assert '<option value="website">Website</option>' in accounts
    assert client.get(reassign_url(membership, "nope")).status_code == 404


def test_admin_reassigns_a_deactivated_users_records(leaver, admin_user, other_user, client_for):
    """One module, two criteria rows: only the matching deal moves, with its timeline entry."""
    sam, (big, won, small), account = leaver["user"], leaver["deals"], leaver["account"]
    client = client_for(admin_user)
    url = reassign_url(sam.membership, "deals")
    criteria = rows(("stage", "eq", "qualification"), ("amount", "gte", "100"))
    preview = client.post(url, {"module": "deals", "owner": other_user.pk, "op": "preview", **criteria})
    assert preview.status_code == 200
    assert "1 record would move." in page_text(preview)
    assert owners(big, won, small) == {"Big open": sam.pk, "Won": sam.pk, "Small open": sam.pk}

    response = client.post(url, {"module": "deals", "owner": other_user.pk, "op": "reassign", **criteria})
    assert response.status_code == 302 and response.url == url
    assert owners(big, won, small) == {"Big open": other_user.pk, "Won": sam.pk, "Small open": sam.pk}
    assert Account.objects.get(pk=account.pk).owner_id == sam.pk
    [entry] = owner_entries(big)
    assert (entry.actor_id, entry.path) == (admin_user.pk, "page")
    assert [c["id"] for c in entry.changes["owner"]] == [sam.pk, other_user.pk]
    assert owner_entries(won) == [] and owner_entries(small) == []
    after = page_text(client.get(url))
    assert "1 record reassigned." in after and 'data-count="deals">2<' in after

    # "Any" of the rows; the owner list leaves out the user whose records move.
    assert f'<option value="{sam.pk}"' not in after
    client.post(url, {"module": "deals", "owner": other_user.pk,
                      **rows(("stage", "eq", "won"), ("amount", "lt", "100"), joiner="any")})
    assert owners(big, won, small) == {"Big open": other_user.pk, "Won": other_user.pk, "Small open": other_user.pk}
    assert Account.objects.get(pk=account.pk).owner_id == sam.pk

    # All modules, no criteria: the rest moves.
    response = client.post(reassign_url(sam.membership), {"module": "", "owner": other_user.pk})
    assert response.status_code == 302
    assert Account.objects.get(pk=account.pk).owner_id == other_user.pk
    assert len(owner_entries(account)) == 1


def test_criteria_as_json_still_work(leaver, admin_user, other_user, client_for):
    sam, (big, won, small) = leaver["user"], leaver["deals"]
    response = client_for(admin_user).post(reassign_url(sam.membership, "deals"), {
        "module": "deals", "owner": other_user.pk, "joiner": "all",
        "criteria": '{"all": [{"field": "stage", "op": "eq", "value": "won"}]}'})
    assert response.status_code == 302
    assert owners(big, won, small) == {"Big open": sam.pk, "Won": other_user.pk, "Small open": sam.pk}


@pytest.mark.parametrize("data, shown", [
    (rows(("stage", "eq", "qualification"), ("amount", "gte", "lots")), "Condition 2: Wrong value for “Amount”"),
    (rows(("stage", "gt", "qualification")), "Condition 1: The operator “gt” cannot be used with"),
    (rows(("stage", "", "won")), "Condition 1: Choose an operator."),
    (rows(("", "eq", "won")), "Condition 1: Choose a field."),
    (rows(("website", "eq", "x")), "Condition 1: Select a valid choice."),  # an accounts field
    (rows(criteria='{"all": [{"field": "nope", "op": "eq", "value": 1}]}'), "Criteria: Unknown field “nope”."),
    (rows(criteria="{not json"), "Criteria: This is not valid JSON"),
    ({**rows(("stage", "eq", "won")), "criteria": '{"all": []}'}, "either as rows or as JSON, not both"),
])
def test_bad_criteria_are_named_and_nothing_moves(leaver, admin_user, other_user, client_for, data, shown):
    sam, deals = leaver["user"], leaver["deals"]
    response = client_for(admin_user).post(reassign_url(sam.membership, "deals"),
                                           {"module": "deals", "owner": other_user.pk, **data})
    assert response.status_code == 400
    assert shown in page_text(response)
    assert set(owners(*deals).values()) == {sam.pk}
    assert not TimelineEntry.objects.filter(kind="owner_changed").exists()


def test_the_new_owner_must_be_someone_else_of_the_org(leaver, admin_user, other_org_user, client_for):
    sam, deals = leaver["user"], leaver["deals"]
    client = client_for(admin_user)
    for owner in (sam.pk, other_org_user.pk, ""):
        response = client.post(reassign_url(sam.membership), {"module": "", "owner": owner})
        assert response.status_code == 400
        assert "New owner:" in page_text(response)
    assert set(owners(*deals).values()) == {sam.pk}


def test_only_an_org_admin_may_open_or_post_the_page(leaver, admin_user, other_user, make_user, org, client_for):
    sam, deals = leaver["user"], leaver["deals"]
    url = reassign_url(sam.membership, "deals")
    assert client_for(admin_user).get(url).status_code == 200
    for user in (other_user, make_user(org, username="newbie")):
        client = client_for(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"module": "deals", "owner": user.pk}).status_code == 404
    assert set(owners(*deals).values()) == {sam.pk}


def test_another_orgs_membership_is_not_found(leaver, admin_user, other_user, other_org_user, client_for):
    sam, deals = leaver["user"], leaver["deals"]
    acme_url, globex_url = reassign_url(sam.membership), reassign_url(other_org_user.membership)
    assert client_for(other_org_user).get(globex_url).status_code == 200
    assert client_for(admin_user).get(acme_url).status_code == 200
    assert client_for(admin_user).get(globex_url).status_code == 404
    assert client_for(admin_user).post(globex_url, {"module": "", "owner": other_user.pk}).status_code == 404
    assert client_for(other_org_user).get(acme_url).status_code == 404
    assert client_for(other_org_user).post(acme_url, {"module": "", "owner": other_org_user.pk}).status_code == 404
    assert set(owners(*deals).values()) == {sam.pk}


def test_a_refusal_in_a_later_module_moves_nothing(org, admin_user, standard_user, other_user, client_for):
    """Accounts come before deals; a lock rule keeps lost deals' owner for everyone, so the
    deals' move is refused after the accounts' — and the accounts stay where they were."""
    from locking import actions as locking

    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Closed deals", actor=admin_user,
                                criteria={"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]},
                                restricted_actions=["change_owner"])
    accounts = [actions.do_create_record("accounts", {"name": f"A{i}"}, actor=standard_user) for i in range(2)]
    open_deal = actions.do_create_record("deals", {"name": "Open", "stage": "qualification"}, actor=standard_user)
    lost = actions.do_create_record("deals", {"name": "Gone", "stage": "lost"}, actor=standard_user)
    do_set_membership_active(standard_user.membership, False, actor=admin_user)
    client = client_for(admin_user)

    response = client.post(reassign_url(standard_user.membership), {"module": "", "owner": other_user.pk})
    assert response.status_code == 400
    text = page_text(response)
    assert "Nothing was reassigned." in text
    assert "Deal “Gone”: Locked by rule “Closed deals”: you may not change the owner of this record." in text
    assert set(owners(*accounts).values()) == {standard_user.pk}
    assert set(owners(open_deal, lost).values()) == {standard_user.pk}
    assert not TimelineEntry.objects.filter(kind="owner_changed").exists()
    # The refused attempt stays on the locked deal's timeline.
    refused = TimelineEntry.objects.get(org_id=org.pk, record_id=lost.pk, kind="refused")
    assert refused.actor_id == admin_user.pk and refused.changes["action"] == [None, "change_owner"]
    assert 'data-count="all">4<' in text

    # Criteria that leave the locked deal out move the rest of the deals.
    response = client.post(reassign_url(standard_user.membership, "deals"), {
        "module": "deals", "owner": other_user.pk, **rows(("stage", "not_in", "won, lost"))})
    assert response.status_code == 302
    assert owners(open_deal, lost) == {"Open": other_user.pk, "Gone": standard_user.pk}


def test_the_action_refuses_a_non_admin_and_nonsense(leaver, admin_user, other_user):
    from django.core.exceptions import PermissionDenied

    sam = leaver["user"]
    with pytest.raises(PermissionDenied):
        actions.do_reassign_records(sam, other_user.pk, modules=["deals"], actor=other_user)
    with pytest.raises(actions.RecordValidationError, match="someone other than the current owner"):
        actions.do_reassign_records(sam, sam.pk, modules=["deals"], actor=admin_user)
    with pytest.raises(actions.RecordValidationError, match="Choose a module to filter by criteria"):
        actions.do_reassign_records(sam, other_user.pk, modules=["deals", "accounts"], actor=admin_user,
                                    criteria={"all": [{"field": "name", "op": "eq", "value": "Kept"}]})
    assert set(owners(*leaver["deals"]).values()) == {sam.pk}
    assert Account.objects.get(pk=leaver["account"].pk).owner_id == sam.pk
