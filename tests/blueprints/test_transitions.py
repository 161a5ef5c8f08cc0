"""Performing transitions: owners (who may, who may not), conditions, what a transition asks for,
parallel sign-offs, after-actions through automation's action kinds, the record page's panel,
versions that keep their records, and holds."""
from __future__ import annotations

import html

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.decisions import decide
from access.sharing_actions import do_create_group, do_create_role, do_set_user_role
from automation.holds import register_hold, unregister_hold
from automation.run_models import RuleRun
from blueprints import actions
from blueprints.models import Blueprint, BlueprintRecord
from crm import actions as crm_actions
from crm.models import Attachment, Deal, Note, TimelineEntry
from tests.factories import DealFactory
from tests.helpers import version_of

from .bp_helpers import deal_pipeline

pytestmark = pytest.mark.django_db


def stage(deal) -> str:
    return Deal.objects.get(pk=deal.pk).stage


def test_the_owner_moves_the_deal_and_the_timeline_tells_it(org, admin_user, standard_user):
    bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    actions.do_transition(deal, t["Send proposal"], actor=standard_user)
    assert stage(deal) == "proposal"
    member = BlueprintRecord.objects.get(org=org, module="deals", record_id=deal.pk)
    assert (member.blueprint_id, member.state) == (bp.pk, "proposal")
    kinds = list(TimelineEntry.objects.filter(record_id=deal.pk).order_by("pk").values_list("kind", "path"))
    assert ("updated", f"blueprint:{t['Send proposal'].pk}") in kinds
    assert ("transition", f"blueprint:{t['Send proposal'].pk}") in kinds


def test_who_may_and_who_may_not(org, admin_user, standard_user, other_user, make_user):
    """Owners by user, role, group and the record's owner: each one allowed, someone else refused
    by the decision point and by the action alike."""
    role = do_create_role(org, name="Legal", actor=admin_user)
    lawyer = make_user(org, username="lawyer")
    do_set_user_role(lawyer.membership, role, actor=admin_user)
    from tests.helpers import fresh

    lawyer = fresh(lawyer)
    finance = make_user(org, username="fin")
    group = do_create_group(org, name="Finance", user_ids=[finance.pk], actor=admin_user)
    _bp, t = deal_pipeline(org, admin_user, **{
        "Send proposal": {"users": [other_user.pk], "roles": [role.pk], "groups": [group.pk]}})
    from access.actions import do_set_org_default

    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    for who, expected in ((other_user, True), (lawyer, True), (finance, True), (standard_user, False)):
        deal = DealFactory(actor=standard_user, name=f"For {who.username}")
        decision = decide(who, deal, "transition", {"transition": t["Send proposal"]})
        assert decision.allowed is expected, who.username
        if expected:
            actions.do_transition(deal, t["Send proposal"], actor=who)
            assert stage(deal) == "proposal"
        else:
            assert "not an owner" in decision.reason
            with pytest.raises(PermissionDenied, match="not an owner"):
                actions.do_transition(deal, t["Send proposal"], actor=who)
            assert stage(deal) == "qualification"
            assert TimelineEntry.objects.filter(record_id=deal.pk, kind="refused").count() == 1


def test_a_transition_is_offered_only_from_its_states_and_when_its_conditions_hold(org, admin_user, standard_user):
    _bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    assert not decide(standard_user, deal, "transition", {"transition": t["Win"]}).allowed
    with pytest.raises(PermissionDenied, match="current state"):
        actions.do_transition(deal, t["Win"], actor=standard_user)
    # "Lose" is a common transition: from every state.
    assert decide(standard_user, deal, "transition", {"transition": t["Lose"]}).allowed


