"""Layout rules: a lead's form shows the "Referrer" field, and requires it, when the source is
"Referral"; the server requires it on every path and never changes a hidden field from a form
post; the settings pages are for whoever may configure the module."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse

from automation import rule_actions
from automation.rule_models import LayoutRule
from crm.actions import RecordValidationError, do_create_field, do_create_record, do_update_record
from crm.guards import GuardRefusal
from crm.models import Lead
from crm.modules import get_module
from tests.factories import LeadFactory
from tests.helpers import version_of
from tests.teams.conftest import manager, marketing, member, participant  # noqa: F401

pytestmark = pytest.mark.django_db

REFERRAL = {"all": [{"field": "source", "op": "eq", "value": "referral"}]}


def text(response) -> str:
    return response.content.decode()


def under_field(html: str, key: str) -> str:
    start = html.index(f'id="div_id_{key}"')
    following = html.find('id="div_id_', start + 10)
    return html[start:following if following != -1 else len(html)]


@pytest.fixture
def referrer(org, admin_user) -> str:
    """The custom field "Referrer" of leads: its key."""
    do_create_field(org, "leads", api_name="referrer", label_en="Referrer", label_zh="推荐人", field_type="text",
                    actor=admin_user)
    return get_module("leads", org).bind(org).field("referrer").key


@pytest.fixture
def rule(org, admin_user, referrer):
    return rule_actions.do_create_layout_rule(org, "leads", name="Referrals", criteria=REFERRAL,
                                              show_fields=[referrer], require_fields=[referrer], actor=admin_user)


def layout_of(response) -> dict:
    return json.loads(response["HX-Trigger"])["layout-rules"]


def custom(lead, key):
    lead.refresh_from_db()
    return (lead.custom or {}).get(key)


# --- the form ------------------------------------------------------------------------------------

def test_the_new_lead_form_hides_the_field_until_the_source_is_referral(rule, referrer, standard_user, client_for):
    client = client_for(standard_user)
    page = text(client.get(reverse("crm:create", args=["leads"])))
    assert 'hx-post="/m/leads/layout-state/"' in page and "js/layout_rules.js" in page
    assert f"&quot;hidden&quot;: [&quot;{referrer}&quot;]" in page  # hidden at first

    url = reverse("automation:layout_state", args=["leads"])
    shown = layout_of(client.post(url, {"last_name": "Li", "source": "referral"}))
    assert referrer not in shown["hidden"] and referrer in shown["required"]
    assert shown["controlled_hidden"] == [referrer] and shown["controlled_required"] == [referrer]
    assert "last_name" in shown["required"]  # required by the schema, as ever
    hidden = layout_of(client.post(url, {"last_name": "Li", "source": "web"}))
    assert referrer in hidden["hidden"] and referrer not in hidden["required"]


def test_the_edit_form_starts_from_the_stored_values(rule, referrer, standard_user, client_for):
    lead = LeadFactory(actor=standard_user, source="referral", **{referrer: "Bob"})
    page = text(client_for(standard_user).get(reverse("crm:edit", args=["leads", lead.pk])))
    assert f'hx-post="/m/leads/{lead.pk}/layout-state/"' in page
    assert "&quot;hidden&quot;: []" in page and 'class="asteriskField"' in under_field(page, referrer)


def test_saving_without_the_required_field_names_it(rule, referrer, standard_user, client_for):
    client = client_for(standard_user)
    response = client.post(reverse("crm:create", args=["leads"]), {"last_name": "Li", "status": "new",
                                                                   "source": "referral"})
    assert response.status_code == 400 and "This field is required." in under_field(text(response), referrer)
    assert not Lead.objects.filter(last_name="Li").exists()
    response = client.post(reverse("crm:create", args=["leads"]), {"last_name": "Li", "status": "new",
                                                                   "source": "referral", referrer: "Bob"})
    assert response.status_code == 302 and custom(Lead.objects.get(last_name="Li"), referrer) == "Bob"


def test_the_server_requires_it_on_every_path(rule, referrer, standard_user, client_for):
    with pytest.raises(GuardRefusal) as refused:
        do_create_record("leads", {"last_name": "Li", "source": "referral"}, actor=standard_user, path="import")
    assert refused.value.field == referrer and str(refused.value) == "“Referrer” is required."
    lead = LeadFactory(actor=standard_user, source="web")
    response = client_for(standard_user).post(reverse("crm:field", args=["leads", lead.pk, "source"]),
                                              {"source": "referral", "version": version_of(lead)})
    assert response.status_code == 403 and "“Referrer” is required." in text(response)
    response = client_for(standard_user).post(reverse("crm:kanban_move", args=["leads", lead.pk]),
                                              {"field": "source", "value": "referral", "version": version_of(lead)})
    lead.refresh_from_db()
    assert response.status_code == 403 and lead.source == "web"
    # A post that skips the form (no field at all) is refused by the same rule.
    response = client_for(standard_user).post(reverse("crm:edit", args=["leads", lead.pk]), {
        "last_name": lead.last_name, "status": "new", "source": "referral", "version": version_of(lead)})
    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.source == "web"


def test_a_hidden_field_keeps_its_value_when_the_form_is_posted(rule, referrer, standard_user, client_for):
    lead = LeadFactory(actor=standard_user, source="referral", **{referrer: "Bob"})
    response = client_for(standard_user).post(reverse("crm:edit", args=["leads", lead.pk]), {
        "last_name": lead.last_name, "status": "new", "source": "web", referrer: "Changed",
        "version": version_of(lead)})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.source == "web" and custom(lead, referrer) == "Bob"


def test_hide_rules_hide_and_hiding_wins(org, admin_user, referrer, standard_user, client_for):
    rule_actions.do_create_layout_rule(org, "leads", name="Show referrer", criteria=REFERRAL, show_fields=[referrer],
                                       actor=admin_user)
    rule_actions.do_create_layout_rule(org, "leads", name="Cold calls", criteria={
        "all": [{"field": "status", "op": "eq", "value": "unqualified"}]}, hide_fields=[referrer, "email"],
        actor=admin_user)
    url = reverse("automation:layout_state", args=["leads"])
    state = layout_of(client_for(standard_user).post(url, {"source": "referral", "status": "unqualified"}))
    assert set(state["hidden"]) == {referrer, "email"}
    lead = LeadFactory(actor=standard_user, status="unqualified", email="a@b.test")
    client_for(standard_user).post(reverse("crm:edit", args=["leads", lead.pk]), {
        "last_name": lead.last_name, "status": "unqualified", "email": "new@b.test", "version": version_of(lead)})
    lead.refresh_from_db()
    assert lead.email == "a@b.test"


def test_no_active_layout_rule_means_a_plain_form(rule, admin_user, standard_user, client_for):
    rule_actions.do_set_layout_rule_active(rule, False, actor=admin_user)
    page = text(client_for(standard_user).get(reverse("crm:create", args=["leads"])))
    assert "hx-post" not in page.split('<form method="post" novalidate', 1)[1].split(">", 1)[0]
    assert LeadFactory(actor=standard_user, source="referral")  # not required any more


def test_another_orgs_layout_rule_never_applies(other_org, other_org_user, standard_user, client_for):
    do_create_field(other_org, "leads", api_name="referrer", label_en="Referrer", field_type="text",
                    actor=other_org_user)
    key = get_module("leads", other_org).bind(other_org).field("referrer").key
    rule_actions.do_create_layout_rule(other_org, "leads", name="Theirs", criteria=REFERRAL, require_fields=["email"],
                                       show_fields=[key], actor=other_org_user)
    assert LeadFactory(actor=standard_user, source="referral")
    assert "hx-post" not in text(client_for(standard_user).get(reverse("crm:create", args=["leads"]))).split(
        '<form method="post" novalidate', 1)[1].split(">", 1)[0]


def test_the_layout_endpoint_is_for_records_the_user_may_edit(rule, admin_user, standard_user, other_user,
                                                              other_org_user, client_for):
    lead = LeadFactory(actor=admin_user)  # leads are private: Sam cannot see Alice's
    url = reverse("automation:layout_state_record", args=["leads", lead.pk])
    assert client_for(admin_user).post(url, {"source": "referral"}).status_code == 200
    assert client_for(standard_user).post(url, {"source": "referral"}).status_code == 404
    assert client_for(other_org_user).post(url, {"source": "referral"}).status_code == 404
    assert client_for(standard_user).get(reverse("automation:layout_state", args=["leads"])).status_code == 405


# --- configuring -----------------------------------------------------------------------------------

def test_an_admin_creates_a_layout_rule_on_the_page(org, admin_user, referrer, client_for):
    client = client_for(admin_user)
    response = client.post(reverse("automation:layout_rule_new", args=["leads"]), {
        "name": "Referrals", "active": "on", "joiner": "all", "c0_field": "source", "c0_op": "eq",
        "c0_value": "referral", "show_fields": [referrer], "require_fields": [referrer]})
    assert response.status_code == 302
    rule = LayoutRule.objects.get(org=org)
    assert rule.show_fields == [referrer] and rule.require_fields == [referrer] and rule.hide_fields == []
    page = text(client.get(reverse("automation:layout_rules", args=["leads"])))
    assert 'data-rule="Referrals"' in page and "Source equals referral" in page and "Referrer" in page


@pytest.mark.parametrize("values, key", [
    ({"show_fields": ["nope"]}, "show_fields"),
    ({"show_fields": [], "require_fields": []}, "show_fields"),
    ({"show_fields": ["email"], "hide_fields": ["email"]}, "hide_fields"),
    ({"hide_fields": ["email"], "require_fields": ["email"]}, "require_fields"),
    ({"hide_fields": ["last_name"]}, "hide_fields"),  # required by the module: never hidden
    ({"criteria": {"all": []}}, "criteria"),
    ({"criteria": {"all": [{"field": "source", "op": "eq", "value": "gold"}]}}, "criteria"),
    ({"name": "x" * 101}, "name"),
])
def test_bad_layout_rules_are_refused_by_field(org, admin_user, values, key):
    kwargs = {"name": "R", "criteria": REFERRAL, "show_fields": ["email"], **values}
    with pytest.raises(RecordValidationError) as error:
        rule_actions.do_create_layout_rule(org, "leads", actor=admin_user, **kwargs)
    assert key in error.value.message_dict
    assert not LayoutRule.objects.filter(org=org).exists()


def test_bad_input_on_the_page_is_shown_under_the_field(org, admin_user, client_for):
    response = client_for(admin_user).post(reverse("automation:layout_rule_new", args=["leads"]), {
        "name": "R", "joiner": "all", "c0_field": "source", "c0_op": "eq", "c0_value": "referral",
        "show_fields": ["email"], "hide_fields": ["email"]})
    assert response.status_code == 400 and "A field cannot be both shown and hidden: Email." in text(response)


def test_who_may_configure_layout_rules(rule, org, admin_user, standard_user, other_org_user, marketing,  # noqa: F811
                                        manager, member, client_for):  # noqa: F811
    from teams.actions import do_create_team_module

    urls = [reverse("automation:layout_rules", args=["leads"]), reverse("automation:layout_rule", args=[rule.pk])]
    assert all(client_for(admin_user).get(url).status_code == 200 for url in urls)
    assert all(client_for(standard_user).get(url).status_code == 404 for url in urls)
    assert client_for(other_org_user).get(urls[1]).status_code == 404
    for name in ("layout_rule_delete", "layout_rule_active", "layout_rule_move"):
        assert client_for(standard_user).post(reverse(f"automation:{name}", args=[rule.pk])).status_code == 404
        assert client_for(other_org_user).post(reverse(f"automation:{name}", args=[rule.pk])).status_code == 404
    assert LayoutRule.objects.filter(pk=rule.pk, active=True).exists()
    module = do_create_team_module(marketing, name_en="Orders", statuses=[
        {"value": "draft", "label_en": "Draft"}, {"value": "sent", "label_en": "Sent"}], actor=manager)
    url = reverse("automation:layout_rules", args=[module.key])
    assert client_for(manager).get(url).status_code == 200
    assert client_for(member).get(url).status_code == 404
    with pytest.raises(Exception):
        rule_actions.do_create_layout_rule(org, "leads", name="X", criteria=REFERRAL, show_fields=["email"],
                                           actor=manager)
