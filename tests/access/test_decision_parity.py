"""The decision point and the actions agree, and pages offer exactly what is allowed.

Generated from the code: for every user of a cast that covers the org and team roles, every
record of a mix of own, others', shared, locked and requested records, and every action the
decision point knows (`access.decisions.RECORD_ACTIONS`), `decide(...).allowed` is true exactly
when calling the action succeeds; and the record's page offers the control (enabled) exactly
when it is allowed. A new action without an attempt here fails the test, so a new rule cannot
land with the screen and the action disagreeing.
"""
from __future__ import annotations

import re

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.http import Http404
from django.urls import reverse

from access.decisions import RECORD_ACTIONS, decide
from access.models import Profile
from access.share_actions import do_share_record
from access.sharing_actions import do_clone_profile, do_set_profile_field_levels, do_set_user_profile
from access.visibility import bind_org, get_record
from pool import actions as pool_actions
from approvals.actions import do_decide_approval, do_recall_approval, do_save_approval_process, do_submit_for_approval
from approvals.models import ApprovalRequest
from blueprints.actions import do_transition
from crm import actions
from crm.models import Attachment, Note
from crm.modules import get_module
from locking import actions as locking
from teams import actions as team_actions
from teams.models import TeamMember

STATUSES = [
    {"value": "requested", "label_en": "Requested", "label_zh": "已请求"},
    {"value": "doing", "label_en": "Doing", "label_zh": "进行中"},
    {"value": "done", "label_en": "Done", "label_zh": "完成"},
]


class Rollback(Exception):
    pass


def rebind(user):
    from access.models import Membership

    return bind_org(user, user.org, Membership.objects.select_related("profile", "org_role").get(
        org=user.org, user=user))


