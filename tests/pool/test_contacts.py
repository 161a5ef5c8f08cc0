"""An account's contacts go into a pool with it and come back with it: recycled, released, moved
or returned on the owner's deactivation, the former owner's contacts of the account lose their
owner (another owner's stay put); the pool's members see them through the "Customer pool" grant,
with the pool's masked kinds of field (phone, e-mail) masked; whoever claims or is assigned the
account gets them, in the same transaction; each moved contact has the move on its timeline."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.actions import do_set_membership_active, do_set_org_default
from access.decisions import decide
from access.visibility import named_grants, visible
from crm import actions as crm_actions
from crm.models import Account, Contact, TimelineEntry
from crm.modules import get_module
from pool import actions
from pool.models import PoolMove
from pool.recycle_actions import do_save_recycle_policy, run_recycling
from tests.helpers import fresh
from tests.pool.conftest import make_pool

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
PHONE, SHOWN_PHONE = "13900001111", "139****1111"
EMAIL = "wang@donghai.example.cn"


@pytest.fixture
def nick(org, make_user):
    return make_user(org, username="nick")  # in no pool


@pytest.fixture
def east(org, admin_user, standard_user, sally):
    """Accounts and contacts private; an accounts pool masking the phone, Sam and Sally members."""
    for key in ("accounts", "contacts"):
        do_set_org_default(org, key, "private", actor=admin_user)
    return make_pool(admin_user, name="East accounts", module="accounts", members=[standard_user, sally])


def claimed_account(admin, sam, pool, name="Donghai Trading", phone="021 5555 1234"):
    account = crm_actions.do_create_record("accounts", {"name": name, "phone": phone}, actor=admin)
    actions.do_release_records("accounts", [account.pk], pool.pk, actor=admin, reason="New region")
    actions.do_claim_records("accounts", [account.pk], actor=fresh(sam))
    return Account.objects.get(pk=account.pk)


def contacts_of(admin, sam, olga, account):
    """Sam's contact of the account (phone, e-mail), Olga's contact of it, Sam's contact elsewhere."""
    mine = crm_actions.do_create_record("contacts", {"last_name": "Wang", "account": account.pk, "phone": PHONE,
                                                     "email": EMAIL}, actor=fresh(sam))
    theirs = crm_actions.do_create_record("contacts", {"last_name": "Li", "account": account.pk,
                                                       "phone": "13900002222"}, actor=admin, owner=olga)
    loose = crm_actions.do_create_record("contacts", {"last_name": "Zhao", "phone": "13900003333"}, actor=fresh(sam))
    return mine, theirs, loose


def owners(*contacts):
    return [Contact.objects.get(pk=c.pk).owner_id for c in contacts]


def kinds(contact):
    return list(TimelineEntry.objects.filter(record_id=contact.pk, record_type__model="contact")
                .order_by("pk").values_list("kind", "path"))


def entry_of(contact, kind):
    return TimelineEntry.objects.get(record_id=contact.pk, record_type__model="contact", kind=kind)


def test_recycling_takes_the_former_owners_contacts_and_a_claim_brings_them_back(
        admin_user, standard_user, other_user, sally, nick, east, client_for):
    with time_machine.travel(START, tick=False) as clock:
        do_save_recycle_policy(east, actor=admin_user, enabled=True, rules={"*": {"n": 10}})
        account = claimed_account(admin_user, standard_user, east)
        mine, theirs, loose = contacts_of(admin_user, standard_user, other_user, account)
        clock.shift(11 * DAY)
        assert run_recycling()["recycled"] == 1
    assert owners(mine, theirs, loose) == [None, other_user.pk, standard_user.pk]
    assert kinds(mine)[-1] == ("pool_recycled", "system")
    entry = entry_of(mine, "pool_recycled")
    assert entry.changes["owner"][0]["id"] == standard_user.pk and entry.changes["owner"][1] is None
    assert entry.changes["pool"] == [None, "East accounts"] and entry.changes["reason"][1]["days"] == 10
    assert Contact.objects.get(pk=mine.pk).version == 2
    assert not TimelineEntry.objects.filter(record_id__in=[theirs.pk, loose.pk], record_type__model="contact",
                                            kind__startswith="pool_").exists()

    contacts = get_module("contacts", sally.org)
    # A member sees the waiting contact through the pool's grant, its phone masked; the e-mail is
    # not masked (the pool masks no e-mail field of accounts); nobody else's contacts.
    seen = {c.pk: c for c in visible(fresh(sally), contacts)}
    assert set(seen) == {mine.pk}
    assert seen[mine.pk].phone == SHOWN_PHONE and seen[mine.pk].email == EMAIL
    assert "Customer pool" in [str(g.label) for g in named_grants(fresh(sally), contacts, "view")]
    page = client_for(sally).get(reverse("crm:detail", args=["contacts", mine.pk]))
    assert page.status_code == 200 and SHOWN_PHONE in page.content.decode() and PHONE not in page.content.decode()
    # Not a member: neither seen nor opened.
    assert not visible(fresh(nick), contacts).filter(pk=mine.pk).exists()
    assert client_for(nick).get(reverse("crm:detail", args=["contacts", mine.pk])).status_code == 404
    # The former owner is no member's exception: Sam is a member, he sees it masked like Sally.
    assert visible(fresh(standard_user), contacts).get(pk=mine.pk).phone == SHOWN_PHONE

    actions.do_claim_records("accounts", [account.pk], actor=fresh(sally))
    assert owners(mine, theirs, loose) == [sally.pk, other_user.pk, standard_user.pk]
    assert kinds(mine)[-1] == ("pool_claimed", "page")
    assert visible(fresh(sally), contacts).get(pk=mine.pk).phone == PHONE
    assert not visible(fresh(standard_user), contacts).filter(pk=mine.pk).exists()


