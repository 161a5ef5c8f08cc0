"""The review pages: the settings tab of a module's processes, the review queue, one record's
review and the verdicts from My Work; each from both sides and across orgs."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.actions import do_create_record
from reviews.models import ReviewCase, ReviewProcess
from tests.helpers import fresh, version_of

pytestmark = pytest.mark.django_db


def referral(rep, employee_field, name="Jane Employee", last_name="Referred Lead"):
    return do_create_record("leads", {"last_name": last_name, "source": "referral", employee_field.key: name},
                            actor=rep, path="page")


def case_of(lead) -> ReviewCase:
    return ReviewCase.objects.get(org_id=lead.org_id, module="leads", record_id=lead.pk)


# --- settings ---------------------------------------------------------------------------------------

def test_the_processes_tab_for_whoever_configures_the_module(client_for, admin_user, standard_user, referral_check,
                                                             other_org_user):
    url = reverse("reviews:processes", args=["leads"])
    html = client_for(admin_user).get(url).content.decode()
    assert 'data-testid="reviews-tab"' in html and "Referral check" in html and "Employee name" in html
    assert 'data-testid="reviews-tab"' in client_for(admin_user).get(
        reverse("automation:validation_rules", args=["leads"])).content.decode()
    assert client_for(standard_user).get(url).status_code == 404
    # Another org's administrator: their own leads' tab, but not this org's process.
    other = client_for(other_org_user)
    assert other.get(url).status_code == 200
    assert other.get(reverse("reviews:process_form", args=["leads"]), {"process": referral_check.pk}).status_code == 404
    assert other.post(reverse("reviews:process_active", args=["leads"]),
                      {"process": referral_check.pk, "active": "0"}).status_code == 404
    referral_check.refresh_from_db()
    assert referral_check.active


def test_creating_a_process_on_its_page(client_for, admin_user, roles, employee_field):
    client = client_for(admin_user)
    response = client.post(reverse("reviews:process_form", args=["leads"]), {
        "name": "Big companies", "active": "on", "paths": ["page", "import"], "fields_to_review": ["company"],
        "reviewer_roles": [roles[0].pk], "reviewer_owner": "on", "joiner": "all",
        "c0_field": "source", "c0_op": "eq", "c0_value": "referral"})
    assert response.status_code == 302, response.content.decode()[:2000]
    process = ReviewProcess.objects.get(org=admin_user.org, name="Big companies")
    assert process.paths == ["page", "import"] and process.fields == ["company"]
    assert process.reviewers == {"users": [], "roles": [roles[0].pk], "groups": [], "owner": True}
    assert process.criteria == {"all": [{"field": "source", "op": "eq", "value": "referral"}]}


def test_bad_process_input_is_named_and_writes_nothing(client_for, admin_user, employee_field):
    from crm.actions import do_create_field

    keys = [do_create_field(admin_user.org, "leads", api_name=f"extra_{n}", label_en=f"Extra {n}",
                            field_type="text", actor=admin_user).key for n in range(10)]
    response = client_for(admin_user).post(reverse("reviews:process_form", args=["leads"]), {
        "name": "Too much", "paths": ["page"], "fields_to_review": keys + [employee_field.key], "joiner": "all"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose at most 10 fields to review (this has 11)." in html
    assert "Name at least one reviewer" in html
    assert not ReviewProcess.objects.filter(name="Too much").exists()


# --- reviewing ----------------------------------------------------------------------------------------

def test_my_work_lists_the_review_and_approves_it_from_the_list(client_for, rep, manager, employee_field,
                                                               referral_check):
    lead = referral(rep, employee_field)
    client = client_for(manager)
    html = client.get(reverse("work:index")).content.decode()
    assert 'data-testid="work-section-reviews"' in html and "Referred Lead" in html and "Jane Employee" in html
    assert f'data-testid="mark-reviewed-{employee_field.key}"' in html
    assert 'data-testid="my-work-count">1<' in client.get(reverse("work:count")).content.decode()
    # The submitter has nothing to review.
    assert 'data-testid="work-section-reviews"' not in client_for(rep).get(reverse("work:index")).content.decode()
    response = client.post(reverse("reviews:verdict", args=["leads", lead.pk]),
                           {"verdict": "approve", "next": reverse("work:index")})
    assert response.status_code == 302 and response.url == reverse("work:index")
    assert case_of(lead).status == ReviewCase.Status.APPROVED
    assert 'data-testid="work-section-reviews"' not in client.get(reverse("work:index")).content.decode()


def test_rejecting_a_field_from_the_list(client_for, rep, manager, employee_field, referral_check):
    lead = referral(rep, employee_field)
    client = client_for(manager)
    url = reverse("reviews:verdict", args=["leads", lead.pk])
    client.post(url, {"verdict": "rejected", "field": employee_field.key, "reason": ""})
    assert case_of(lead).status == ReviewCase.Status.OPEN  # no reason: refused, nothing written
    client.post(url, {"verdict": "rejected", "field": employee_field.key, "reason": "Not one of ours"})
    case = case_of(lead)
    assert case.status == ReviewCase.Status.REJECTED
    assert case.verdicts[employee_field.key]["reason"] == "Not one of ours"
    page = client_for(rep).get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
    assert 'data-testid="review-panel" data-status="rejected"' in page and "Not one of ours" in page


def test_correcting_a_field_on_the_review_page(client_for, rep, manager, employee_field, referral_check):
    lead = referral(rep, employee_field, name="Jon")
    client = client_for(manager)
    page = client.get(reverse("reviews:record", args=["leads", lead.pk])).content.decode()
    assert f'data-testid="correct-{employee_field.key}"' in page
    response = client.post(reverse("reviews:verdict", args=["leads", lead.pk]), {
        "verdict": "corrected", "field": employee_field.key, employee_field.key: "John Smith",
        "version": version_of(lead)})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.custom[employee_field.key] == "John Smith"
    assert case_of(lead).status == ReviewCase.Status.APPROVED


def test_the_submitter_sees_the_review_but_has_no_controls(client_for, rep, manager, employee_field, referral_check):
    lead = referral(rep, employee_field)
    client = client_for(rep)
    page = client.get(reverse("reviews:record", args=["leads", lead.pk])).content.decode()
    assert 'data-testid="review-case" data-status="open"' in page
    assert "mark-reviewed" not in page and "approve-review" not in page
    detail = client.get(reverse("crm:detail", args=["leads", lead.pk])).content.decode()
    assert 'data-testid="review-panel" data-status="open"' in detail and 'data-testid="open-review"' not in detail
    assert "you can change it again once the review ends" in detail
    client.post(reverse("reviews:verdict", args=["leads", lead.pk]), {"verdict": "approve"})
    assert case_of(lead).status == ReviewCase.Status.OPEN


def test_out_of_lists_and_in_the_queue(client_for, rep, manager, admin_user, employee_field, referral_check):
    lead = referral(rep, employee_field, last_name="Hidden Referral")
    listed = client_for(rep).get(reverse("crm:list", args=["leads"])).content.decode()
    assert "Hidden Referral" not in listed
    assert "Hidden Referral" not in client_for(admin_user).get(reverse("crm:list", args=["leads"])).content.decode()
    queue = client_for(manager).get(reverse("reviews:queue")).content.decode()
    assert 'data-testid="queue-item"' in queue and "Hidden Referral" in queue
    mine = client_for(rep).get(reverse("reviews:queue")).content.decode()
    assert 'data-testid="my-submissions"' in mine and "Hidden Referral" in mine
    assert lead.pk


def test_who_cannot_see_the_record_cannot_reach_its_review(client_for, rep, other_rep, manager, employee_field,
                                                           referral_check, other_org_user):
    lead = referral(rep, employee_field)
    for outsider in (other_rep, other_org_user):  # leads are private; another org
        client = client_for(outsider)
        assert client.get(reverse("reviews:record", args=["leads", lead.pk])).status_code == 404
        assert client.post(reverse("reviews:verdict", args=["leads", lead.pk]),
                           {"verdict": "approve"}).status_code == 404
        html = client.get(reverse("reviews:queue")).content.decode()
        assert "Referred Lead" not in html
    assert case_of(lead).status == ReviewCase.Status.OPEN


def test_my_reviews_cost_the_same_however_many_records(client_for, rep, manager, employee_field, referral_check,
                                                       django_assert_max_num_queries):
    from reviews.work_sections import SHOWN

    for n in range(2):
        referral(rep, employee_field, last_name=f"Lead {n}")
    client = client_for(manager)
    client.get(reverse("work:index"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("work:index"))
    for n in range(2, SHOWN + 4):
        referral(fresh(rep), employee_field, last_name=f"Lead {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(reverse("work:index")).content.decode()
    assert html.count('data-testid="work-review"') == SHOWN
    assert 'data-testid="work-more-reviews"' in html


def test_review_pages_in_chinese(client_for, rep, manager, employee_field, referral_check):
    lead = referral(rep, employee_field)
    client = client_for(manager)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = client.get(reverse("reviews:record", args=["leads", lead.pk])).content.decode()
    assert "审核" in html and "推荐员工姓名" in html