@pytest.fixture
def world(org, admin_user, make_user, other_org_user):
    """The cast and the records (made through the actions)."""
    sally, sergio, reader, limited = (make_user(org, username=name) for name in ("sally", "sergio", "reader", "lim"))
    manager, member, participant, requester = (make_user(org, username=n) for n in ("mgr", "mem", "par", "req"))
    actions_ = __import__("access.actions", fromlist=["do_set_org_default"])
    actions_.do_set_org_default(org, "deals", "private", actor=admin_user)
    # A profile that keeps the deal amount read-only.
    profile = do_clone_profile(Profile.objects.get(org=org, name="Standard"), "Limited", actor=admin_user)
    deals = get_module("deals", org).bind(org)
    do_set_profile_field_levels(profile, "deals", {"amount": "read_only"}, actor=admin_user,
                                known_modules=["deals"], known_field_keys=[f.key for f in deals.fields])
    do_set_user_profile(limited.membership, profile, actor=admin_user)
    limited = rebind(limited)
    # Closed deals are locked for everyone but administrators (the close date stays editable).
    locking.do_save_lock_config(org, "deals", enabled=True, actor=admin_user)
    locking.do_create_lock_rule(org, "deals", name="Closed deals", actor=admin_user,
                                criteria={"all": [{"field": "stage", "op": "in", "value": ["won", "lost"]}]},
                                editable_fields=["close_date"])
    account = actions.do_create_record("accounts", {"name": "Zylker"}, actor=admin_user)
    open_deal = actions.do_create_record("deals", {"name": "Open", "account": account.pk, "stage": "proposal",
                                                   "amount": "10"}, actor=sally)
    limited_deal = actions.do_create_record("deals", {"name": "Limited's", "account": account.pk,
                                                      "stage": "proposal"}, actor=limited)
    won = actions.do_create_record("deals", {"name": "Won", "account": account.pk, "stage": "proposal"}, actor=sally)
    won = actions.do_update_record(won, {"stage": "won"}, version=won.version, actor=sally)
    do_share_record(org, "deals", open_deal, user=reader, access="read", actor=sally)
    # A team space with a module and a request.
    space = team_actions.do_create_space(org, name_en="Marketing", name_zh="市场部", manager_ids=[manager.pk],
                                         actor=admin_user)
    team_actions.do_set_team_member(space, member.pk, TeamMember.Role.MEMBER, actor=manager)
    team_actions.do_set_team_member(space, participant.pk, TeamMember.Role.PARTICIPANT, actor=manager)
    module = team_actions.do_create_team_module(space, name_en="Case Studies", name_zh="案例研究", icon="file",
                                                statuses=STATUSES, manager_only_statuses=["done"],
                                                done_statuses=["done"], actor=manager)
    team_actions.do_set_requesters(module, [requester.pk], actor=manager)
    mine = actions.do_create_record(module.key, {"title": "Member's"}, actor=member)
    theirs = actions.do_create_record(module.key, {"title": "Manager's"}, actor=manager)
    request = team_actions.do_submit_request(module, {"title": "Please write one"}, actor=requester)
    started = team_actions.do_submit_request(module, {"title": "Started"}, actor=requester)
    started = actions.do_update_record(started, {"status": "doing"}, version=started.version, actor=manager)
    # A blueprint over the module's status: members and the manager start a request, no one else.
    from blueprints import actions as blueprint_actions

    blueprint = blueprint_actions.do_create_blueprint(org, module.key, name="Case study", field="status",
                                                      actor=manager)
    start = blueprint_actions.do_save_transition(blueprint, actor=manager, name="Start", from_states=["requested"],
                                                 to_state="doing", owners={"team_roles": ["manager", "member"]})
    blueprint_actions.do_publish_blueprint(blueprint, actor=manager)
    # A deal awaiting approval by a user who could not see it otherwise (sergio).
    do_save_approval_process(org, "deals", name="Check", levels=[{"rule": "any", "approvers": {"users": [sergio.pk]}}],
                             actor=admin_user)
    awaiting = actions.do_create_record("deals", {"name": "Awaiting", "account": account.pk, "stage": "proposal"},
                                        actor=sally)
    do_submit_for_approval(awaiting, actor=sally)
    # A customer pool of leads, Sally its member: a lead waiting in it, and one of Sally's to release.
    pool = pool_actions.do_save_pool(org, actor=admin_user, name="East", module="leads", masked_fields=["phone"],
                                     members={"users": [sally]})
    waiting = actions.do_create_record("leads", {"last_name": "Waiting", "phone": "13800138000"}, actor=admin_user)
    pool_actions.do_release_records("leads", [waiting.pk], pool.pk, actor=admin_user, reason="East")
    sallys_lead = actions.do_create_record("leads", {"last_name": "Sally's"}, actor=sally)
    # A lead Sally claimed from the pool, which recycles: she may protect it (a quota of one).
    from pool.recycle_actions import do_save_recycle_policy

    do_save_recycle_policy(pool, actor=admin_user, enabled=True, rules={"*": {"n": 30}}, protect_quota=1)
    claimed = actions.do_create_record("leads", {"last_name": "Claimed", "phone": "13900139000"}, actor=admin_user)
    pool_actions.do_release_records("leads", [claimed.pk], pool.pk, actor=admin_user, reason="East")
    pool_actions.do_claim_records("leads", [claimed.pk], actor=sally)
    # An accounts pool, Sally its member: an account released into it took its owner's contact along;
    # only administrators work on the waiting contact until someone claims the account.
    accounts_pool = pool_actions.do_save_pool(org, actor=admin_user, name="East accounts", module="accounts",
                                              masked_fields=["phone"], members={"users": [sally]})
    pooled = actions.do_create_record("accounts", {"name": "Pooled"}, actor=admin_user)
    waiting_contact = actions.do_create_record("contacts", {"last_name": "Waiting", "account": pooled.pk},
                                               actor=admin_user)
    pool_actions.do_release_records("accounts", [pooled.pk], accounts_pool.pk, actor=admin_user, reason="East")
    records = [open_deal, limited_deal, won, mine, theirs, request, started, awaiting, waiting, sallys_lead, claimed,
               waiting_contact]
    for record in records:  # a note and a file by an administrator on each, to edit or remove
        actions.do_add_note(record, "Admin's note", actor=admin_user)
        actions.do_add_attachment(record, SimpleUploadedFile("brief.txt", b"x"), actor=admin_user)
    users = [admin_user, sally, sergio, reader, limited, manager, member, participant, requester, other_org_user]
    return {"users": users, "records": records, "module": module, "transition": start}