def test_release_assign_move_and_change_owner_carry_the_contacts(admin_user, standard_user, other_user, sally,
                                                                  east):
    account = claimed_account(admin_user, standard_user, east)
    mine, theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Moved away")
    assert owners(mine, theirs) == [None, other_user.pk]
    entry = entry_of(mine, "pool_released")
    assert entry.changes["reason"] == [None, "Moved away"] and entry.actor_id == standard_user.pk

    # Moving the waiting account to another pool: its contacts stay ownerless and go with it.
    west = make_pool(admin_user, name="West accounts", module="accounts", members=[sally])
    actions.do_release_records("accounts", [account.pk], west.pk, actor=admin_user, reason="Wrong region")
    assert owners(mine) == [None]
    assert entry_of(mine, "pool_moved").changes["pool"] == [None, "West accounts"]
    assert visible(fresh(sally), get_module("contacts", sally.org)).filter(pk=mine.pk).exists()

    actions.do_assign_records("accounts", [account.pk], other_user.pk, actor=admin_user)
    assert owners(mine, theirs) == [other_user.pk, other_user.pk]
    assert kinds(mine)[-1] == ("pool_assigned", "page")

    # An administrator moves Olga's account into a pool: her contacts of it go; then an
    # administrator's "Change owner" of the waiting account gives them its new owner.
    actions.do_release_records("accounts", [account.pk], east.pk, actor=admin_user, reason="Reorganised")
    assert owners(mine, theirs) == [None, None]
    waiting = Account.objects.get(pk=account.pk)
    crm_actions.do_change_owner(waiting, sally.pk, version=waiting.version, actor=admin_user)
    assert owners(mine, theirs) == [sally.pk, sally.pk]
    assert kinds(mine)[-1] == ("owner_changed", "page")
    assert PoolMove.objects.filter(record_id=account.pk, module="accounts").count() == 7  # none for contacts


def test_a_deactivated_owners_contacts_go_with_their_accounts(admin_user, standard_user, other_user, east):
    east.release_on_deactivation = True
    east.save()
    account = claimed_account(admin_user, standard_user, east)
    mine, theirs, loose = contacts_of(admin_user, standard_user, other_user, account)
    do_set_membership_active(fresh(standard_user).membership, False, actor=admin_user)
    assert owners(mine, theirs, loose) == [None, other_user.pk, standard_user.pk]
    assert kinds(mine)[-1] == ("pool_deactivated", "system")


def test_contacts_do_not_count_against_the_capacity(admin_user, standard_user, other_user, sally, east):
    east.capacity = 1
    east.save()
    account = claimed_account(admin_user, standard_user, east)
    contacts_of(admin_user, standard_user, other_user, account)
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Too busy")
    actions.do_claim_records("accounts", [account.pk], actor=fresh(sally))  # one account, whatever its contacts
    assert Contact.objects.filter(owner=sally).count() == 1


