"""The demo organisation `make run` loads: people, records, and the sharing and locking set-up
a visitor can try (closed deals locked, lead contact details read-only for sales)."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from access.models import Membership, Organization
from access.shares import record_shares
from access.visibility import bind_org, visible
from crm import actions
from crm.models import Deal, Lead
from crm.modules import get_module
from locking.models import RecordLock
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


def member(org, username):
    membership = Membership.objects.select_related("org", "profile", "org_role", "user").get(
        org=org, user__username=username)
    return bind_org(membership.user, org, membership)


def test_the_demo_shows_the_org_chart_shares_and_locks():
    call_command("seed_demo", scale=0.2)
    org = Organization.objects.get(name="Zylker")
    assert member(org, "sally").membership.org_role.name == "Sales rep"
    assert member(org, "sam").membership.org_role.name == "Head of Sales"
    # deals are private: the head of sales sees Sally's through the hierarchy, a peer does not
    deals = get_module("deals", org).bind(org)
    sallys = Deal.objects.filter(org=org, owner__username="sally", deleted_at__isnull=True)
    assert visible(member(org, "sam"), deals).filter(pk__in=sallys).count() == sallys.count() > 0
    assert not visible(member(org, "sofia"), deals).filter(pk__in=sallys).exists()

    # closed deals are locked; an open one is not
    closed = Deal.objects.filter(org=org, stage__in=["won", "lost"]).first()
    assert closed is not None
    assert RecordLock.objects.filter(org=org, module="deals", record_id=closed.pk).exists()
    owner = member(org, closed.owner.username)
    with pytest.raises(PermissionDenied) as refused:
        actions.do_update_record(closed, {"amount": "1"}, version=version_of(closed), actor=owner)
    assert "Closed deals" in str(refused.value)

    # a lead's phone is read-only for a sales rep, not for the administrator
    schema = get_module("leads", org).bind(org)
    lead = visible(member(org, "sally"), schema, "edit").first()
    with pytest.raises(PermissionDenied) as refused:
        actions.do_update_record(lead, {"phone": "+1000"}, version=version_of(lead), actor=member(org, "sally"))
    assert "Contact details" in str(refused.value)
    assert Lead.objects.get(pk=lead.pk).phone != "+1000"
    actions.do_update_record(lead, {"phone": "+1000"}, version=version_of(lead), actor=member(org, "admin"))
    assert Lead.objects.get(pk=lead.pk).phone == "+1000"

    shares = [s for d in Deal.objects.filter(org=org, owner__username="sally") for s in record_shares(d)]
    assert [(s.user.username, s.access) for s in shares] == [("emily", "read")]

    # the China East pools: Sally sees the leads and accounts waiting there, their phones masked
    from pool.models import Pool

    for name, module in (("China East", "leads"), ("China East accounts", "accounts")):
        pool = Pool.objects.get(org=org, name=name)
        waiting = visible(member(org, "sally"), get_module(module, org)).filter(owner__isnull=True, pool_id=pool.pk)
        assert waiting.exists() and "****" in waiting.first().phone

    call_command("seed_demo", scale=0.2)  # a second run adds nothing
    assert Organization.objects.filter(name="Zylker").count() == 1


def test_demo_accounts_are_private_with_the_sharing_rules_the_readme_describes():
    from access.models import OrgWideDefault, SharingRule
    from crm.models import Account

    call_command("seed_demo", scale=0.2)
    org = Organization.objects.get(name="Zylker")
    assert OrgWideDefault.objects.get(org=org, module="accounts").level == "private"
    assert sorted(SharingRule.objects.filter(org=org, module="accounts").values_list("name", "access")) == [
        ("Sales accounts: read by Marketing", "read"), ("Sales accounts: read by Service", "read")]
    accounts = get_module("accounts", org).bind(org)
    sallys = Account.objects.filter(org=org, owner__username="sally", deleted_at__isnull=True)
    assert sallys.exists()

    def sees(username: str, action: str = "view") -> bool:
        return visible(member(org, username), accounts, action).filter(pk__in=sallys).count() == sallys.count()

    def sees_any(username: str, action: str = "view") -> bool:
        return visible(member(org, username), accounts, action).filter(pk__in=sallys).exists()

    assert sees("sally", "edit")  # her own
    assert not sees_any("sofia") and not sees_any("sergio")  # another rep's: no
    assert sees("sam", "edit")  # the head of sales, through the role hierarchy
    for reader in ("mark", "emily", "sven", "simon"):  # marketing and service read through the rules
        assert sees(reader) and not sees_any(reader, "edit")
    assert sees("admin", "edit")


def test_the_demo_rules_act_on_what_people_do_next(django_capture_on_commit_callbacks):
    from automation.models import PendingEvent, RuleRun

    call_command("seed_demo", scale=0.2)
    org = Organization.objects.get(name="Zylker")
    assert not RuleRun.objects.filter(org=org).exists()  # the demo's own records were handled first
    assert not PendingEvent.objects.filter(org=org).exists()
    sally = member(org, "sally")
    with django_capture_on_commit_callbacks(execute=True):
        leads = [actions.do_create_record("leads", {"last_name": f"Walk-in {i}"}, actor=sally) for i in range(4)]
    owners = {Lead.objects.get(pk=lead.pk).owner.username for lead in leads}
    assert len(owners) == 4 and owners <= {"sam", "sally", "sergio", "sofia"}  # round robin over the reps
    deal = Deal.objects.filter(org=org, owner__username="sally", ).exclude(stage__in=["won", "lost"]).first()
    with pytest.raises(PermissionDenied) as refused:
        actions.do_update_record(deal, {"discount": "45"}, version=version_of(deal), actor=sally)
    assert "30%" in str(refused.value) and refused.value.field == "discount"
