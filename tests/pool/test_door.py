"""Dedupe at the door: a record entering a pool by hand is compared with the records waiting in it
(and with the others entering with it) by normalised phone, e-mail and company name, and refused,
merged, linked or let in as the pool says; automatic entries are linked, never refused; an
import's rows get verdicts; another organisation's records never match; the candidates are read
through the door's indexes."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from crm import actions as crm_actions
from crm.models import Lead, TimelineEntry
from crm.modules import get_module
from dedupe.selectors import match_kind, normalise_values
from pool import actions, door
from pool.models import Dedupe, PoolMove, PossibleDuplicate
from tests.pool.conftest import make_pool, waiting_leads

pytestmark = pytest.mark.django_db


def leads(org):
    return get_module("leads", org).bind(org)


def new_lead(actor, **values):
    values.setdefault("last_name", "Newcomer")
    return crm_actions.do_create_record(leads(actor.org), values, actor=actor)


def release(actor, records, pool, reason="Not mine"):
    return actions.do_release_records(leads(actor.org), [r.pk for r in records], pool.pk, actor=actor, reason=reason)


def set_mode(admin, pool, mode):
    return actions.do_save_pool(admin.org, actor=admin, pool=pool, name=pool.name, module=pool.module,
                                masked_fields=pool.masked_fields, members={"users": list(pool.member_users.all())},
                                admins=list(pool.admins.all()), dedupe=mode)


# --- one normalisation -------------------------------------------------------------------------------

def test_the_door_normalises_as_the_duplicate_finder_does(admin_user):
    for key in ("leads", "accounts"):
        schema = get_module(key, admin_user.org).bind(admin_user.org)
        assert {k: match_kind(schema.field(k), key) for k in door.MATCH_FIELDS[key]} == door.MATCH_FIELDS[key]
    phones, companies = zip(*normalise_values(["phone", "company"], [
        ["+86 138-0013-8000", "0086 13800138000", "１３８ ００１３ ８０００", "(010) 6552 1234", "-"],
        ["北京星辰科技有限公司", "北京星辰科技集团有限公司", "Acme Co., Ltd.", "ＡＣＭＥ　Inc.", "公司"]]))
    assert phones[:3] == ("13800138000",) * 3 and phones[3] == "1065521234" and phones[4] == ""
    assert companies == ("北京星辰科技", "北京星辰科技", "acme", "acme", "")
    assert not door.usable("phone", "") and not door.usable("text", "n/a") and door.usable("text", "a@b.cn")


# --- refuse (the default) ----------------------------------------------------------------------------

def test_a_duplicate_is_refused_naming_the_record_waiting_whatever_its_format(admin_user, leads_pool):
    assert leads_pool.dedupe == Dedupe.REFUSE
    (waiting,) = waiting_leads(admin_user, leads_pool, 1, prefix="Star")  # phone 13800130000, zhang0@example.com
    by_phone = new_lead(admin_user, phone="+86 138-0013-0000", company="Elsewhere")
    by_mail = new_lead(admin_user, email="ZHANG0@Example.COM")
    by_company = new_lead(admin_user, company="ＳＴＡＲ　CO 0 有限公司")
    for twin, field in ((by_phone, "Phone"), (by_mail, "Email"), (by_company, "Company")):
        with pytest.raises(ValidationError, match=f"duplicates #{waiting.pk} .* waiting in the pool “China East” "
                                                  f"\\(same {field}\\): claim that one instead"):
            release(admin_user, [twin], leads_pool)
        assert Lead.objects.get(pk=twin.pk).owner_id == admin_user.pk  # nothing half-written
    stranger = new_lead(admin_user, phone="139 0000 0000", email="other@example.com", company="Other Ltd")
    release(admin_user, [stranger], leads_pool)
    assert Lead.objects.get(pk=stranger.pk).pool_id == leads_pool.pk


def test_two_duplicates_entering_together_are_refused_all_or_nothing(admin_user, leads_pool):
    one = new_lead(admin_user, last_name="One", phone="021-5555 1234")
    two = new_lead(admin_user, last_name="Two", phone="+86 21 5555 1234")
    alone = new_lead(admin_user, last_name="Alone", phone="021 7777 1234")
    with pytest.raises(ValidationError, match="Two duplicates One \\(same Phone\\): release one of them"):
        release(admin_user, [one, two, alone], leads_pool)
    assert not Lead.objects.filter(pk__in=[one.pk, two.pk, alone.pk], owner__isnull=True).exists()
    assert not PoolMove.objects.filter(record_id__in=[one.pk, two.pk, alone.pk]).exists()


def test_off_lets_a_duplicate_in(admin_user, leads_pool):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)
    set_mode(admin_user, leads_pool, Dedupe.OFF)
    twin = new_lead(admin_user, phone=waiting.phone)
    release(admin_user, [twin], leads_pool)
    assert Lead.objects.get(pk=twin.pk).pool_id == leads_pool.pk
    assert not PossibleDuplicate.objects.exists()


# --- another organisation ----------------------------------------------------------------------------

def test_a_record_of_another_organisation_never_matches(admin_user, leads_pool, other_org_user):
    theirs_pool = make_pool(other_org_user, name="Globex pool")
    (theirs,) = waiting_leads(other_org_user, theirs_pool, 1)  # same phone, e-mail, company as ours below
    mine = new_lead(admin_user, phone=theirs.phone, email=theirs.email, company=theirs.company)
    release(admin_user, [mine], leads_pool)
    assert Lead.objects.get(pk=mine.pk).pool_id == leads_pool.pk
    with pytest.raises(ValueError):  # the rows' module must be the pool's organisation's
        door.check_entry(leads(admin_user.org), [mine], theirs_pool, admin_user)


# --- link --------------------------------------------------------------------------------------------

def test_link_lets_it_in_and_marks_both_records(admin_user, sally, leads_pool, client_for):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)
    set_mode(admin_user, leads_pool, Dedupe.LINK)
    twin = new_lead(admin_user, last_name="Twin", email="Zhang0@example.com", phone="138 0013 0000")
    release(admin_user, [twin], leads_pool)
    assert Lead.objects.get(pk=twin.pk).pool_id == leads_pool.pk
    pair = PossibleDuplicate.objects.get()
    assert (pair.record_id, pair.other_id, sorted(pair.fields)) == (twin.pk, waiting.pk, ["email", "phone"])
    for record, other in ((twin, waiting), (waiting, twin)):
        entry = TimelineEntry.objects.get(record_id=record.pk, kind="pool_possible_duplicate")
        assert entry.changes["duplicate_of"][1]["id"] == other.pk
    page = client_for(sally).get(reverse("pool:list", args=[leads_pool.pk])).content.decode()
    assert page.count('data-testid="pool-row-duplicate"') == 2
    assert reverse("crm:detail", args=["leads", waiting.pk]) in page
    record_page = client_for(admin_user).get(reverse("crm:detail", args=["leads", twin.pk])).content.decode()
    assert 'data-testid="pool-duplicate"' in record_page and f"#{waiting.pk}</a>" in record_page
    assert "Marked as a possible duplicate" in record_page
    # Deleted, the other record is no longer pointed at.
    crm_actions.do_delete_record(Lead.objects.get(pk=waiting.pk), version=Lead.objects.get(pk=waiting.pk).version,
                                 actor=admin_user)
    record_page = client_for(admin_user).get(reverse("crm:detail", args=["leads", twin.pk])).content.decode()
    assert 'data-testid="pool-duplicate"' not in record_page


def test_automatic_entries_are_linked_never_refused(admin_user, sally, make_user):
    from access.actions import do_set_membership_active

    pool = make_pool(admin_user, members=[sally], release_on_deactivation=True)
    assert pool.dedupe == Dedupe.REFUSE
    (waiting,) = waiting_leads(admin_user, pool, 1)
    leaver = make_user(admin_user.org, username="leo")
    lead = new_lead(leaver, phone=waiting.phone)
    do_set_membership_active(leaver.membership, False, actor=admin_user)
    assert Lead.objects.get(pk=lead.pk).pool_id == pool.pk
    assert PossibleDuplicate.objects.filter(record_id=lead.pk, other_id=waiting.pk).exists()
    # An automatic entry into a pool that merges is linked too (nobody is there to choose).
    set_mode(admin_user, pool, Dedupe.MERGE)
    verdicts = door.check_entry(leads(admin_user.org), [{"phone": waiting.phone}], pool, None, automatic=True)
    assert verdicts[0].outcome == door.LINK


# --- merge -------------------------------------------------------------------------------------------

def test_merge_keeps_the_existing_record_and_fills_its_blanks(admin_user, leads_pool, client_for):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)  # has phone, e-mail, company; no first name
    set_mode(admin_user, leads_pool, Dedupe.MERGE)
    twin = new_lead(admin_user, first_name="Wei", last_name="Other name", phone="+86 138 0013 0000",
                    source="web")
    response = client_for(admin_user).post(reverse("pool:release"), {
        "module": "leads", "ids": [twin.pk], "pool": leads_pool.pk, "reason": "Duplicate",
        "next": reverse("crm:detail", args=["leads", twin.pk])})
    assert response.status_code == 302 and response.url == reverse("crm:detail", args=["leads", waiting.pk])
    survivor = Lead.objects.get(pk=waiting.pk)
    assert survivor.last_name == waiting.last_name and survivor.first_name == "Wei" and survivor.source == "web"
    assert survivor.owner_id is None and survivor.pool_id == leads_pool.pk  # still waiting
    gone = Lead._base_manager.get(pk=twin.pk)
    assert gone.deleted_at is not None and gone.owner_id == admin_user.pk  # in the recycle bin, never in the pool
    assert not PoolMove.objects.filter(record_id=twin.pk).exists()
    assert TimelineEntry.objects.filter(record_id=waiting.pk, kind="merged").exists()


def test_a_rep_may_not_merge_into_a_waiting_record_and_hears_why(admin_user, sally, leads_pool):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)
    set_mode(admin_user, leads_pool, Dedupe.MERGE)
    mine = new_lead(sally, phone=waiting.phone)
    # A member sees the waiting record but may not edit it: the merge is refused with the reason.
    with pytest.raises(ValidationError, match=f"duplicates #{waiting.pk} .*the pool merges duplicates, but you may "
                                              "not merge them: “Lead0”: You do not have permission"):
        release(sally, [mine], leads_pool)
    assert Lead.objects.get(pk=mine.pk).owner_id == sally.pk and Lead.objects.get(pk=mine.pk).deleted_at is None
    assert not TimelineEntry.objects.filter(record_id=waiting.pk, kind="merged").exists()
    # An administrator may: moving her record into the pool merges it.
    rows = release(admin_user, [mine], leads_pool)
    assert rows[0].merged_into.pk == waiting.pk
    assert Lead._base_manager.get(pk=mine.pk).deleted_at is not None


def test_merge_within_the_batch_keeps_the_first_and_lets_it_in(admin_user, leads_pool):
    set_mode(admin_user, leads_pool, Dedupe.MERGE)
    first = new_lead(admin_user, last_name="First", email="li@example.cn")
    second = new_lead(admin_user, last_name="Second", email="LI@EXAMPLE.CN", phone="13912345678")
    rows = release(admin_user, [first, second], leads_pool)
    assert [getattr(r, "merged_into", None) and r.merged_into.pk for r in rows] == [None, first.pk]
    kept = Lead.objects.get(pk=first.pk)
    assert kept.pool_id == leads_pool.pk and kept.owner_id is None and kept.phone == "13912345678"
    assert kept.version == first.version + 2  # the merge's edit, then the move: no version lost
    assert Lead._base_manager.get(pk=second.pk).deleted_at is not None


# --- an import's rows ---------------------------------------------------------------------------------

def test_check_entry_gives_verdicts_for_rows_not_saved_yet(admin_user, leads_pool, django_assert_max_num_queries):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)
    rows = [{"phone": "１３８-0013-0000"}, {"email": "new@example.com"}, {"email": "NEW@example.com "},
            {"company": "Fresh Ltd"}, {"phone": "-", "email": "n/a"}]
    schema = leads(admin_user.org)
    assert schema.fields  # the module's fields, read once
    with django_assert_max_num_queries(2):  # the normalised values, the waiting look-alikes
        verdicts = door.check_entry(schema, rows, leads_pool, admin_user)
    assert [v.outcome for v in verdicts] == ["refuse", "enter", "refuse", "enter", "enter"]
    assert verdicts[0].matches[0].record.pk == waiting.pk and "claim that one instead" in verdicts[0].reason
    assert verdicts[2].matches[0].index == 1 and verdicts[2].reason.startswith("Row 3 duplicates Row 2")
    set_mode(admin_user, leads_pool, Dedupe.MERGE)
    verdicts = door.check_entry(leads(admin_user.org), rows, leads_pool, admin_user)
    assert (verdicts[0].outcome, verdicts[0].into.pk) == ("merge", waiting.pk)
    assert (verdicts[2].outcome, verdicts[2].into, verdicts[2].into_index) == ("merge", None, 1)
    assert Lead.objects.filter(org=admin_user.org).count() == 1  # nothing written


# --- the settings page ---------------------------------------------------------------------------------

def test_the_pool_form_sets_the_choice_for_administrators_only(admin_user, sally, leads_pool, client_for):
    url = reverse("pool:edit", args=[leads_pool.pk])
    assert client_for(sally).get(url).status_code in (403, 404)
    admin = client_for(admin_user)
    page = admin.get(url).content.decode()
    assert 'name="dedupe" value="merge"' in page and "Duplicates at the door" in page
    data = {"name": "China East", "module": "leads", "member_users": [sally.pk], "dedupe": "link"}
    assert admin.post(url, data).status_code == 302
    leads_pool.refresh_from_db()
    assert leads_pool.dedupe == Dedupe.LINK
    assert "Let it in, marked as a possible duplicate" in admin.get(reverse("pool:settings")).content.decode()
    response = admin.post(url, {**data, "dedupe": "shrug"})
    assert response.status_code == 400 and "shrug" in response.content.decode()
    leads_pool.refresh_from_db()
    assert leads_pool.dedupe == Dedupe.LINK
    with pytest.raises(ValidationError, match="Choose what happens to a duplicate"):
        set_mode(admin_user, leads_pool, "shrug")


# --- the indexes -----------------------------------------------------------------------------------------

def test_the_candidates_are_read_through_the_door_indexes(admin_user, leads_pool):
    """With a pool of some size and fresh statistics the planner reads the door's indexes (one
    range per value), not the pool's rows."""
    Lead.objects.bulk_create([Lead(org=admin_user.org, pool_id=leads_pool.pk, last_name=f"L{i}", phone=f"137{i:08d}",
                                   email=f"p{i}@example.com", company=f"Firm {i} 有限公司") for i in range(5000)])
    schema = leads(admin_user.org)
    rows = [{"phone": f"+86 137 {i:08d}", "email": f"P{i}@example.com", "company": f"Firm {i}"} for i in range(5)]
    sql, params = door.waiting_query(schema, leads_pool, door._keys(schema, rows), [])[:door.MAX_CANDIDATES] \
        .query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_lead")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    for name in ("lead_door_phone", "lead_door_email", "lead_door_company"):
        assert name in plan, plan
    assert "Seq Scan" not in plan
    verdicts = door.check_entry(schema, rows, leads_pool, admin_user)
    assert all(v.outcome == "refuse" and v.matches[0].fields == ["phone", "email", "company"] for v in verdicts)
