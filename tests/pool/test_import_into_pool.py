"""Importing leads straight into a customer pool: who may, what the records look like after it
(no owner, waiting, history, masked for members), the door on the way in (refuse, merge, link),
and assignment rules leaving pooled records alone."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from automation import assignment_actions
from automation.holds import AUTOMATION, hold_reason
from automation.models import PendingEvent, RuleRun
from crm.actions import do_create_record
from crm.models import Lead, TimelineEntry
from crm.modules import get_module
from imports import actions as import_actions
from imports.models import ImportJob
from pool.models import Dedupe, PoolMove, PoolState, PossibleDuplicate
from tests.imports.conftest import confirm, dry_run, latest_job, outcomes, upload
from tests.pool.conftest import make_pool, waiting_leads
from tests.pool.test_door import set_mode

pytestmark = pytest.mark.django_db

CSV = ("Last name,Company,Phone,Email,Source\n"
       "王,星辰科技,13900001111,wang@example.cn,web\n"
       "李,浦江贸易,13900002222,li@example.cn,\n"
       "张,华光电子,13900003333,zhang@example.cn,web\n").encode()
COLUMNS = {"0": "last_name", "1": "company", "2": "phone", "3": "email", "4": "source"}


def into_pool(client, pool, content=CSV, **options) -> ImportJob:
    assert upload(client, "leads", "leads.csv", content).status_code == 302
    job = latest_job()
    options.setdefault("duplicates", "create")  # the door alone decides about duplicates here
    options.setdefault("match_fields", [])
    dry_run(client, job, COLUMNS, place=f"pool:{pool.pk}", **options)
    return job


def test_a_pool_administrator_imports_leads_into_the_pool(admin_user, sally, leads_pool, client_for):
    admin = client_for(admin_user)
    job = into_pool(admin, leads_pool)
    assert job.status == ImportJob.Status.CHECKED, job.error
    assert job.place == f"pool:{leads_pool.pk}"
    assert Lead.objects.count() == 0  # the dry run wrote nothing
    confirm(admin, job)
    assert (job.status, job.created_count, job.failed_count) == (ImportJob.Status.DONE, 3, 0)

    leads = list(Lead.objects.order_by("pk"))
    assert [(lead.owner_id, lead.pool_id) for lead in leads] == [(None, leads_pool.pk)] * 3
    assert PoolState.objects.filter(in_pool=True, pool=leads_pool).count() == 3
    # The importer never held them: no cool-down keeps them from claiming one.
    assert not PoolState.objects.filter(former_owner__isnull=False).exists()
    moves = PoolMove.objects.filter(kind=PoolMove.Kind.IMPORTED, pool=leads_pool)
    assert moves.count() == 3 and {m.from_user_id for m in moves} == {admin_user.pk} and moves[0].path == "import"
    assert set(TimelineEntry.objects.filter(record_id=leads[0].pk).values_list("kind", flat=True)) == {
        "created", "pool_imported"}
    # A member sees them in the pool, with the masked fields masked.
    page = client_for(sally).get(reverse("pool:list", args=[leads_pool.pk])).content.decode()
    assert "星辰科技" in page and "13900001111" not in page and "wang@example.cn" not in page


def test_who_is_no_pool_administrator_is_not_offered_the_pool_and_may_not_choose_it(
        admin_user, sally, leads_pool, client_for):
    rep = client_for(sally)
    assert upload(rep, "leads", "leads.csv", CSV).status_code == 302
    job = latest_job()
    page = rep.get(reverse("imports:mapping", args=[job.pk])).content.decode()
    assert "China East" not in page and 'name="place"' not in page
    with pytest.raises(ValidationError) as refused:
        import_actions.do_set_mapping(job, COLUMNS, duplicates="create", match_fields=[], day_first=True,
                                      all_or_nothing=False, actor=sally, place=f"pool:{leads_pool.pk}")
    assert refused.value.message_dict["place"] == ["Choose a place you may send new records to."]
    # A pool administrator who is not an organisation administrator is offered it.
    make_pool(admin_user, name="Shanghai", admins=[sally])
    page = rep.get(reverse("imports:mapping", args=[job.pk])).content.decode()
    assert "Shanghai" in page and "China East" not in page


def test_an_owner_column_and_a_pool_do_not_go_together(admin_user, leads_pool, client_for):
    admin = client_for(admin_user)
    assert upload(admin, "leads", "leads.csv", CSV).status_code == 302
    job = latest_job()
    with pytest.raises(ValidationError) as refused:
        import_actions.do_set_mapping(job, {**COLUMNS, "4": "owner"}, duplicates="create", match_fields=[],
                                      day_first=True, all_or_nothing=False, actor=admin_user,
                                      place=f"pool:{leads_pool.pk}")
    assert "Records put into a pool have no owner" in refused.value.message_dict["place"][0]


def test_the_door_refuses_a_row_like_a_waiting_lead_or_an_earlier_row(admin_user, leads_pool, client_for):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)  # phone 13800130000, zhang0@example.com
    content = CSV + "孙,新公司,+86 138 0013 0000,sun@example.cn,\n赵,另一家,13911112222,LI@example.cn ,\n".encode()
    admin = client_for(admin_user)
    job = into_pool(admin, leads_pool, content)
    rows = outcomes(job)
    assert rows[5][0] == "error" and f"duplicates #{waiting.pk}" in rows[5][1] and "claim that one instead" in rows[5][1]
    assert rows[6] == ("error", "Row 6 is the same customer as row 3 (same Email): keep one of them.")
    confirm(admin, job)
    assert (job.created_count, job.failed_count) == (3, 2)
    assert Lead.objects.filter(pool_id=leads_pool.pk, owner__isnull=True).count() == 4  # 3 new + the waiting one


def test_when_the_pool_merges_a_row_fills_the_waiting_leads_empty_fields(admin_user, leads_pool, client_for):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)  # no first name, no source
    set_mode(admin_user, leads_pool, Dedupe.MERGE)
    content = ("Last name,First name,Phone,Source,Company\n"
               "Other,Wei,138 0013 0000,web,Other Co\n").encode()
    admin = client_for(admin_user)
    assert upload(admin, "leads", "twin.csv", content).status_code == 302
    job = latest_job()
    dry_run(admin, job, {"0": "last_name", "1": "first_name", "2": "phone", "3": "source", "4": "company"},
            place=f"pool:{leads_pool.pk}", duplicates="create", match_fields=[])
    assert outcomes(job)[2][0] == "update"
    confirm(admin, job)
    assert (job.created_count, job.updated_count) == (0, 1)
    kept = Lead.objects.get(pk=waiting.pk)
    assert (kept.first_name, kept.source, kept.last_name, kept.company) == ("Wei", "web", waiting.last_name,
                                                                            waiting.company)
    assert kept.owner_id is None and kept.pool_id == leads_pool.pk
    assert Lead.objects.count() == 1
    import_actions.do_undo_import(job, actor=admin_user)  # the fill is undone like any update
    kept.refresh_from_db()
    assert (kept.first_name, kept.source) == ("", "")


def test_when_the_pool_links_the_row_enters_marked(admin_user, leads_pool, client_for):
    (waiting,) = waiting_leads(admin_user, leads_pool, 1)
    set_mode(admin_user, leads_pool, Dedupe.LINK)
    content = CSV + "孙,新公司,+86 138 0013 0000,sun@example.cn,\n".encode()
    admin = client_for(admin_user)
    job = into_pool(admin, leads_pool, content)
    confirm(admin, job)
    assert (job.created_count, job.failed_count) == (4, 0)
    twin = Lead.objects.get(last_name="孙")
    assert twin.pool_id == leads_pool.pk
    assert PossibleDuplicate.objects.filter(record_id=twin.pk, other_id=waiting.pk).count() == 1


def test_assignment_rules_leave_leads_waiting_in_a_pool_alone(admin_user, leads_pool, standard_user, client_for,
                                                             django_capture_on_commit_callbacks):
    rule = assignment_actions.do_create_assignment_rule(admin_user.org, "leads", name="All to Sam",
                                                        fallback_user_id=standard_user.pk, actor=admin_user)
    assignment_actions.do_activate_assignment_rule(rule, actor=admin_user)
    admin = client_for(admin_user)
    job = into_pool(admin, leads_pool)
    with django_capture_on_commit_callbacks(execute=True):  # the "created" events through the pipeline
        confirm(admin, job)
    assert job.created_count == 3
    assert list(Lead.objects.values_list("owner_id", flat=True).distinct()) == [None]
    assert not PendingEvent.objects.exists()  # the events were handled: the stages skipped the pooled leads
    assert not RuleRun.objects.filter(rule_id=rule.pk).exists()
    schema = get_module("leads", admin_user.org).bind(admin_user.org)
    assert "waiting in a customer pool" in hold_reason(schema, Lead.objects.first(), AUTOMATION)
    # An owned lead is assigned as before.
    with django_capture_on_commit_callbacks(execute=True):
        owned = do_create_record(schema, {"last_name": "Owned"}, actor=admin_user)
    assert Lead.objects.get(pk=owned.pk).owner_id == standard_user.pk