def test_the_kinds_of_field_an_accounts_pool_masks_are_masked_on_its_contacts(
        admin_user, standard_user, other_user, sally, east, make_user):
    mail = crm_actions.do_create_field(admin_user.org, "accounts", api_name="mail", label_en="E-mail",
                                       field_type="email", actor=admin_user)
    mobile = crm_actions.do_create_field(admin_user.org, "contacts", api_name="mobile", label_en="Mobile",
                                         field_type="phone", actor=admin_user)
    east = make_pool(admin_user, name="East accounts", module="accounts", members=[standard_user, sally],
                     masked_fields=[mail.key], pool=east)
    account = claimed_account(admin_user, standard_user, east)
    mine, _theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    mine = crm_actions.do_update_record(Contact.objects.get(pk=mine.pk), {mobile.key: "13700009999"},
                                        version=mine.version, actor=fresh(standard_user))
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
    seen = visible(fresh(sally), get_module("contacts", sally.org)).get(pk=mine.pk)
    assert seen.email == "w***@donghai.example.cn" and seen.phone == PHONE and seen.custom[mobile.key] == "13700009999"
    east = make_pool(admin_user, name="East accounts", module="accounts", members=[standard_user, sally],
                     masked_fields=[mail.key, "phone"], pool=east)
    seen = visible(fresh(sally), get_module("contacts", sally.org)).get(pk=mine.pk)
    assert seen.phone == SHOWN_PHONE and seen.custom[mobile.key] == "137****9999"
    # Searching by a masked value does not find it; a pool administrator and an org administrator see it whole.
    client_q = visible(fresh(sally), get_module("contacts", sally.org))
    from crm.selectors import search

    assert not search(client_q, get_module("contacts", sally.org).bind(sally.org), "wang@donghai", fresh(sally)).exists()
    boss = make_user(admin_user.org, username="boss")
    make_pool(admin_user, name="East accounts", module="accounts", members=[standard_user, sally], admins=[boss],
              masked_fields=[mail.key, "phone"], pool=east)
    for user in (boss, admin_user):
        whole = visible(fresh(user), get_module("contacts", user.org)).get(pk=mine.pk)
        assert whole.phone == PHONE and whole.email == EMAIL, user
    with pytest.raises(Exception, match="masked"):
        seen.save()


def test_a_waiting_contact_is_worked_on_after_its_account_is_claimed(admin_user, standard_user, other_user, sally,
                                                                    nick, east):
    """Even where everyone may edit every contact, a waiting one is left alone (but by the
    administrators) until someone claims its account."""
    do_set_org_default(admin_user.org, "contacts", "public_read_write", actor=admin_user)
    account = claimed_account(admin_user, standard_user, east)
    mine, _theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
    waiting = Contact.objects.get(pk=mine.pk)
    for user in (sally, nick):
        decision = decide(fresh(user), waiting, "edit")
        assert not decision.allowed and "claim the account first" in decision.reason
        with pytest.raises(Exception, match="claim the account first"):
            crm_actions.do_update_record(waiting, {"title": "Buyer"}, version=waiting.version, actor=fresh(user))
        with pytest.raises(Exception, match="claim the account first"):
            crm_actions.do_change_owner(waiting, user.pk, version=waiting.version, actor=fresh(user))
    updated = crm_actions.do_update_record(waiting, {"title": "Buyer"}, version=waiting.version, actor=admin_user)
    assert updated.title == "Buyer" and updated.owner_id is None
    actions.do_claim_records("accounts", [account.pk], actor=fresh(sally))
    mine = Contact.objects.get(pk=mine.pk)
    assert crm_actions.do_update_record(mine, {"title": "CEO"}, version=mine.version, actor=fresh(sally)).title == "CEO"


def test_another_organisation_sees_none_of_them(admin_user, standard_user, other_user, east, other_org_user,
                                                 make_user, client_for):
    account = claimed_account(admin_user, standard_user, east)
    mine, _theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
    rep = make_user(other_org_user.org, username="globex-rep")
    make_pool(other_org_user, name="East accounts", module="accounts", members=[rep])
    globex_account = crm_actions.do_create_record("accounts", {"name": "Globex East"}, actor=other_org_user)
    globex_contact = crm_actions.do_create_record("contacts", {"last_name": "Kim", "account": globex_account.pk},
                                                  actor=other_org_user)
    globex_pool = [p for p in actions.Pool.objects.filter(org=other_org_user.org)][0]
    actions.do_release_records("accounts", [globex_account.pk], globex_pool.pk, actor=other_org_user, reason="Idle")
    assert Contact.objects.get(pk=globex_contact.pk).owner_id is None
    for user in (rep, other_org_user):
        assert set(visible(fresh(user), get_module("contacts", user.org)).values_list("pk", flat=True)) == {
            globex_contact.pk}, user
        assert client_for(user).get(reverse("crm:detail", args=["contacts", mine.pk])).status_code == 404
    # Acme's claim of its account hands over Acme's contacts only.
    actions.do_claim_records("accounts", [account.pk], actor=fresh(standard_user))
    assert owners(mine, globex_contact) == [standard_user.pk, None]
    # An account of another org is not found for the claim.
    with pytest.raises(PermissionDenied):
        actions.do_claim_records("accounts", [globex_account.pk], actor=fresh(standard_user))
    assert owners(globex_contact) == [None]


