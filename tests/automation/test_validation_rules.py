"""Validation rules: bad data is stopped at the door, on every write path, with the rule's
message under its field (in the reader's language), reported by the decision point; and the
settings pages, for whoever may configure the module and nobody else."""
from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_org_default
from access.decisions import decide
from automation import rule_actions
from automation.rule_models import ValidationRule
from crm.actions import RecordValidationError, do_create_record, do_update_record
from crm.guards import GuardRefusal
from crm.models import Deal
from tests.factories import DealFactory
from tests.helpers import version_of
from tests.teams.conftest import manager, marketing, member, participant  # noqa: F401

pytestmark = pytest.mark.django_db

WON_WITHOUT_AMOUNT = {"all": [{"field": "stage", "op": "eq", "value": "won"},
                              {"field": "amount", "op": "is_empty"}]}
MESSAGE = "A won deal needs its amount."
MESSAGE_ZH = "赢单必须填写金额。"


@pytest.fixture
def public_deals(org, admin_user):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)


@pytest.fixture
def rule(org, admin_user):
    return rule_actions.do_create_validation_rule(
        org, "deals", name="Won needs amount", criteria=WON_WITHOUT_AMOUNT, message_en=MESSAGE,
        message_zh=MESSAGE_ZH, field="amount", actor=admin_user)


@pytest.fixture
def deal(standard_user):
    return DealFactory(actor=standard_user, name="Big deal")


def text(response) -> str:
    return response.content.decode()


def under_field(html: str, key: str) -> str:
    """The HTML of a crispy field's wrapper (label, input, errors)."""
    start = html.index(f'id="div_id_{key}"')
    following = html.find('id="div_id_', start + 10)
    return html[start:following if following != -1 else len(html)]


# --- every write path -----------------------------------------------------------------------------

def test_the_record_page_refuses_with_the_message_under_the_field(rule, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:create", args=["deals"]), {"name": "Deal A", "stage": "won"})
    assert response.status_code == 400
    assert MESSAGE in under_field(text(response), "amount")
    assert not Deal.objects.filter(name="Deal A").exists()
    # With the amount, the same post saves.
    response = client.post(reverse("crm:create", args=["deals"]), {"name": "Deal A", "stage": "won", "amount": "10"})
    assert response.status_code == 302 and Deal.objects.filter(name="Deal A").exists()


def test_the_edit_page_refuses_and_keeps_the_record(rule, deal, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           {"name": deal.name, "stage": "won", "version": version_of(deal)})
    assert response.status_code == 400 and MESSAGE in under_field(text(response), "amount")
    deal.refresh_from_db()
    assert deal.stage == "qualification"


def test_inline_edit_shows_the_message(rule, deal, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:field", args=["deals", deal.pk, "stage"]),
                           {"stage": "won", "version": version_of(deal)})
    assert response.status_code == 403 and MESSAGE in text(response)
    deal.refresh_from_db()
    assert deal.stage == "qualification"


def test_a_kanban_move_is_refused_with_the_message(rule, deal, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:kanban_move", args=["deals", deal.pk]),
                           {"field": "stage", "value": "won", "version": version_of(deal)})
    assert response.status_code == 403 and response.json() == {"ok": False, "error": MESSAGE}
    deal.refresh_from_db()
    assert deal.stage == "qualification"


def test_bulk_edit_is_refused_as_a_whole_with_the_message_under_the_value(rule, standard_user, client_for):
    deals = [DealFactory(actor=standard_user, amount="5"), DealFactory(actor=standard_user)]
    client = client_for(standard_user)
    ids = [f"{d.pk}:{version_of(d)}" for d in deals]
    response = client.post(reverse("crm:bulk_edit", args=["deals"]), {"ids": ids, "field": "stage", "value": "won"})
    assert response.status_code == 403 and MESSAGE in under_field(text(response), "value")
    for d in deals:
        d.refresh_from_db()
        assert d.stage == "qualification"  # all or nothing


def test_the_action_refuses_on_any_path_and_logs_no_refusal(rule, deal, standard_user):
    from crm.models import TimelineEntry

    with pytest.raises(GuardRefusal) as refused:
        do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=standard_user, path="import")
    assert refused.value.field == "amount" and str(refused.value) == MESSAGE
    assert not TimelineEntry.objects.filter(record_id=deal.pk, kind="refused").exists()
    updated = do_update_record(deal, {"stage": "won", "amount": "100"}, version=version_of(deal),
                               actor=standard_user)
    assert updated.stage == "won"


