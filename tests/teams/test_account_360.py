"""An account's page lists the team records about it, to those who may see them."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.actions import do_create_field, do_create_record, do_delete_record, do_set_field_retired
from crm.models import FieldDefinition
from crm.modules import get_module
from teams import actions, related
from teams.related import team_records_for
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

PRESS_STATUSES = [{"value": "draft", "label_en": "Draft", "label_zh": "草稿"},
                  {"value": "sent", "label_en": "Sent", "label_zh": "已发"}]


@pytest.fixture(autouse=True)
def _provider_registered():
    related.register()  # what TeamsConfig.ready does; registering twice is harmless


@pytest.fixture
def northwind(requester):
    return do_create_record("accounts", {"name": "Northwind Traders"}, actor=requester)


@pytest.fixture
def contoso(requester):
    return do_create_record("accounts", {"name": "Contoso"}, actor=requester)


@pytest.fixture
def customer_key(case_schema):
    return case_schema.field("customer").key


@pytest.fixture
def stories(case_studies, case_schema, customer_key, northwind, contoso, requester, member):
    """A: requested by the rep; B: made by a team member; C: about another account."""
    a = actions.do_submit_request(case_studies, {"title": "Story A", customer_key: northwind.pk}, actor=requester)
    b = do_create_record(case_schema, {"title": "Story B", customer_key: northwind.pk}, actor=member)
    c = do_create_record(case_schema, {"title": "Story C", customer_key: contoso.pk}, actor=member)
    return a, b, c


def account_page(client, account):
    response = client.get(reverse("crm:detail", args=["accounts", account.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("who, expected", [
    ("manager", {"Story A", "Story B"}),
    ("admin_user", {"Story A", "Story B"}),
    ("team_modules_admin", {"Story A", "Story B"}),
    ("member", {"Story A", "Story B"}),
    ("requester", {"Story A"}),
    ("participant", set()),
    ("outsider", set()),
])
def test_account_page_lists_the_case_studies_the_viewer_may_see(who, expected, request, stories, northwind,
                                                                 client_for):
    user = request.getfixturevalue(who)
    body = account_page(client_for(user), northwind)
    shown = {title for title in ("Story A", "Story B", "Story C") if title in body}
    assert shown == expected
    blocks = team_records_for(user, get_module("accounts"), northwind)
    assert [row.title for block in blocks for row in block["rows"]] == sorted(expected, reverse=True)
    assert len(blocks) == (1 if expected else 0)  # no empty block


def test_block_shape_and_status_labels(stories, northwind, manager, case_studies, customer_key):
    (block,) = team_records_for(manager, get_module("accounts"), northwind)
    assert block["module"].key == case_studies.key
    assert block["field"] == customer_key
    assert block["all_url"] == reverse("crm:list", args=[case_studies.key]) + f"?{customer_key}={northwind.pk}"
    assert {row.title: row.status_label for row in block["rows"]} == {"Story A": "Requested",
                                                                      "Story B": "Requested"}


def test_assigning_a_participant_shows_them_that_one(stories, northwind, manager, participant, client_for):
    a, b, _c = stories
    actions.do_assign(b, participant.pk, version=version_of(b), actor=manager)
    body = account_page(client_for(participant), northwind)
    assert "Story B" in body and "Story A" not in body


def test_deleted_retired_and_unlinked_records_drop_out(stories, northwind, contoso, manager, case_studies,
                                                       case_schema, customer_key):
    from crm.actions import do_update_record

    a, b, _c = stories
    do_delete_record(a, version=version_of(a), actor=manager)
    do_update_record(b, {customer_key: contoso.pk}, version=version_of(b), actor=manager)
    assert team_records_for(manager, get_module("accounts"), northwind) == []
    (block,) = team_records_for(manager, get_module("accounts"), contoso)
    assert {row.title for row in block["rows"]} == {"Story B", "Story C"}
    definition = FieldDefinition.objects.get(pk=case_schema.field("customer").definition_id)
    do_set_field_retired(definition, True, actor=manager)
    assert team_records_for(manager, get_module("accounts"), contoso) == []
    do_set_field_retired(definition, False, actor=manager)
    actions.do_set_team_module_retired(case_studies, True, actor=manager)
    assert team_records_for(manager, get_module("accounts"), contoso) == []


def test_one_block_per_module_at_most_ten_rows_and_fixed_queries(case_studies, case_schema, customer_key, marketing,
                                                                 northwind, manager, member, participant,
                                                                 client_for):
    press = actions.do_create_team_module(marketing, name_en="Press releases", statuses=PRESS_STATUSES,
                                          actor=manager)
    do_create_field(marketing.org, press.key, api_name="about", label_en="About", field_type="lookup",
                    target="accounts", actor=manager)
    about = get_module(press.key, marketing.org).bind(marketing.org).field("about").key
    do_create_record(case_schema, {"title": "Story 0", customer_key: northwind.pk}, actor=member)
    accounts = get_module("accounts")

    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            blocks = team_records_for(manager, accounts, northwind)
        return blocks, len(captured.captured_queries)

    _blocks, one_module = count_queries()
    do_create_record(press.key, {"title": "Release 0", about: northwind.pk}, actor=member)
    blocks, two_modules = count_queries()
    assert [b["module"].key for b in blocks] == [case_studies.key, press.key]
    for n in range(1, 13):
        do_create_record(case_schema, {"title": f"Story {n}", customer_key: northwind.pk}, actor=member)
    blocks, many_rows = count_queries()
    assert one_module == two_modules == many_rows <= 5
    case_block, press_block = blocks
    assert len(case_block["rows"]) == 10
    assert [row.title for row in case_block["rows"]][:2] == ["Story 12", "Story 11"]  # newest first
    assert [row.title for row in press_block["rows"]] == ["Release 0"]
    assert press_block["rows"][0].status_label == "Draft"
    # Each module's own predicate applies inside the one query (OR of per-module filters).
    assert team_records_for(participant, accounts, northwind) == []
    actions.do_assign(press_block["rows"][0], participant.pk, version=version_of(press_block["rows"][0]), actor=manager)
    (only,) = team_records_for(participant, accounts, northwind)
    assert only["module"].key == press.key and [r.title for r in only["rows"]] == ["Release 0"]

    client = client_for(manager)
    url = reverse("crm:detail", args=["accounts", northwind.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(13, 20):
        do_create_record(case_schema, {"title": f"Story {n}", customer_key: northwind.pk}, actor=member)
    with CaptureQueriesContext(connection) as more:
        body = client.get(url).content.decode()
    assert len(more.captured_queries) == len(few.captured_queries)
    assert "Story 19" in body and "Story 9" not in body


def test_other_orgs_team_records_never_show(stories, northwind, admin_user, other_org_user, client_for):
    """Globex builds the same story on its own account; neither org sees the other's."""
    globex_account = do_create_record("accounts", {"name": "Globex Customer"}, actor=other_org_user)
    space = actions.do_create_space(other_org_user.org, name_en="Globex marketing", manager_ids=[other_org_user.pk],
                                    actor=other_org_user)
    module = actions.do_create_team_module(space, name_en="Globex stories", statuses=PRESS_STATUSES,
                                           actor=other_org_user)
    do_create_field(other_org_user.org, module.key, api_name="customer", label_en="Customer", field_type="lookup",
                    target="accounts", actor=other_org_user)
    key = get_module(module.key, other_org_user.org).bind(other_org_user.org).field("customer").key
    do_create_record(module.key, {"title": "Globex story", key: globex_account.pk}, actor=other_org_user)

    accounts = get_module("accounts")
    assert team_records_for(other_org_user, accounts, northwind) == []
    assert [b["module"].key for b in team_records_for(other_org_user, accounts, globex_account)] == [module.key]
    assert team_records_for(admin_user, accounts, globex_account) == []

    ours = client_for(admin_user)
    assert "Globex story" not in account_page(ours, northwind)
    assert ours.get(reverse("crm:detail", args=["accounts", globex_account.pk])).status_code == 404
    theirs = client_for(other_org_user)
    assert theirs.get(reverse("crm:detail", args=["accounts", northwind.pk])).status_code == 404
    body = account_page(theirs, globex_account)
    assert "Globex story" in body and "Story A" not in body