def test_pages_show_ownerless_contacts(admin_user, standard_user, other_user, sally, east, client_for):
    account = claimed_account(admin_user, standard_user, east)
    mine, _theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
    columns = "columns=last_name&columns=owner&columns=phone&columns=account"
    for user in (admin_user, sally):
        client = client_for(user)
        pages = {
            "list": reverse("crm:list", args=["contacts"]) + f"?{columns}",
            "list by owner": reverse("crm:list", args=["contacts"]) + f"?{columns}&owner={sally.pk}",
            "list sorted": reverse("crm:list", args=["contacts"]) + f"?{columns}&sort=-owner",
            "list searched": reverse("crm:list", args=["contacts"]) + "?q=Wang",
            "detail": reverse("crm:detail", args=["contacts", mine.pk]),
            "account": reverse("crm:detail", args=["accounts", account.pk]),
            "global search": reverse("crm:search") + "?q=Wang",
            "type-ahead": reverse("crm:lookup", args=["contacts"]) + "?q=Wang",
        }
        for name, url in pages.items():
            response = client.get(url)
            assert response.status_code == 200, (user, name)
            text = response.content.decode()
            if name not in ("list by owner",):
                assert "Wang" in text, (user, name)
            assert not re.search(r"[>·]\s*None\s*<", text), (user, name)  # an empty owner shows as a dash
        export = client.post(reverse("exports:export", args=["contacts"]), {"format": "csv"})
        assert export.status_code == 200
        text = b"".join(export.streaming_content).decode("utf-8-sig")
        assert "Wang" in text and (PHONE in text) == (user == admin_user), user


def test_an_archive_restores_waiting_contacts_with_their_account(admin_user, standard_user, other_user, east,
                                                                 tmp_path):
    from django.core.management import call_command

    from access.models import Organization

    account = claimed_account(admin_user, standard_user, east)
    mine, theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
    archive = tmp_path / "acme.zip"
    call_command("export_org", str(admin_user.org.pk), str(archive))
    call_command("import_org", str(archive), name="Acme restored")
    copy = Organization.objects.get(name="Acme restored")
    restored = {c.last_name: c for c in Contact.objects.filter(org=copy).select_related("account")}
    assert restored["Wang"].owner_id is None and restored["Li"].owner_id is not None
    pool = actions.Pool.objects.get(org=copy, name="East accounts")
    assert restored["Wang"].account.pool_id == pool.pk and restored["Wang"].account.owner_id is None


def test_a_members_contacts_list_costs_the_same_for_more_waiting_contacts(admin_user, standard_user, sally, east,
                                                                          client_for):
    """The masks read a page's accounts' pools in one query, the guards' preloader likewise."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(sally)
    url = reverse("crm:list", args=["contacts"]) + "?columns=last_name&columns=phone&columns=owner"
    counts = []
    for batch in (2, 6):
        account = claimed_account(admin_user, standard_user, east, name=f"Batch {batch}", phone=f"021 5555 000{batch}")
        for i in range(batch):
            crm_actions.do_create_record("contacts", {"last_name": f"Waiting{batch}-{i}", "account": account.pk,
                                                      "phone": f"1390000{batch}{i:03d}"}, actor=fresh(standard_user))
        actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
        client.get(url)  # warm the caches
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url).content.decode()
        assert f"Waiting{batch}-0" in page and "139****" in page
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_rules_leave_a_waiting_contact_alone(admin_user, standard_user, other_user, east):
    from automation.holds import AUTOMATION, PROCESSES, hold_reason

    account = claimed_account(admin_user, standard_user, east)
    mine, theirs, _loose = contacts_of(admin_user, standard_user, other_user, account)
    contacts = get_module("contacts", admin_user.org).bind(admin_user.org)
    assert hold_reason(contacts, Contact.objects.get(pk=mine.pk), AUTOMATION) is None
    actions.do_release_records("accounts", [account.pk], east.pk, actor=fresh(standard_user), reason="Leaving")
    assert "claim or assign the account" in hold_reason(contacts, Contact.objects.get(pk=mine.pk), AUTOMATION)
    assert hold_reason(contacts, Contact.objects.get(pk=theirs.pk), AUTOMATION) is None  # Olga's, owned
    assert hold_reason(contacts, Contact.objects.get(pk=mine.pk), PROCESSES) is None