def test_decide_reports_the_rule_for_the_changes(rule, deal, standard_user):
    refused = decide(standard_user, deal, "edit", {"stage": "won"})
    assert not refused.allowed and refused.reason == MESSAGE and refused.field == "amount"
    assert refused.guard == "validation_rules"
    assert decide(standard_user, deal, "edit", {"stage": "won", "amount": 100}).allowed
    assert decide(standard_user, deal, "edit").allowed  # editing as such is not refused


def test_must_match_refuses_what_does_not_match(org, admin_user, standard_user):
    rule_actions.do_create_validation_rule(
        org, "deals", name="Discount cap", mode="must_match", field="discount", actor=admin_user,
        criteria={"any": [{"field": "discount", "op": "is_empty"}, {"field": "discount", "op": "lte", "value": "20"}]},
        message_en="At most 20% discount.")
    assert DealFactory(actor=standard_user, discount="15").discount == 15
    with pytest.raises(GuardRefusal, match="At most 20% discount."):
        DealFactory(actor=standard_user, discount="30")


def test_a_chinese_reader_sees_the_chinese_message(rule, deal, standard_user, client_for):
    client = client_for(standard_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           {"name": deal.name, "stage": "won", "version": version_of(deal)})
    assert MESSAGE_ZH in under_field(text(response), "amount") and MESSAGE not in text(response)


def test_the_english_message_stands_in_when_there_is_no_chinese(org, admin_user, deal, standard_user, client_for):
    rule_actions.do_create_validation_rule(org, "deals", name="No lost", criteria={
        "all": [{"field": "stage", "op": "eq", "value": "lost"}]}, message_en="Do not lose deals.", actor=admin_user)
    client = client_for(standard_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    response = client.post(reverse("crm:edit", args=["deals", deal.pk]),
                           {"name": deal.name, "stage": "lost", "version": version_of(deal)})
    assert response.status_code == 400 and "Do not lose deals." in text(response)


def test_an_inactive_rule_does_not_apply_and_reactivating_applies_at_once(rule, deal, admin_user, standard_user):
    rule_actions.do_set_validation_rule_active(rule, False, actor=admin_user)
    assert decide(standard_user, deal, "edit", {"stage": "won"}).allowed
    rule_actions.do_set_validation_rule_active(rule, True, actor=admin_user)
    assert not decide(standard_user, deal, "edit", {"stage": "won"}).allowed


def test_another_orgs_rule_never_applies(other_org, other_org_user, deal, standard_user):
    rule_actions.do_create_validation_rule(other_org, "deals", name="Globex rule", criteria={
        "all": [{"field": "stage", "op": "eq", "value": "won"}]}, message_en="Globex says no.", actor=other_org_user)
    updated = do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=standard_user)
    assert updated.stage == "won"


def test_rules_apply_to_team_modules(org, marketing, manager, member):  # noqa: F811
    from crm.actions import do_create_field
    from teams.actions import do_create_team_module
    from teams.schema import schema_for

    module = do_create_team_module(marketing, name_en="Orders", statuses=[
        {"value": "draft", "label_en": "Draft"}, {"value": "sent", "label_en": "Sent"}], actor=manager)
    do_create_field(org, module.key, api_name="amount", label_en="Amount", field_type="currency", actor=manager)
    amount = schema_for(module).bind(org).field("amount")
    rule_actions.do_create_validation_rule(org, module.key, name="Sent needs amount", field=amount.key, criteria={
        "all": [{"field": "status", "op": "eq", "value": "sent"}, {"field": amount.key, "op": "is_empty"}]},
        message_en="Give the amount before sending.", actor=manager)
    with pytest.raises(GuardRefusal, match="Give the amount before sending."):
        do_create_record(module.key, {"title": "Order 1", "status": "sent"}, actor=member)
    assert do_create_record(module.key, {"title": "Order 1", "status": "sent", amount.key: "9"}, actor=member)


def test_checking_many_rules_costs_no_query_per_rule(org, admin_user, deal, standard_user):
    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            do_update_record(deal, {"name": f"Deal {version_of(deal)}"}, version=version_of(deal), actor=standard_user)
        return len(queries)

    rule_actions.do_create_validation_rule(org, "deals", name="R0", criteria=WON_WITHOUT_AMOUNT, message_en="m",
                                           actor=admin_user)
    cost()  # fills the cache
    one = cost()
    for i in range(1, 10):
        rule_actions.do_create_validation_rule(org, "deals", name=f"R{i}", criteria=WON_WITHOUT_AMOUNT,
                                               message_en="m", actor=admin_user)
    cost()
    assert cost() <= one


