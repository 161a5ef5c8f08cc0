"""Record locking through the pages: configuring a module (org and team modules), rules and their
limits, the record page's badges and buttons, manual locks, overrides, applying a rule to the
records already stored, and what the pages cost."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_org_default
from crm.models import TimelineEntry
from locking import actions as locking
from locking import ui  # noqa: F401  (registers the record page providers, as locking's app does)
from locking.models import FieldLock, LockConfig, LockRule, RecordLock
from teams import actions as team_actions
from tests.factories import DealFactory
from tests.locking.conftest import WON

pytestmark = pytest.mark.django_db


def module_url(key):
    return reverse("locking:module", args=[key])


def detail_url(record, key="deals"):
    return reverse("crm:detail", args=[key, record.pk])


def text(response) -> str:
    return response.content.decode()


def rule_post(name="Closed deals", **extra):
    data = {"name": name, "joiner": "all", "c0_field": "stage", "c0_op": "in", "c0_value": "won, lost",
            "locked_for": "all", "restricted_actions": ["edit", "bulk_edit", "import_update"]}
    data.update(extra)
    return data


@pytest.fixture
def public_deals(org, admin_user):
    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)


# --- configuring a module ------------------------------------------------------------------------

def test_admin_switches_locking_on_and_creates_a_rule_with_criteria(org, admin_user, client_for):
    client = client_for(admin_user)
    assert 'href="/settings/locking/"' in text(client.get(reverse("crm:settings_modules")))
    index = client.get(reverse("locking:index"))
    assert index.status_code == 200 and module_url("deals") in text(index)
    assert module_url("deals") in text(client.get(reverse("crm:settings_modules")))
    response = client.post(module_url("deals"), {"enabled": "on", "locked_for": "all",
                                                 "restricted_actions": ["edit"]})
    assert response.status_code == 302
    assert LockConfig.objects.get(org=org, module="deals").enabled

    response = client.post(reverse("locking:rule_new", args=["deals"]), rule_post())
    rule = LockRule.objects.get(org=org, module="deals")
    assert response.status_code == 302 and response["Location"] == reverse("locking:rule", args=[rule.pk]) + "?saved=1"
    assert rule.criteria == WON and rule.restricted_actions == ["edit", "bulk_edit", "import_update"]
    offer = text(client.get(response["Location"]))
    assert "Apply to existing records now" in offer and reverse("locking:rule_apply", args=[rule.pk]) in offer
    page = text(client.get(module_url("deals")))
    assert 'data-rule="Closed deals"' in page and "Stage is one of won, lost" in page  # the criteria in words

    response = client.post(reverse("locking:rule", args=[rule.pk]), rule_post("Won deals", c0_op="eq", c0_value="won"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Won deals" and rule.criteria == {"all": [{"field": "stage", "op": "eq", "value": "won"}]}


def test_bad_configuration_input_saves_nothing_and_says_why(org, admin_user, client_for):
    client = client_for(admin_user)
    response = client.post(module_url("deals"), {"enabled": "on", "locked_for": "selected",
                                                 "restricted_actions": ["edit"]})
    assert response.status_code == 400
    assert "Choose at least one profile, role or team role." in text(response)
    assert not LockConfig.objects.filter(org=org, module="deals", enabled=True).exists()


def test_a_sixth_rule_is_refused_with_a_clear_message(org, enable, add_rule, admin_user, client_for):
    enable("deals")
    for i in range(5):
        add_rule("deals", f"Rule {i}", WON)
    client = client_for(admin_user)
    assert 'data-testid="rules-full"' in text(client.get(module_url("deals")))
    response = client.post(reverse("locking:rule_new", args=["deals"]), rule_post("Sixth"))
    assert response.status_code == 400
    assert "A module can have at most 5 lock rules." in text(response)
    assert LockRule.objects.filter(org=org, module="deals").count() == 5


def test_bad_criteria_are_refused_naming_the_field_and_nothing_is_saved(org, enable, admin_user, client_for):
    enable("deals")
    client = client_for(admin_user)
    url = reverse("locking:rule_new", args=["deals"])
    response = client.post(url, rule_post(c0_field="amount", c0_op="gt", c0_value="lots"))
    assert response.status_code == 400 and "Wrong value for “Amount”" in text(response)
    response = client.post(url, rule_post(c0_field="", c0_op="", c0_value="",
                                          criteria='{"all": [{"field": "nope", "op": "eq", "value": 1}]}'))
    assert response.status_code == 400 and "Unknown field “nope”" in text(response)
    response = client.post(url, rule_post(criteria="{not json"))
    assert response.status_code == 400 and "This is not valid JSON" in text(response)
    assert not LockRule.objects.filter(org=org).exists()


def test_field_lock_through_the_page(org, enable, admin_user, sales_rep_profile, client_for):
    enable("deals")
    client = client_for(admin_user)
    url = reverse("locking:field_lock_new", args=["deals"])
    response = client.post(url, {"name": "Discount", "locked_for": "selected", "joiner": "all"})
    assert response.status_code == 400 and not FieldLock.objects.exists()
    response = client.post(url, {"name": "Discount", "fields_": ["discount"], "locked_for": "selected",
                                 "profiles": [str(sales_rep_profile.pk)], "joiner": "all"})
    assert response.status_code == 302
    field_lock = FieldLock.objects.get(org=org)
    assert field_lock.fields == ["discount"] and field_lock.criteria is None
    assert 'data-field-lock="Discount"' in text(client.get(module_url("deals")))
    assert client.post(reverse("locking:field_lock_delete", args=[field_lock.pk])).status_code == 302
    assert not FieldLock.objects.exists()


def test_team_manager_configures_their_team_module_and_nobody_else_does(
        org, orders, manager, member, outsider, standard_user, admin_user, client_for):
    team_actions.do_create_space(org, name_en="Sales", manager_ids=[outsider.pk], actor=admin_user)  # outsider manages it
    url = module_url(orders.key)
    client = client_for(manager)
    settings_page = text(client.get(reverse("teams:module_settings", args=[orders.pk])))
    assert url in settings_page
    assert client.get(url).status_code == 200
    assert client.get(module_url("deals")).status_code == 404  # org modules are the admins'
    response = client.post(url, {"enabled": "on", "manual_enabled": "on", "locked_for": "all",
                                 "restricted_actions": ["edit"], "locker_team_roles": ["manager", "member"]})
    assert response.status_code == 302
    config = LockConfig.objects.get(org=org, module=orders.key)
    assert config.enabled and config.locker_team_roles == ["manager", "member"]
    response = client.post(reverse("locking:rule_new", args=[orders.key]),
                           {"name": "Approved orders", "joiner": "all", "c0_field": "status", "c0_op": "eq",
                            "c0_value": "approved", "locked_for": "selected", "team_roles": ["member"],
                            "restricted_actions": ["edit", "delete"]})
    assert response.status_code == 302
    rule = LockRule.objects.get(org=org, module=orders.key)
    for user in (member, outsider, standard_user):
        other = client_for(user)
        assert other.get(url).status_code == 404
        assert other.post(url, {"enabled": ""}).status_code == 404
        assert other.get(reverse("locking:rule", args=[rule.pk])).status_code == 404
        assert other.post(reverse("locking:rule_delete", args=[rule.pk])).status_code == 404
    assert LockRule.objects.filter(pk=rule.pk).exists() and LockConfig.objects.get(pk=config.pk).enabled


def test_standard_users_and_other_orgs_get_404(org, enable, add_rule, standard_user, other_org_user, client_for):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    for user in (standard_user, other_org_user):
        client = client_for(user)
        assert client.get(module_url("deals")).status_code == (404 if user is standard_user else 200)
        for name in ("locking:rule", "locking:rule_delete"):
            assert client.get(reverse(name, args=[rule.pk])).status_code == 404
        assert client.post(reverse("locking:rule_apply", args=[rule.pk])).status_code == 404
    assert client_for(standard_user).get(reverse("locking:index")).status_code == 404
    assert 'href="/settings/locking/"' not in text(client_for(standard_user).get("/"))


# --- the record page ------------------------------------------------------------------------------

@pytest.fixture
def closed_deals(org, public_deals, enable, add_rule, sales_rep_profile):
    """Won or lost deals are locked for sales reps: no editing, deleting, owner changes or notes."""
    enable("deals")
    return add_rule("deals", "Closed deals", WON, locked_for="selected", profiles=[sales_rep_profile.pk],
                    restricted_actions=["edit", "delete", "change_owner", "add_note", "add_attachment"])


def test_locked_record_shows_the_rule_and_disables_what_it_forbids(closed_deals, rep, exempt, client_for):
    deal = DealFactory(actor=rep, stage="won")
    page = text(client_for(rep).get(detail_url(deal)))
    assert "Locked by rule: Closed deals" in page
    for control in ("edit", "delete", "change_owner", "add_note", "add_attachment"):
        assert f'data-blocked="{control}"' in page
    assert reverse("crm:edit", args=["deals", deal.pk]) not in page
    assert reverse("crm:delete", args=["deals", deal.pk]) not in page
    assert "Locked by rule “Closed deals”: you may not edit this record." in page  # the tooltip
    assert 'name="body"' not in page  # no note box

    page = text(client_for(exempt).get(detail_url(deal)))
    assert "Locked by rule: Closed deals" in page
    assert "data-blocked=" not in page
    assert reverse("crm:edit", args=["deals", deal.pk]) in page and 'name="body"' in page

    open_deal = DealFactory(actor=rep, stage="proposal")
    page = text(client_for(rep).get(detail_url(open_deal)))
    assert "Locked by rule" not in page and "data-blocked=" not in page


def test_a_refused_write_through_the_page_names_the_rule_and_changes_nothing(closed_deals, rep, client_for):
    deal = DealFactory(actor=rep, stage="won")
    client = client_for(rep)
    response = client.post(reverse("crm:note_add", args=["deals", deal.pk]), {"body": "sneaky"}, follow=True)
    assert "Locked by rule “Closed deals”: you may not add notes to this record." in text(response)
    response = client.post(reverse("crm:delete", args=["deals", deal.pk]), {"version": deal.version}, follow=True)
    assert "Locked by rule “Closed deals”: you may not delete this record." in text(response)
    deal.refresh_from_db()
    assert deal.deleted_at is None


def test_manual_lock_and_unlock_through_the_page(org, public_deals, enable, admin_user, rep, client_for):
    enable("deals", manual_enabled=True)
    deal = DealFactory(actor=rep)
    rep_client, admin = client_for(rep), client_for(admin_user)
    assert 'data-testid="lock"' not in text(rep_client.get(detail_url(deal)))
    rep_client.post(reverse("locking:lock", args=["deals", deal.pk]), {"reason": "mine"})
    assert not RecordLock.objects.filter(record_id=deal.pk).exists()

    assert 'data-testid="lock"' in text(admin.get(detail_url(deal)))
    response = admin.post(reverse("locking:lock", args=["deals", deal.pk]), {"reason": "Under audit"})
    assert response.status_code == 302
    lock = RecordLock.objects.get(record_id=deal.pk, kind="manual")
    assert lock.reason == "Under audit"
    page = text(rep_client.get(detail_url(deal)))
    assert "Locked by Alice Admin on " in page and "Under audit" in page and 'data-blocked="edit"' in page
    assert 'data-testid="unlock"' not in page

    response = rep_client.post(reverse("locking:unlock", args=["deals", deal.pk]), follow=True)
    assert "You may not unlock records of this module." in text(response)
    assert RecordLock.objects.filter(pk=lock.pk).exists()
    assert 'data-testid="unlock"' in text(admin.get(detail_url(deal)))
    admin.post(reverse("locking:unlock", args=["deals", deal.pk]))
    assert not RecordLock.objects.filter(record_id=deal.pk).exists()
    assert TimelineEntry.objects.filter(record_id=deal.pk, kind="unlocked").exists()


def test_admin_overrides_a_rule_lock_with_a_reason(closed_deals, admin_user, rep, client_for):
    deal = DealFactory(actor=rep, stage="won")
    url = reverse("locking:override_unlock", args=["deals", deal.pk])
    admin = client_for(admin_user)
    assert 'data-testid="override-form"' in text(admin.get(detail_url(deal)))
    assert 'data-testid="override-form"' not in text(client_for(rep).get(detail_url(deal)))
    response = admin.post(url, {"rule": closed_deals.pk, "reason": "  "}, follow=True)
    assert "Say why the lock is lifted." in text(response)
    assert RecordLock.objects.get(record_id=deal.pk).kind == "rule"
    response = client_for(rep).post(url, {"rule": closed_deals.pk, "reason": "I want to"}, follow=True)
    assert "Only an administrator may override a lock rule." in text(response)
    assert RecordLock.objects.get(record_id=deal.pk).kind == "rule"

    response = admin.post(url, {"rule": closed_deals.pk, "reason": "Wrong amount"})
    assert response.status_code == 302
    assert RecordLock.objects.get(record_id=deal.pk).kind == "override"
    entry = TimelineEntry.objects.get(record_id=deal.pk, kind="lock_overridden")
    assert entry.changes["reason"] == [None, "Wrong amount"]
    page = text(client_for(rep).get(detail_url(deal)))
    assert "Locked by rule" not in page and "data-blocked=" not in page and "lifted by an administrator" in page


def test_another_orgs_rule_id_in_an_override_is_404(closed_deals, admin_user, other_org_user, rep, client_for):
    other_rule = locking.do_create_lock_rule(other_org_user.org, "deals", name="Theirs", criteria=WON,
                                             actor=other_org_user)
    deal = DealFactory(actor=rep, stage="won")
    response = client_for(admin_user).post(reverse("locking:override_unlock", args=["deals", deal.pk]),
                                           {"rule": other_rule.pk, "reason": "x"})
    assert response.status_code == 404
    assert RecordLock.objects.get(record_id=deal.pk).kind == "rule"


# --- applying a rule to existing records ------------------------------------------------------------

def test_apply_to_existing_records_runs_the_job_and_shows_the_counts(org, enable, add_rule, admin_user, client_for,
                                                                    django_capture_on_commit_callbacks):
    for stage in ["won", "won", "lost", "proposal"]:
        DealFactory(actor=admin_user, stage=stage)
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("locking:rule_apply", args=[rule.pk]))
    assert response.status_code == 302
    page = text(client.get(response["Location"]))
    assert "Done: 3 records locked, 0 unlocked." in page
    assert 'hx-trigger="every 1s"' not in page  # finished: no more polling
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert "<html" not in text(partial) and "Done: 3 records locked" in text(partial)
    assert RecordLock.objects.filter(rule=rule).count() == 3


def test_a_queued_job_page_polls(org, enable, add_rule, admin_user, client_for):
    enable("deals")
    rule = add_rule("deals", "Closed deals", WON)
    job = locking.do_start_apply_job(rule, actor=admin_user)  # not committed in a test: stays queued
    page = text(client_for(admin_user).get(reverse("locking:job", args=[job.pk])))
    assert 'hx-trigger="every 1s"' in page and "Waiting for a worker" in page


# --- cost ----------------------------------------------------------------------------------------

def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_detail_page_queries_do_not_grow_with_rules_and_locks(org, closed_deals, add_rule, enable, admin_user, rep,
                                                               sales_rep_profile, client_for):
    deal = DealFactory(actor=rep, stage="won")
    client = client_for(rep)
    client.get(detail_url(deal))
    few = _queries(client, detail_url(deal))
    enable("deals", manual_enabled=True)
    for i in range(4):
        add_rule("deals", f"Rule {i}", WON, locked_for="selected", profiles=[sales_rep_profile.pk])
    locking.do_save_field_lock(org, "deals", name="Discount", fields=["discount"], actor=admin_user,
                               profiles=[sales_rep_profile.pk])
    locking.do_apply_rule_to_existing(LockRule.objects.get(name="Rule 0"), actor=admin_user)
    locking.do_lock_record(deal, "Audit", actor=admin_user)
    page = text(client.get(detail_url(deal)))
    assert page.count('data-testid="lock-badge"') == 3  # two rules whose locks were written, one manual
    assert _queries(client, detail_url(deal)) == few


# --- kanban ----------------------------------------------------------------------------------------

def test_kanban_cards_locked_for_the_user_show_a_lock_and_a_refused_move_says_why(closed_deals, rep, exempt,
                                                                                  client_for):
    won = DealFactory(actor=rep, stage="won", name="Won one")
    DealFactory(actor=rep, stage="proposal", name="Open one")
    board = reverse("crm:kanban", args=["deals"]) + "?field=stage"
    page = text(client_for(rep).get(board))
    assert page.count('data-testid="card-mark"') == 1
    assert "Locked by rule “Closed deals”: you may not edit this record." in page
    assert 'data-testid="card-mark"' not in text(client_for(exempt).get(board))
    response = client_for(rep).post(reverse("crm:kanban_move", args=["deals", won.pk]),
                                    {"field": "stage", "value": "proposal", "version": won.version})
    assert response.status_code == 403
    assert response.json()["error"].startswith("Locked by rule “Closed deals”")
    won.refresh_from_db()
    assert won.stage == "won"


def test_kanban_queries_do_not_grow_with_locked_cards(closed_deals, rep, client_for):
    board = reverse("crm:kanban", args=["deals"]) + "?field=stage"
    client = client_for(rep)
    DealFactory(actor=rep, stage="won")
    client.get(board)
    few = _queries(client, board)
    for _ in range(6):
        DealFactory(actor=rep, stage="won")
        DealFactory(actor=rep, stage="lost")
    assert text(client.get(board)).count('data-testid="card-mark"') == 13
    assert _queries(client, board) == few


def test_rules_naming_a_retired_field_are_flagged_on_the_settings_pages(org, admin_user, enable, add_rule,
                                                                          client_for):
    """A rule keeps its criteria when a field it names is retired; the admin must see that it no
    longer works as written (lock rules, field locks and sharing rules alike)."""
    from access.sharing_actions import do_create_role, do_create_sharing_rule
    from crm.actions import do_create_field, do_set_field_retired
    from crm.criteria import validate
    from crm.modules import get_module, org_modules

    region = do_create_field(org, "deals", api_name="region", label_en="Region", field_type="text", actor=admin_user)
    criteria = {"all": [{"field": "region", "op": "eq", "value": "North"}]}
    enable("deals")
    add_rule("deals", "Northern deals", criteria)
    locking.do_save_field_lock(org, "deals", name="Northern amounts", fields=["amount"], locked_for="all",
                               criteria=criteria, actor=admin_user)
    role = do_create_role(org, name="North team", actor=admin_user)
    bound = get_module("deals", org).bind(org)
    do_create_sharing_rule(org, "deals", name="North to the team", target_kind="role", target_role=role,
                           criteria=criteria, actor=admin_user, known_modules=[m.key for m in org_modules()],
                           validate_criteria=lambda c: validate(c, bound))
    client = client_for(admin_user)
    sharing_url = reverse("sharing_rules") + "?module=deals"
    assert "rule-problem" not in text(client.get(module_url("deals")))
    assert "rule-problem" not in text(client.get(sharing_url))

    do_set_field_retired(region, True, actor=admin_user)
    page = text(client.get(module_url("deals")))
    assert 'data-testid="rule-problem"' in page and "Records keep the lock state they have" in page
    assert 'data-testid="field-lock-problem"' in page and "This lock holds on every record" in page
    assert "It names a field that was retired or removed: “Region”." in page
    page = text(client.get(sharing_url))
    assert "This rule shares nothing until its criteria are fixed" in page and "“Region”" in page