def fresh(record, user):
    """The record as stored, read as `user` would (None if they cannot see it)."""
    schema = get_module(getattr(record, "MODULE_KEY", None) or record.key, record.org).bind(record.org)
    return schema.base_queryset(record.org).get(pk=record.pk), schema


def edit_changes(record) -> dict:
    key = getattr(record, "MODULE_KEY", "")
    return {"amount": "99"} if key == "deals" else {"company": "Renamed"} if key == "leads" else {"title": "Renamed"}


def new_owner(record) -> int:
    """Someone other than the owner: the org's administrator (who owns none of the records)."""
    from access.models import Membership

    return Membership.objects.filter(org=record.org, role="admin").values_list("user_id", flat=True).first()


def note_of(record):
    return Note.objects.filter(record_id=record.pk, record_type__model=record._meta.model_name).first()


def attachment_of(record):
    return Attachment.objects.filter(record_id=record.pk, record_type__model=record._meta.model_name).first()


# How each decision action is attempted for real. A missing entry fails the test.
ATTEMPTS = {
    "view": lambda user, record, schema: get_record(user, schema, record.pk, "view"),
    "export": lambda user, record, schema: get_record(user, schema, record.pk, "export"),
    "edit": lambda user, record, schema: actions.do_update_record(
        record, edit_changes(record), version=record.version, actor=user, schema=schema),
    "delete": lambda user, record, schema: actions.do_delete_record(record, actor=user, version=record.version),
    "change_owner": lambda user, record, schema: actions.do_change_owner(
        record, new_owner(record), actor=user, version=record.version),
    "add_note": lambda user, record, schema: actions.do_add_note(record, "Hello", actor=user),
    "edit_note": lambda user, record, schema: actions.do_update_note(note_of(record), "Changed", actor=user),
    "delete_note": lambda user, record, schema: actions.do_delete_note(note_of(record), actor=user),
    "add_attachment": lambda user, record, schema: actions.do_add_attachment(
        record, SimpleUploadedFile("more.txt", b"y"), actor=user),
    "delete_attachment": lambda user, record, schema: actions.do_delete_attachment(attachment_of(record), actor=user),
    "transition": lambda user, record, schema: do_transition(record, transition_of(record), actor=user),
    "approve": lambda user, record, schema: do_decide_approval(awaiting_request(record), "approve", actor=user),
    "recall": lambda user, record, schema: do_recall_approval(awaiting_request(record), actor=user),
    # The customer pools' moves (this cast has no pool: refused on both sides).
    "claim": lambda user, record, schema: pool_actions.do_claim_records(schema, [record.pk], actor=user),
    "release": lambda user, record, schema: pool_actions.do_release_records(
        schema, [record.pk], pool_of(record), actor=user, reason="Not mine"),
    "assign": lambda user, record, schema: pool_actions.do_assign_records(
        schema, [record.pk], new_owner(record), actor=user),
    "protect": lambda user, record, schema: do_protect_record(schema, record.pk, True, actor=user),
}
def do_protect_record(*args, **kwargs):
    from pool.recycle_actions import do_protect_record

    return do_protect_record(*args, **kwargs)


def pool_of(record) -> int:
    from pool.models import Pool

    return Pool.objects.filter(org=record.org).values_list("pk", flat=True).first() or 0


CHANGES = {
    "edit": lambda record: edit_changes(record),
    "edit_note": lambda record: {"note": note_of(record)},
    "delete_note": lambda record: {"note": note_of(record)},
    "transition": lambda record: {"transition": transition_of(record)},
    "protect": lambda record: {"protected": True},
}


def awaiting_request(record):
    """The record's awaiting approval request (None: the action refuses, as for a stranger's)."""
    module = getattr(record, "MODULE_KEY", None) or record.key
    return ApprovalRequest.objects.filter(org=record.org, module=module, record_id=record.pk,
                                          status__in=("pending", "delegated")).first()


def transition_of(record):
    """The blueprint's "Start" (a transition of the team module's blueprint, whatever the record)."""
    from blueprints.models import Transition

    return Transition.objects.get(org=record.org, name="Start")