# --- configuring ------------------------------------------------------------------------------------

def rule_post(**extra):
    data = {"name": "Won needs amount", "active": "on", "joiner": "all", "c0_field": "stage", "c0_op": "eq",
            "c0_value": "won", "c1_field": "amount", "c1_op": "is_empty", "mode": "must_not_match",
            "message_en": MESSAGE, "message_zh": MESSAGE_ZH, "field": "amount"}
    data.update(extra)
    return data


def test_an_admin_creates_edits_reorders_deactivates_and_deletes_rules(org, admin_user, client_for):
    client = client_for(admin_user)
    list_url = reverse("automation:validation_rules", args=["deals"])
    assert client.get(list_url).status_code == 200
    response = client.post(reverse("automation:validation_rule_new", args=["deals"]), rule_post())
    assert response.status_code == 302 and response["Location"] == list_url
    rule = ValidationRule.objects.get(org=org, module="deals")
    assert rule.criteria == {"all": [{"field": "stage", "op": "eq", "value": "won"},
                                     {"field": "amount", "op": "is_empty", "value": None}]}
    assert rule.field == "amount" and rule.message_zh == MESSAGE_ZH
    page = text(client.get(list_url))
    assert 'data-rule="Won needs amount"' in page and "Stage equals won and Amount is empty" in page

    client.post(reverse("automation:validation_rule_new", args=["deals"]), rule_post(name="Second"))
    second = ValidationRule.objects.get(org=org, name="Second")
    client.post(reverse("automation:validation_rule_move", args=[second.pk]), {"step": "-1"})
    names = list(ValidationRule.objects.filter(org=org).order_by("position").values_list("name", flat=True))
    assert names == ["Second", "Won needs amount"]
    page = text(client.get(list_url))
    assert page.index('data-rule="Second"') < page.index('data-rule="Won needs amount"')

    client.post(reverse("automation:validation_rule_active", args=[rule.pk]), {"active": "0"})
    rule.refresh_from_db()
    assert not rule.active and "Inactive" in text(client.get(list_url))

    response = client.post(reverse("automation:validation_rule", args=[rule.pk]),
                           rule_post(name="Renamed", mode="must_match", field=""))
    rule.refresh_from_db()
    assert response.status_code == 302 and rule.name == "Renamed" and rule.mode == "must_match" and rule.field == ""

    assert client.get(reverse("automation:validation_rule_delete", args=[rule.pk])).status_code == 200
    client.post(reverse("automation:validation_rule_delete", args=[rule.pk]))
    assert not ValidationRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize("extra, field, message", [
    ({"c0_field": "nope"}, "c0_field", "Select a valid choice"),
    ({"c0_value": "gold"}, "c0_value", "not one of the choices"),
    ({"message_en": ""}, "message_en", "This field is required."),
    ({"message_en": "x" * 301}, "message_en", "at most 300 characters"),
    ({"name": "n" * 101}, "name", "at most 100 characters"),
    ({"field": "nope"}, "field", "Select a valid choice"),
    ({"c0_field": "", "c0_op": "", "c0_value": "", "c1_field": "", "c1_op": ""}, "criteria",
     "Add at least one condition."),
])
def test_bad_input_on_the_page_names_the_field_and_saves_nothing(org, admin_user, client_for, extra, field, message):
    client = client_for(admin_user)
    response = client.post(reverse("automation:validation_rule_new", args=["deals"]), rule_post(**extra))
    assert response.status_code == 400 and message in text(response)
    assert not ValidationRule.objects.filter(org=org).exists()


@pytest.mark.parametrize("values, key", [
    ({"field": "nope"}, "field"),
    ({"criteria": {"all": [{"field": "nope", "op": "eq", "value": "x"}]}}, "criteria"),
    ({"criteria": {"all": []}}, "criteria"),
    ({"message_en": "  "}, "message_en"),
    ({"message_zh": "长" * 301}, "message_zh"),
    ({"mode": "sometimes"}, "mode"),
    ({"name": ""}, "name"),
])
def test_the_action_refuses_bad_input_by_field(org, admin_user, values, key):
    kwargs = {"name": "R", "criteria": WON_WITHOUT_AMOUNT, "message_en": "m", **values}
    with pytest.raises(RecordValidationError) as error:
        rule_actions.do_create_validation_rule(org, "deals", actor=admin_user, **kwargs)
    assert key in error.value.message_dict
    assert not ValidationRule.objects.filter(org=org).exists()