def test_before_criteria(org, admin_user, standard_user):
    bp = actions.do_create_blueprint(org, "deals", name="Big deals", field="stage", actor=admin_user)
    big = actions.do_save_transition(bp, actor=admin_user, name="Propose", from_states=["qualification"],
                                     to_state="proposal",
                                     before={"all": [{"field": "amount", "op": "gte", "value": "1000"}]})
    actions.do_publish_blueprint(bp, actor=admin_user)
    small = DealFactory(actor=standard_user, name="Small", amount="10")
    large = DealFactory(actor=standard_user, name="Large", amount="5000")
    assert not decide(standard_user, small, "transition", {"transition": big}).allowed
    assert decide(standard_user, large, "transition", {"transition": big}).allowed
    with pytest.raises(PermissionDenied, match="conditions"):
        actions.do_transition(small, big, actor=standard_user)


def test_what_a_transition_asks_for_is_required_and_nothing_is_written_without_it(org, admin_user, standard_user):
    _bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    actions.do_transition(deal, t["Send proposal"], actor=standard_user)
    with pytest.raises(crm_actions.RecordValidationError) as refused:
        actions.do_transition(deal, t["Negotiate"], actor=standard_user)
    assert set(refused.value.message_dict) == {"amount", "note"}
    assert stage(deal) == "proposal"
    actions.do_transition(deal, t["Negotiate"], {"amount": "1200"}, note="Budget agreed", actor=standard_user)
    deal = Deal.objects.get(pk=deal.pk)
    assert (deal.stage, deal.amount) == ("negotiation", 1200)
    assert Note.objects.filter(record_id=deal.pk, body="Budget agreed").exists()


def test_parallel_sign_offs_move_the_record_once_both_are_given(org, admin_user, standard_user, make_user):
    legal, finance = make_user(org, username="legal"), make_user(org, username="finance")
    bp = actions.do_create_blueprint(org, "deals", name="Sign-off", field="stage", actor=admin_user)
    sign = {name: actions.do_save_transition(bp, actor=admin_user, name=name, from_states=["qualification"],
                                             to_state="negotiation", parallel="signoff", owners={"users": [who.pk]})
            for name, who in (("Legal sign-off", legal), ("Finance sign-off", finance))}
    actions.do_publish_blueprint(bp, actor=admin_user)
    from access.actions import do_set_org_default

    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    actions.do_transition(deal, sign["Legal sign-off"], actor=legal)
    assert stage(deal) == "qualification"
    assert not decide(legal, deal, "transition", {"transition": sign["Legal sign-off"]}).allowed  # given already
    actions.do_transition(deal, sign["Finance sign-off"], actor=finance)
    assert stage(deal) == "negotiation"
    assert BlueprintRecord.objects.get(record_id=deal.pk, module="deals").signoffs == []


