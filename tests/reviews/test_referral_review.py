"""The referral review, end to end: a rep enters a lead whose source is Referral; the employee's
name must be reviewed by a sales manager. Under review the lead is out of lists (in the review
queue), locked for the rep, and held from automation; the manager rejects, the rep fixes and
resubmits, the manager corrects and the review ends; automation then runs on the lead once."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from access.decisions import GuardRefusal, decide
from access.visibility import get_record, visible
from automation import pipeline
from automation.holds import AUTOMATION, PROCESSES, hold_reason
from automation.models import Notification
from crm.actions import do_create_record, do_update_record
from crm.modules import get_module
from crm.timeline import for_record, label_paths
from reviews.actions import CORRECTED, REJECTED, REVIEWED, do_approve_review, do_review_field
from reviews.models import ReviewCase
from tests.helpers import fresh, version_of

pytestmark = pytest.mark.django_db


def leads(user):
    return get_module("leads", user.org).bind(user.org)


def new_referral(rep, employee_field, name="Jane Employee", **extra):
    data = {"last_name": "Referred Lead", "source": "referral", employee_field.key: name, **extra}
    return do_create_record("leads", data, actor=rep, path="page")


def case_of(lead) -> ReviewCase:
    return ReviewCase.objects.get(org_id=lead.org_id, module="leads", record_id=lead.pk)


def told(user, lead) -> list[dict]:
    return [n.params for n in Notification.objects.filter(recipient=user, module="leads", record_id=lead.pk)
            .order_by("pk")]


def test_the_referral_review_from_entry_to_approval(
        rep, manager, admin_user, employee_field, referral_check, monkeypatch, django_capture_on_commit_callbacks):
    ran = []
    monkeypatch.setitem(pipeline._stages, "workflow", lambda event: ran.append((event.kind, event.path)))
    monkeypatch.setitem(pipeline._stages, "assignment", lambda event: ran.append(("assign", event.kind)))

    # 1. The rep enters the lead: it goes under review, reviewed by the sales manager.
    with django_capture_on_commit_callbacks(execute=True):
        lead = new_referral(rep, employee_field, name="Jane Emploee")
    case = case_of(lead)
    assert case.status == ReviewCase.Status.OPEN and case.reviewer_ids == [manager.pk]
    assert case.submitter_id == rep.pk and case.fields == [employee_field.key]
    assert told(manager, lead) and told(manager, lead)[0]["rule"] == "Referral check"
    assert "Employee name" in told(manager, lead)[0]["message_en"]
    assert ran == []  # held: no assignment or workflow rule ran on it

    # 2. Out of every ordinary list (the rep's and the manager's), still open by its page.
    assert not visible(rep, leads(rep)).filter(pk=lead.pk).exists()
    assert not visible(manager, leads(manager)).filter(pk=lead.pk).exists()
    assert get_record(rep, leads(rep), lead.pk).pk == lead.pk
    assert hold_reason(leads(rep), lead, AUTOMATION) and hold_reason(leads(rep), lead, PROCESSES)

    # 3. Locked for its submitter, with the reason; the manager cannot edit it by the page either.
    decision = decide(fresh(rep), lead, "edit")
    assert not decision.allowed and decision.guard == "review" and "review" in decision.reason
    with pytest.raises(GuardRefusal):
        do_update_record(lead, {"company": "Acme"}, version=version_of(lead), actor=fresh(rep))
    with pytest.raises(GuardRefusal):
        do_update_record(lead, {"company": "Acme"}, version=version_of(lead), actor=fresh(manager))

    # 4. The manager rejects the name: the record is rejected, the rep is told why.
    with django_capture_on_commit_callbacks(execute=True):
        do_review_field(case, employee_field.key, REJECTED, reason="Misspelt: Employee", actor=fresh(manager))
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.REJECTED
    assert "Misspelt" not in str(told(rep, lead))  # the reason is on the record, the notice names the field
    assert "Employee name" in told(rep, lead)[-1]["message_en"]
    assert not visible(rep, leads(rep)).filter(pk=lead.pk).exists()  # still not approved: still out of lists
    assert ran == []

    # 5. The rep may now fix it; saving resubmits it and the manager is told again.
    assert decide(fresh(rep), lead, "edit").allowed
    with django_capture_on_commit_callbacks(execute=True):
        do_update_record(lead, {employee_field.key: "Jane Employe"}, version=version_of(lead), actor=fresh(rep))
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.OPEN and case.rounds == 2 and case.verdicts == {}
    assert len(told(manager, lead)) == 2
    assert ran == []  # the rep's update is held too

    # 6. The manager corrects the last typo: the change is written through the record's actions,
    # by the review's path, and the review ends approved.
    with django_capture_on_commit_callbacks(execute=True):
        do_review_field(case, employee_field.key, CORRECTED, value="Jane Employee", version=version_of(lead),
                        actor=fresh(manager))
    case.refresh_from_db()
    lead.refresh_from_db()
    assert case.status == ReviewCase.Status.APPROVED and case.verdicts[employee_field.key]["verdict"] == CORRECTED
    assert lead.custom[employee_field.key] == "Jane Employee"
    assert "approved" in told(rep, lead)[-1]["message_en"]

    # 7. Back in the lists, editable by its owner, and automation runs once, on the "created" event
    # emitted again by the review.
    assert visible(rep, leads(rep)).filter(pk=lead.pk).exists()
    assert decide(fresh(rep), lead, "edit").allowed
    assert hold_reason(leads(rep), lead, AUTOMATION) is None
    review_path = f"review:{case.pk}"
    # The correction that ended the review committed with the approval, so its "updated" event is
    # no longer held when it is processed either; the "created" event comes once.
    assert ran == [("assign", "updated"), ("updated", review_path), ("assign", "created"), ("created", review_path)]

    # 8. The review log is on the record's timeline, its path named after the process.
    entries = list(for_record(lead))
    kinds = [e.kind for e in reversed(entries)]
    for kind in ("review_opened", "review_field_rejected", "review_rejected", "review_resubmitted",
                 "review_field_corrected", "review_approved"):
        assert kind in kinds
    label_paths(lead.org_id, entries)
    corrected = next(e for e in entries if e.kind == "updated" and e.path == review_path)
    assert corrected.path_label == "by review “Referral check”"
    assert corrected.changes[employee_field.key] == ["Jane Employe", "Jane Employee"]


def test_only_matching_records_through_listed_paths_go_under_review(rep, employee_field, referral_check):
    web = do_create_record("leads", {"last_name": "Web lead", "source": "web"}, actor=rep)
    imported = do_create_record("leads", {"last_name": "Imported", "source": "referral"}, actor=rep, path="import")
    by_rule = do_create_record("leads", {"last_name": "By rule", "source": "referral"}, actor=rep,
                               path="rule:workflow:1")
    assert not ReviewCase.objects.filter(record_id__in=[web.pk, imported.pk, by_rule.pk]).exists()
    assert visible(rep, leads(rep)).filter(pk__in=[web.pk, imported.pk, by_rule.pk]).count() == 3


def test_an_inactive_process_puts_nothing_under_review(rep, admin_user, employee_field, referral_check):
    from reviews.actions import do_set_review_process_active

    do_set_review_process_active(referral_check, False, actor=admin_user)
    lead = new_referral(rep, employee_field)
    assert not ReviewCase.objects.filter(record_id=lead.pk).exists()


# --- who may review: both sides -------------------------------------------------------------------

def test_only_a_named_reviewer_gives_verdicts(rep, other_rep, manager, admin_user, employee_field, referral_check):
    lead = new_referral(rep, employee_field)
    case = case_of(lead)
    for outsider in (other_rep, admin_user, rep):
        with pytest.raises(PermissionDenied):
            do_review_field(case, employee_field.key, REVIEWED, actor=fresh(outsider))
        with pytest.raises(PermissionDenied):
            do_approve_review(case, actor=fresh(outsider))
    assert case_of(lead).status == ReviewCase.Status.OPEN
    do_review_field(case, employee_field.key, REVIEWED, actor=fresh(manager))
    assert case_of(lead).status == ReviewCase.Status.APPROVED


def test_a_submitter_never_reviews_their_own_record(manager, employee_field, referral_check, admin_user):
    lead = new_referral(manager, employee_field)
    assert case_of(lead).reviewer_ids == [admin_user.pk]  # nobody else named: the administrators


def test_a_rejection_needs_a_reason_and_an_ended_review_takes_no_verdict(rep, manager, employee_field,
                                                                         referral_check):
    from django.core.exceptions import ValidationError

    lead = new_referral(rep, employee_field)
    case = case_of(lead)
    with pytest.raises(ValidationError) as refused:
        do_review_field(case, employee_field.key, REJECTED, reason="  ", actor=fresh(manager))
    assert "Employee name" in str(refused.value)
    with pytest.raises(ValidationError):
        do_review_field(case, "company", REVIEWED, actor=fresh(manager))
    do_approve_review(case, actor=fresh(manager))
    with pytest.raises(PermissionDenied):
        do_review_field(case, employee_field.key, REJECTED, reason="late", actor=fresh(manager))


def test_only_the_submitter_resubmits(rep, manager, admin_user, employee_field, referral_check):
    lead = new_referral(rep, employee_field)
    do_review_field(case_of(lead), employee_field.key, REJECTED, reason="wrong", actor=fresh(manager))
    do_update_record(lead, {"company": "By the admin"}, version=version_of(lead), actor=admin_user)
    assert case_of(lead).status == ReviewCase.Status.REJECTED
    do_update_record(lead, {"company": "By the rep"}, version=version_of(lead), actor=fresh(rep))
    assert case_of(lead).status == ReviewCase.Status.OPEN


def test_lists_of_modules_without_a_review_process_carry_no_review_branch(rep, employee_field, referral_check):
    contacts = get_module("contacts", rep.org).bind(rep.org)
    assert "reviews_reviewcase" not in str(visible(rep, contacts).query)
    assert "reviews_reviewcase" in str(visible(rep, leads(rep)).query)
    # One record asked for by id never carries it: its page opens while it is under review.
    assert "reviews_reviewcase" not in str(visible(rep, leads(rep), listing=False).query)