def test_names_are_unique_per_module(rule, org, admin_user):
    with pytest.raises(RecordValidationError) as error:
        rule_actions.do_create_validation_rule(org, "deals", name="won NEEDS amount", criteria=WON_WITHOUT_AMOUNT,
                                               message_en="m", actor=admin_user)
    assert "name" in error.value.message_dict


def test_who_may_configure_org_modules(rule, org, admin_user, standard_user, other_org_user, client_for):
    urls = [reverse("automation:validation_rules", args=["deals"]),
            reverse("automation:validation_rule_new", args=["deals"]),
            reverse("automation:validation_rule", args=[rule.pk]),
            reverse("automation:validation_rule_delete", args=[rule.pk])]
    for url in urls:
        assert client_for(admin_user).get(url).status_code == 200
        assert client_for(standard_user).get(url).status_code == 404
    for url in urls[2:]:  # another org's rule, by id
        assert client_for(other_org_user).get(url).status_code == 404
    # Their own org's deals have no rules: Acme's are not listed.
    assert "Won needs amount" not in text(client_for(other_org_user).get(urls[0]))
    for url in (reverse("automation:validation_rule_delete", args=[rule.pk]),
                reverse("automation:validation_rule_active", args=[rule.pk]),
                reverse("automation:validation_rule", args=[rule.pk])):
        assert client_for(standard_user).post(url, rule_post(name="Hacked")).status_code == 404
        assert client_for(other_org_user).post(url, rule_post(name="Hacked")).status_code == 404
    rule.refresh_from_db()
    assert rule.name == "Won needs amount" and rule.active
    with pytest.raises(Exception):
        rule_actions.do_delete_validation_rule(rule, actor=standard_user)
    with pytest.raises(Exception):
        rule_actions.do_create_validation_rule(org, "deals", name="X", criteria=WON_WITHOUT_AMOUNT, message_en="m",
                                               actor=other_org_user)
    assert ValidationRule.objects.filter(org=org).count() == 1


def test_team_managers_configure_their_team_modules_and_members_may_not(org, marketing, manager, member,  # noqa: F811
                                                                        admin_user, client_for):
    from teams.actions import do_create_team_module

    module = do_create_team_module(marketing, name_en="Orders", statuses=[
        {"value": "draft", "label_en": "Draft"}, {"value": "sent", "label_en": "Sent"}], actor=manager)
    url = reverse("automation:validation_rules", args=[module.key])
    assert client_for(manager).get(url).status_code == 200
    assert client_for(admin_user).get(url).status_code == 200
    assert client_for(member).get(url).status_code == 404
    response = client_for(manager).post(reverse("automation:validation_rule_new", args=[module.key]), {
        "name": "No sent", "active": "on", "joiner": "all", "c0_field": "status", "c0_op": "eq", "c0_value": "sent",
        "mode": "must_not_match", "message_en": "Not yet.", "field": "status"})
    assert response.status_code == 302
    rule = ValidationRule.objects.get(org=org, module=module.key)
    assert client_for(member).post(reverse("automation:validation_rule_delete", args=[rule.pk])).status_code == 404
    # A team manager configures only team modules: org modules stay the administrators'.
    assert client_for(manager).get(reverse("automation:validation_rules", args=["deals"])).status_code == 404
    with pytest.raises(Exception):
        rule_actions.do_create_validation_rule(org, module.key, name="Member's", criteria={
            "all": [{"field": "status", "op": "eq", "value": "sent"}]}, message_en="m", actor=member)


def test_the_rule_page_escapes_what_admins_type(org, admin_user, client_for):
    rule_actions.do_create_validation_rule(org, "deals", name="<b>bold</b>", criteria=WON_WITHOUT_AMOUNT,
                                           message_en="<script>alert(1)</script>", actor=admin_user)
    page = text(client_for(admin_user).get(reverse("automation:validation_rules", args=["deals"])))
    assert "<script>alert(1)</script>" not in page and not re.search(r"<b>bold</b>", page)
