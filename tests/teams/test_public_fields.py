"""Public fields: a team record shows what an administrator made public about the account it
looks up, to people who cannot open the account itself, and nothing more."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from access.actions import do_set_org_default, do_set_public_fields
from crm.actions import do_create_field, do_create_record, do_delete_record, do_update_record
from crm.modules import get_module
from teams import actions
from teams.public import public_panels
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

PUBLIC = ["industry", "website", "employees"]
PHONE = "+8613800138000"


@pytest.fixture
def northwind(admin_user, requester):
    """A sales rep's private account (accounts are private in this org)."""
    do_set_org_default(admin_user.org, "accounts", "private", actor=admin_user)
    return do_create_record("accounts", {"name": "Northwind Traders", "industry": "technology",
                                         "website": "northwind.example", "employees": 250, "phone": PHONE,
                                         "city": "Hangzhou", "description": "Top secret pricing"},
                            actor=requester)


@pytest.fixture
def story(case_studies, case_schema, northwind, requester, manager, participant):
    """The rep requests a case study about their customer; the manager gives it to a participant."""
    customer = case_schema.field("customer").key
    record = actions.do_submit_request(case_studies, {"title": "Northwind story", customer: northwind.pk},
                                       actor=requester)
    return actions.do_assign(record, participant.pk, version=version_of(record), actor=manager)


def panels_for(user, case_schema, story):
    from access.visibility import get_record

    return public_panels(user, case_schema, get_record(user, case_schema, story.pk))


def test_participant_sees_only_the_public_fields(story, case_schema, northwind, participant, admin_user):
    (panel,) = panels_for(participant, case_schema, story)
    assert panel["field"].key == case_schema.field("customer").key
    assert panel["target_label"] == "Northwind Traders"
    assert panel["values"] == []  # nothing public yet
    assert panel["can_open"] is False and panel["url"] == ""

    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    (panel,) = panels_for(participant, case_schema, story)
    assert panel["values"] == [("Industry", "Technology"), ("Employees", "250"),
                               ("Website", "https://northwind.example")]
    shown = " ".join(f"{label} {value}" for label, value in panel["values"])
    for secret in ("Phone", PHONE, "Hangzhou", "Top secret", "Owner", str(northwind.owner)):
        assert secret not in shown
    assert panel["can_open"] is False


def test_participant_cannot_open_the_account(story, northwind, participant, client_for, admin_user):
    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    client = client_for(participant)
    assert client.get(f"/m/accounts/{northwind.pk}/").status_code == 404
    assert client.get(reverse("crm:detail", args=["accounts", northwind.pk])).status_code == 404


def test_those_who_may_open_the_account_get_a_link(story, case_schema, northwind, requester, admin_user, manager):
    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    for user, can_open in ((requester, True), (admin_user, True), (manager, False)):
        (panel,) = panels_for(user, case_schema, story)
        assert panel["can_open"] is can_open, user
        assert panel["url"] == (northwind.get_absolute_url() if can_open else "")
        assert [label for label, _value in panel["values"]] == ["Industry", "Employees", "Website"]


def test_unpublishing_and_deleting_take_effect(story, case_schema, northwind, participant, requester, admin_user):
    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    do_set_public_fields(admin_user.org, "accounts", ["industry"], actor=admin_user)
    (panel,) = panels_for(participant, case_schema, story)
    assert panel["values"] == [("Industry", "Technology")]
    do_delete_record(northwind, version=version_of(northwind), actor=requester)
    assert panels_for(participant, case_schema, story) == []


def test_no_panel_without_a_value_or_for_hidden_lookups(case_studies, case_schema, marketing, story, northwind,
                                                        manager, participant, requester, admin_user):
    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    # An internal lookup the requester is not shown; set by an administrator, who sees every account.
    do_create_field(marketing.org, case_studies.key, api_name="partner", label_en="Partner", field_type="lookup",
                    target="accounts", actor=manager)
    schema = get_module(case_studies.key, marketing.org).bind(marketing.org)
    partner = do_create_record("accounts", {"name": "Partner Co", "industry": "finance"}, actor=admin_user)
    do_update_record(story, {"partner": partner.pk}, version=version_of(story), actor=admin_user)
    assert [p["target_label"] for p in panels_for(participant, schema, story)] == ["Northwind Traders",
                                                                                 "Partner Co"]
    assert [p["target_label"] for p in panels_for(requester, schema, story)] == ["Northwind Traders"]
    empty = actions.do_submit_request(case_studies, {"title": "No customer yet"}, actor=requester)
    assert panels_for(requester, schema, empty) == []


def test_the_page_never_shows_non_public_fields(story, case_studies, participant, client_for, admin_user):
    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    response = client_for(participant).get(reverse("crm:detail", args=[case_studies.key, story.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    for secret in (PHONE, "Hangzhou", "Top secret pricing"):
        assert secret not in body


def test_the_page_shows_the_public_panel(story, case_studies, northwind, participant, client_for, admin_user):
    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    response = client_for(participant).get(reverse("crm:detail", args=[case_studies.key, story.pk]))
    body = response.content.decode()
    panel = re.search(r"data-public-panel=.*?</dl>", body, re.S)
    assert panel is not None
    panel = panel.group(0)
    assert "Northwind Traders" in panel and "Technology" in panel and "https://northwind.example" in panel
    assert "<a " not in panel  # no link: the participant cannot open the account


def test_the_include_renders_panels(story, case_schema, northwind, participant, requester, admin_user):
    from django.template.loader import render_to_string

    do_set_public_fields(admin_user.org, "accounts", PUBLIC, actor=admin_user)
    html = render_to_string("teams/includes/public_panels.html",
                            {"public_panels": panels_for(participant, case_schema, story)})
    assert f'data-public-panel="{case_schema.field("customer").key}"' in html
    assert "Northwind Traders" in html and "Technology" in html and "https://northwind.example" in html
    assert "<a " not in html and PHONE not in html
    html = render_to_string("teams/includes/public_panels.html",
                            {"public_panels": panels_for(requester, case_schema, story)})
    assert f'<a href="{northwind.get_absolute_url()}">Northwind Traders</a>' in html