def attempt(action, user, record, schema) -> bool:
    """Whether the action succeeds; whatever it wrote is rolled back."""
    try:
        with transaction.atomic():
            ATTEMPTS[action](user, record, schema)
            raise Rollback
    except Rollback:
        return True
    except (PermissionDenied, Http404, actions.RecordValidationError):
        return False


def test_every_decision_action_has_an_attempt():
    assert set(ATTEMPTS) == set(RECORD_ACTIONS)


def test_decisions_actions_and_pages_agree(world, client_for):
    """One cast for the three checks (building it is the slow part)."""
    check_decide_agrees_with_the_actions(world)
    check_every_action_is_both_allowed_and_refused(world)
    check_the_record_page_offers_exactly_the_allowed_controls(world, client_for)


def check_decide_agrees_with_the_actions(world):
    """For every user, record and action: allowed exactly when the action succeeds."""
    disagreements = []
    for user in world["users"]:
        for stored in world["records"]:
            for action in RECORD_ACTIONS:
                record, schema = fresh(stored, user)
                changes = CHANGES.get(action, lambda r: None)(record)
                decision = decide(user, record, action, changes, schema=schema)
                record, schema = fresh(stored, user)
                done = attempt(action, user, record, schema)
                if decision.allowed != done:
                    disagreements.append((user.username, str(record), action, decision.allowed, decision.reason))
    assert disagreements == []


def check_every_action_is_both_allowed_and_refused(world):
    """The cast is rich enough: every action is allowed to someone and refused to someone."""
    found: dict[str, set[bool]] = {}
    for user in world["users"]:
        for stored in world["records"]:
            for action in RECORD_ACTIONS:
                record, schema = fresh(stored, user)
                found.setdefault(action, set()).add(
                    decide(user, record, action, CHANGES.get(action, lambda r: None)(record), schema=schema).allowed)
    assert {action: seen for action, seen in found.items() if seen != {True, False}} == {}


# --- the page offers a control exactly when it is allowed ---------------------------------------

def page_controls(html: str, record) -> dict[str, bool]:
    """Which controls the record page offers enabled."""
    base = reverse("crm:detail", args=[getattr(record, "MODULE_KEY", None) or record.key, record.pk])
    owner_form = re.search(rf'action="{re.escape(base)}owner/".*?</form>', html, re.S)
    return {
        "edit": f'href="{base}edit/"' in html,
        "delete": f'href="{base}delete/"' in html,
        "change_owner": owner_form is not None and "disabled" not in owner_form.group(0),
        "add_note": f'action="{base}notes/"' in html,
        "add_attachment": f'action="{base}attachments/"' in html,
        "delete_attachment": re.search(rf'action="{re.escape(base)}attachments/\d+/delete/"', html) is not None,
        "edit_note": re.search(rf'action="{re.escape(base)}notes/\d+/edit/"', html) is not None,
        "delete_note": re.search(rf'action="{re.escape(base)}notes/\d+/delete/"', html) is not None,
        "transition": re.search(rf'href="{re.escape(base)}blueprint/\?transition=\d+"', html) is not None,
    }


def check_the_record_page_offers_exactly_the_allowed_controls(world, client_for):
    """Enabled on the page exactly when allowed; a record the user cannot see is a 404."""
    disagreements = []
    for user in world["users"]:
        client = client_for(user)
        for stored in world["records"]:
            record, schema = fresh(stored, user)
            response = client.get(reverse("crm:detail", args=[schema.key, record.pk]))
            if not decide(user, record, "view", schema=schema).allowed:
                if response.status_code != 404:
                    disagreements.append((user.username, str(record), "view", response.status_code))
                continue
            offered = page_controls(response.content.decode(), record)
            for action, shown in offered.items():
                allowed = decide(user, record, action, CHANGES.get(action, lambda r: None)(record),
                                 schema=schema).allowed
                if action == "edit":  # the page's Edit opens the form: offered when any field may change
                    allowed = decide(user, record, "edit", schema=schema).allowed
                if shown != allowed:
                    disagreements.append((user.username, str(record), action, shown, allowed))
    assert disagreements == []