def test_after_actions_run_through_automation_and_are_logged(org, admin_user, standard_user,
                                                            django_capture_on_commit_callbacks):
    from locking.actions import do_save_lock_config

    do_save_lock_config(org, "deals", enabled=True, manual_enabled=True, actor=admin_user)
    bp = actions.do_create_blueprint(org, "deals", name="Close", field="stage", actor=admin_user)
    win = actions.do_save_transition(bp, actor=admin_user, name="Win", from_states=["qualification"], to_state="won",
                                     after=[{"type": "field_update", "field": "discount", "value": "5"},
                                            {"type": "notify", "users": [admin_user.pk], "message": "{{name}} won"},
                                            {"type": "lock_record", "reason": "Closed"}])
    actions.do_publish_blueprint(bp, actor=admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    with django_capture_on_commit_callbacks(execute=True):  # they run after the transition commits
        actions.do_transition(deal, win, actor=standard_user)
    deal = Deal.objects.get(pk=deal.pk)
    assert (deal.stage, deal.discount) == ("won", 5)
    run = RuleRun.objects.get(org=org, rule_kind="blueprint", rule_id=win.pk)
    assert run.status == "done", run.error
    assert [a["status"] for a in run.actions] == ["done", "done", "done"]
    from locking.models import RecordLock

    assert RecordLock.objects.filter(org=org, module="deals", record_id=deal.pk, kind="manual").exists()


def test_after_actions_cannot_move_the_state_behind_the_blueprint(org, admin_user, standard_user,
                                                                  django_capture_on_commit_callbacks):
    bp = actions.do_create_blueprint(org, "deals", name="Sneaky", field="stage", actor=admin_user)
    go = actions.do_save_transition(bp, actor=admin_user, name="Go", from_states=["qualification"], to_state="proposal",
                                    after=[{"type": "field_update", "field": "stage", "value": "won"}])
    actions.do_publish_blueprint(bp, actor=admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_transition(deal, go, actor=standard_user)
    assert stage(deal) == "proposal"
    run = RuleRun.objects.get(org=org, rule_kind="blueprint", rule_id=go.pk)
    assert run.status == "failed" and "transitions" in run.error


def test_the_transition_action_kind_runs_a_transition_as_a_process(org, admin_user, standard_user):
    from automation.workflow_actions import action_kind

    bp, t = deal_pipeline(org, admin_user)
    kind = action_kind("blueprint_transition")
    schema = __import__("crm.modules", fromlist=["get_module"]).get_module("deals", org).bind(org)
    config = kind.clean({"blueprint": bp.key, "transition": t["Send proposal"].key}, schema, org)
    deal = DealFactory(actor=standard_user, name="Acme")
    from automation.workflow_actions import ActionContext

    context = ActionContext(rule=t["Send proposal"], schema=schema, record=deal, actor=admin_user,
                            path="approval:1", run=None)
    kind.run(config, context)  # the admin owns no transition: a process is not asked for owners
    assert stage(deal) == "proposal"
    entry = TimelineEntry.objects.get(record_id=deal.pk, kind="transition")
    assert entry.changes["via"] == [None, "approval:1"]
    with pytest.raises(Exception):
        kind.clean({"blueprint": bp.key, "transition": "nope"}, schema, org)


def test_the_record_page_shows_the_state_the_buttons_and_the_diagram(org, admin_user, standard_user, other_user,
                                                                    client_for, django_assert_max_num_queries):
    _bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    page = html.unescape(client_for(standard_user).get(reverse("crm:detail", args=["deals", deal.pk])).content.decode())
    assert 'data-testid="blueprint-state">Qualification' in page
    assert 'data-transition="Send proposal"' in page and 'data-transition="Lose"' in page
    assert 'data-transition="Win"' not in page  # not from this state
    assert 'class="bp-state bp-current bp-start" data-state="qualification"' in page
    # Someone who may see the deal but owns no transition gets no button.
    from access.actions import do_set_org_default

    do_set_org_default(org, "deals", "public_read_write", actor=admin_user)
    other = html.unescape(client_for(other_user).get(reverse("crm:detail", args=["deals", deal.pk])).content.decode())
    assert 'data-testid="blueprint-panel"' in other and 'data-transition="Send proposal"' not in other


def test_the_transition_page_performs_with_a_field_a_note_and_is_refused_to_others(
        org, admin_user, standard_user, other_user, client_for):
    _bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    actions.do_transition(deal, t["Send proposal"], actor=standard_user)
    url = reverse("blueprints:transition", args=["deals", deal.pk]) + f"?transition={t['Negotiate'].pk}"
    client = client_for(standard_user)
    form = client.get(url)
    assert form.status_code == 200 and 'name="amount"' in form.content.decode()
    missing = client.post(url, {"amount": ""})
    assert missing.status_code == 400 and stage(deal) == "proposal"
    done = client.post(url, {"amount": "900", "note": "Agreed"})
    assert done.status_code == 302 and stage(deal) == "negotiation"
    assert client_for(other_user).get(url).status_code == 404  # cannot see the deal


def test_a_new_version_leaves_records_in_theirs_until_migrated(org, admin_user, standard_user):
    v1, t1 = deal_pipeline(org, admin_user)
    old = DealFactory(actor=standard_user, name="Old")
    v2 = actions.do_new_version(v1, actor=admin_user)
    shortcut = actions.do_save_transition(v2, actor=admin_user, name="Fast win", from_states=["qualification"],
                                          to_state="won", owners={"owner": True})
    v2 = actions.do_publish_blueprint(v2, actor=admin_user)
    assert Blueprint.objects.get(pk=v1.pk).status == "superseded"
    new = DealFactory(actor=standard_user, name="New")
    assert BlueprintRecord.objects.get(record_id=old.pk, module="deals").blueprint_id == v1.pk
    assert BlueprintRecord.objects.get(record_id=new.pk, module="deals").blueprint_id == v2.pk
    fast_v2 = shortcut
    assert not decide(standard_user, old, "transition", {"transition": fast_v2}).allowed
    assert decide(standard_user, new, "transition", {"transition": fast_v2}).allowed
    actions.do_transition(old, t1["Send proposal"], actor=standard_user)  # its own version still works
    assert actions.do_migrate_records(Blueprint.objects.get(pk=v1.pk), v2, actor=admin_user) == 1
    assert BlueprintRecord.objects.get(record_id=old.pk, module="deals").blueprint_id == v2.pk


def test_deactivating_frees_the_records(org, admin_user, standard_user):
    bp, _t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    assert actions.do_deactivate_blueprint(bp, actor=admin_user) == 1
    crm_actions.do_update_record(deal, {"stage": "won"}, version=version_of(deal), actor=standard_user)
    assert stage(deal) == "won"


def test_a_record_held_for_processes_does_not_enter(org, admin_user, standard_user):
    def under_review(schema, record, scope):
        return "Under review" if scope == "processes" and getattr(record, "name", "") == "Held" else None

    register_hold(under_review)
    try:
        deal_pipeline(org, admin_user)
        held = DealFactory(actor=standard_user, name="Held")
        free = DealFactory(actor=standard_user, name="Free")
        assert not BlueprintRecord.objects.filter(record_id=held.pk, module="deals").exists()
        assert BlueprintRecord.objects.filter(record_id=free.pk, module="deals").exists()
        crm_actions.do_update_record(held, {"stage": "won"}, version=version_of(held), actor=standard_user)
        assert stage(held) == "won"
    finally:
        unregister_hold(under_review)


def test_configuring_is_for_whoever_may_configure_the_module(org, admin_user, standard_user, client_for):
    with pytest.raises(PermissionDenied):
        actions.do_create_blueprint(org, "deals", name="Mine", field="stage", actor=standard_user)
    bp, _t = deal_pipeline(org, admin_user, publish=False)
    for url in (reverse("blueprints:list", args=["deals"]), reverse("blueprints:editor", args=[bp.pk])):
        assert client_for(standard_user).get(url).status_code == 404
        assert client_for(admin_user).get(url).status_code == 200
    side = client_for(admin_user).get(reverse("blueprints:transition_save", args=[bp.pk, _t["Win"].pk]))
    assert side.status_code == 302 and f"?transition={_t['Win'].pk}" in side["Location"]
    assert client_for(standard_user).post(reverse("blueprints:publish", args=[bp.pk])).status_code == 404
    assert Blueprint.objects.get(pk=bp.pk).status == "draft"


def test_the_attachment_goes_to_the_record(org, admin_user, standard_user):
    bp = actions.do_create_blueprint(org, "deals", name="Contract", field="stage", actor=admin_user)
    sign = actions.do_save_transition(bp, actor=admin_user, name="Sign", from_states=["qualification"],
                                      to_state="won", during={"attachment": True, "checklist": ["Signed", "Dated"]})
    actions.do_publish_blueprint(bp, actor=admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    with pytest.raises(crm_actions.RecordValidationError) as refused:
        actions.do_transition(deal, sign, checklist=["Signed"], actor=standard_user)
    assert set(refused.value.message_dict) == {"attachment", "checklist"}
    actions.do_transition(deal, sign, attachment=SimpleUploadedFile("contract.pdf", b"%PDF"),
                          checklist=["Signed", "Dated"], actor=standard_user)
    assert stage(deal) == "won"
    assert Attachment.objects.filter(record_id=deal.pk, name="contract.pdf").exists()


def test_my_work_lists_the_transitions_i_own_at_a_fixed_cost(org, admin_user, standard_user, other_user,
                                                             django_assert_num_queries):
    from blueprints.ui import transitions_i_own
    from tests.helpers import fresh

    _bp, t = deal_pipeline(org, admin_user)
    for i in range(3):
        DealFactory(actor=standard_user, name=f"Deal {i}")
    mine = transitions_i_own(fresh(standard_user))
    assert mine.title == "Transitions I own" and mine.count == 3
    assert {tr.name for tr in mine.items[0]["transitions"]} == {"Send proposal", "Lose"}
    assert transitions_i_own(fresh(other_user)) is None  # owns nothing: no section
    user = fresh(standard_user)
    transitions_i_own(user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        transitions_i_own(user)
    for i in range(10):
        DealFactory(actor=standard_user, name=f"More {i}")
    with django_assert_num_queries(len(few.captured_queries)):
        assert transitions_i_own(user).count == 13


def test_my_work_shows_the_section(org, admin_user, standard_user, client_for):
    _bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    page = client_for(standard_user).get(reverse("work:index")).content.decode()
    assert 'data-testid="work-section-blueprint-transitions"' in page
    assert deal.get_absolute_url() in page and "Send proposal" in page


def test_the_pages_speak_chinese(org, admin_user, standard_user, client_for):
    bp, t = deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Acme")
    client, admin = client_for(standard_user), client_for(admin_user)
    for c in (client, admin):
        c.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = html.unescape(client.get(reverse("crm:detail", args=["deals", deal.pk])).content.decode())
    assert "蓝图示意图" in page and "资格审查" in page
    edit = html.unescape(client.get(reverse("crm:edit", args=["deals", deal.pk])).content.decode())
    assert "只能通过蓝图的流转更改" in edit
    editor = html.unescape(admin.get(reverse("blueprints:editor", args=[bp.pk])).content.decode())
    assert "新建草稿版本" in editor and "流转" in editor


def test_publishing_enrols_the_matching_records_already_there(org, admin_user, standard_user,
                                                               django_capture_on_commit_callbacks):
    before = [DealFactory(actor=standard_user, name=f"Old {i}") for i in range(3)]
    crm_actions.do_update_record(before[2], {"stage": "proposal"}, version=version_of(before[2]), actor=standard_user)
    with django_capture_on_commit_callbacks(execute=True):
        bp, _t = deal_pipeline(org, admin_user)
    rows = dict(BlueprintRecord.objects.filter(org=org, module="deals").values_list("record_id", "state"))
    assert rows == {before[0].pk: "qualification", before[1].pk: "qualification", before[2].pk: "proposal"}
    assert set(BlueprintRecord.objects.filter(org=org).values_list("blueprint_id", flat=True)) == {bp.pk}


def test_a_purged_record_leaves_no_blueprint_row(org, admin_user, standard_user, settings):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from crm.actions.recycle_bin import do_purge_recycle_bin

    deal_pipeline(org, admin_user)
    deal = DealFactory(actor=standard_user, name="Gone")
    crm_actions.do_delete_record(deal, version=version_of(deal), actor=standard_user)
    assert BlueprintRecord.objects.filter(record_id=deal.pk, module="deals").exists()
    with time_machine.travel(timezone.now() + dt.timedelta(days=settings.RECYCLE_BIN_DAYS + 1)):
        do_purge_recycle_bin()
    assert not BlueprintRecord.objects.filter(record_id=deal.pk, module="deals").exists()
