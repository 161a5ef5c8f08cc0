"""A review process on a team module whose entry paths include the Requests tab: a request
submitted there that matches goes under review (out of the team's lists, in the manager's review
queue, locked for its requester, held from workflow rules, approvals and blueprints); the manager
rejects a field, the requester is told, fixes it from the Requests tab, which resubmits it; the
manager approves and the held automation runs once. A write by a path the process does not list
is not reviewed. Through the actions, and through the pages."""
from __future__ import annotations

import pytest
from django.urls import reverse

from access.decisions import GuardRefusal, decide
from access.visibility import get_record, visible
from automation.models import Notification, RuleRun
from crm.actions import do_create_field, do_create_record
from reviews.actions import REJECTED, do_approve_review, do_review_field
from reviews.models import ReviewCase
from reviews.selectors import open_cases_for_reviewer
from teams import actions as team_actions
from teams.models import TeamMember, TeamRecord
from teams.schema import schema_for
from tests.helpers import fresh, version_of

pytestmark = pytest.mark.django_db

STATUSES = [
    {"value": "requested", "label_en": "Requested", "label_zh": "已请求", "color": "#6c757d"},
    {"value": "in_progress", "label_en": "In progress", "label_zh": "进行中", "color": "#0d6efd"},
    {"value": "done", "label_en": "Done", "label_zh": "完成", "color": "#198754"},
]


@pytest.fixture
def team(org, admin_user, make_user):
    """Marketing (manager Mark, member Mia) takes Case Study requests from Rep (Sales) and Rhea."""
    mark, mia, rep, rhea = (make_user(org, username=name) for name in ("mark", "mia", "rep", "rhea"))
    space = team_actions.do_create_space(org, name_en="Marketing", name_zh="市场部", manager_ids=[mark.pk],
                                         actor=admin_user)
    team_actions.do_set_team_member(space, mia.pk, TeamMember.Role.MEMBER, actor=mark)
    module = team_actions.do_create_team_module(space, name_en="Case Studies", name_zh="案例研究", statuses=STATUSES,
                                                done_statuses=["done"], actor=mark)
    do_create_field(org, module.key, api_name="brief", label_en="Brief", label_zh="简介", field_type="long_text",
                    shown_to_requesters=True, actor=mark)
    team_actions.do_set_requesters(module, [rep.pk, rhea.pk], actor=mark)
    users = {name: fresh(user) for name, user in (("mark", mark), ("mia", mia), ("rep", rep), ("rhea", rhea))}
    return {"module": module, "schema": schema_for(module).bind(org), **users}


def brief(team) -> str:
    return team["schema"].field("brief").key


def review_process(team, paths=("request",)):
    from reviews.actions import do_create_review_process

    return do_create_review_process(team["mark"].org, team["module"].key, {
        "name": "Brief check", "paths": list(paths), "fields": [brief(team)],
        "reviewers": {"users": [team["mark"].pk]}, "active": True}, actor=team["mark"])


def submit(team, title="Northwind story", text="Cloud move", who="rep"):
    return team_actions.do_submit_request(team["module"], {"title": title, brief(team): text}, actor=team[who])


def case_of(record) -> ReviewCase | None:
    return ReviewCase.objects.filter(org_id=record.org_id, module=record.module.key, record_id=record.pk).first()


def told(user) -> list[dict]:
    return [n.params for n in Notification.objects.filter(recipient=user).order_by("pk")]


def listed(user, team, record) -> bool:
    return visible(user, team["schema"]).filter(pk=record.pk).exists()


def reload(record):
    return TeamRecord.objects.get(pk=record.pk)


# --- through the actions ------------------------------------------------------------------------------

def test_a_request_from_the_requests_tab_is_reviewed_then_fixed_resubmitted_and_approved(
        team, admin_user, django_capture_on_commit_callbacks):
    from approvals.actions import do_save_approval_process
    from approvals.models import ApprovalRequest
    from automation.workflow_rule_actions import do_create_workflow_rule, do_set_workflow_rule_active
    from blueprints import actions as bp_actions
    from blueprints.models import BlueprintRecord

    mark, rep, key = team["mark"], team["rep"], team["module"].key
    review_process(team)
    # What would take a new request up at once, were it not held by the review.
    rule = do_create_workflow_rule(mark.org, key, actor=mark, name="Welcome", trigger="create", criteria=None,
                                   actions=[{"type": "notify", "users": [mark.pk], "message": "New: {{title}}"}])
    do_set_workflow_rule_active(rule, True, actor=mark)
    do_save_approval_process(mark.org, key, name="Sign-off", trigger="create", actor=mark,
                             levels=[{"rule": "any", "approvers": {"team_manager": True}}])
    bp = bp_actions.do_create_blueprint(mark.org, key, name="Production", field="status", actor=mark)
    start = bp_actions.do_save_transition(bp, actor=mark, name="Start", from_states=["requested"],
                                          to_state="in_progress", owners={"team_roles": ["manager"]})
    bp_actions.do_publish_blueprint(bp, actor=mark)

    # 1. Submitted from the Requests tab: under review, reviewed by the manager, who is told.
    with django_capture_on_commit_callbacks(execute=True):
        story = submit(team, text="Cloud mvoe")
    case = case_of(story)
    assert case.status == ReviewCase.Status.OPEN and case.path == "request"
    assert case.submitter_id == rep.pk and case.reviewer_ids == [mark.pk] and case.fields == [brief(team)]
    assert any(p.get("rule") == "Brief check" for p in told(mark))
    # 2. Out of the team's lists (and the requester's), in the manager's queue; its page still opens.
    assert not listed(mark, team, story) and not listed(rep, team, story)
    assert [c.record_id for c in open_cases_for_reviewer(mark)] == [story.pk]
    assert get_record(rep, team["schema"], story.pk).pk == story.pk
    # 3. Locked for its requester (with the reason), held from the workflow rule, the approval
    #    process and the blueprint.
    decision = decide(rep, reload(story), "edit", path="request")
    assert not decision.allowed and "review" in decision.reason
    with pytest.raises(GuardRefusal):
        team_actions.do_update_request(reload(story), {brief(team): "Cloud move"}, version=version_of(story),
                                       actor=rep)
    assert not RuleRun.objects.filter(rule_kind="workflow", rule_id=rule.pk).exists()
    assert not ApprovalRequest.objects.filter(record_id=story.pk).exists()
    assert not BlueprintRecord.objects.filter(record_id=story.pk, module=key).exists()
    assert not decide(mark, reload(story), "transition", {"transition": start}).allowed

    # 4. The manager rejects the brief; the requester is told which field.
    with django_capture_on_commit_callbacks(execute=True):
        do_review_field(case, brief(team), REJECTED, reason="Typo: mvoe", actor=mark)
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.REJECTED
    assert any("rejected" in p.get("message_en", "") and "Brief" in p["message_en"] for p in told(rep))
    assert not listed(mark, team, story)  # still out of lists until approved

    # 5. The requester fixes it from the Requests tab: resubmitted, the manager is told again.
    with django_capture_on_commit_callbacks(execute=True):
        team_actions.do_update_request(reload(story), {brief(team): "Cloud move"}, version=version_of(story),
                                       actor=rep)
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.OPEN and case.rounds == 2 and case.verdicts == {}
    assert any("resubmitted" in p.get("message_en", "") for p in told(mark))

    # 6. Approved: in the lists again; the held workflow rule runs now, once.
    with django_capture_on_commit_callbacks(execute=True):
        do_approve_review(case, actor=mark)
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.APPROVED and any(p.get("message_en") == "approved" for p in told(rep))
    assert listed(mark, team, story) and listed(rep, team, story)
    [run] = RuleRun.objects.filter(rule_kind="workflow", rule_id=rule.pk)
    assert run.status == "done"
    assert sum("New: Northwind story" in p.get("message", "") for p in told(mark)) == 1
    assert decide(mark, reload(story), "transition", {"transition": start}).allowed  # the blueprint takes it up


def test_only_the_requests_tab_when_it_is_the_listed_path(team):
    review_process(team, paths=["request"])
    by_member = do_create_record(team["schema"], {"title": "Internal piece", brief(team): "x"}, actor=team["mia"],
                                 path="page")
    assert case_of(by_member) is None and listed(team["mia"], team, by_member)
    assert case_of(submit(team)) is not None


def test_a_request_is_not_reviewed_by_a_process_that_does_not_list_the_requests_tab(team):
    review_process(team, paths=["page", "import"])
    request = submit(team)
    assert case_of(request) is None and listed(team["mark"], team, request)
    by_member = do_create_record(team["schema"], {"title": "Internal piece", brief(team): "x"}, actor=team["mia"],
                                 path="page")
    assert case_of(by_member).status == ReviewCase.Status.OPEN


def test_only_the_requester_resubmits_and_only_the_reviewer_decides(team):
    review_process(team)
    story = submit(team)
    case = case_of(story)
    from django.core.exceptions import PermissionDenied

    for who in ("rep", "mia", "rhea"):
        with pytest.raises(PermissionDenied):
            do_review_field(case, brief(team), REJECTED, reason="no", actor=team[who])
    do_review_field(case, brief(team), REJECTED, reason="Too short", actor=team["mark"])
    # The manager's own change does not resubmit it (the requester resubmits).
    from crm.actions import do_update_record

    do_update_record(reload(story), {"title": "Renamed"}, version=version_of(story), actor=team["mark"])
    assert case_of(story).status == ReviewCase.Status.REJECTED
    team_actions.do_update_request(reload(story), {brief(team): "A longer brief"}, version=version_of(story),
                                   actor=team["rep"])
    assert case_of(story).status == ReviewCase.Status.OPEN


# --- through the pages ----------------------------------------------------------------------------

def test_the_review_of_a_request_through_the_pages(team, client_for):
    review_process(team)
    rep, mark = client_for(team["rep"]), client_for(team["mark"])
    response = rep.post(reverse("teams:request_new", args=[team["module"].pk]),
                        {"title": "Northwind story", brief(team): "Cloud mvoe"})
    assert response.status_code == 302
    story = TeamRecord.objects.get(title="Northwind story")
    assert case_of(story).status == ReviewCase.Status.OPEN and case_of(story).path == "request"
    edit_url = reverse("teams:request_edit", args=[team["module"].pk, story.pk])

    # The requester follows it on the Requests tab, marked, without a way to change it yet.
    tab = rep.get(reverse("teams:requests")).content.decode()
    assert "Northwind story" in tab and 'data-mark="review-open"' in tab and edit_url not in tab
    locked = rep.get(edit_url)
    assert locked.status_code == 403 and "you can change it again once the review ends" in locked.content.decode()
    refused = rep.post(edit_url, {"title": "Northwind story", brief(team): "sneaky", "version": story.version})
    assert refused.status_code == 400 and team["schema"].field("brief").get_value(reload(story)) == "Cloud mvoe"

    # Out of the team's list; in the manager's queue and My Work, with the badge.
    assert "Northwind story" not in mark.get(reverse("crm:list", args=[team["module"].key])).content.decode()
    assert "Northwind story" in mark.get(reverse("reviews:queue")).content.decode()
    assert 'data-testid="work-section-reviews"' in mark.get(reverse("work:index")).content.decode()

    # The manager rejects the brief with a reason.
    verdict_url = reverse("reviews:verdict", args=[team["module"].key, story.pk])
    mark.post(verdict_url, {"verdict": "rejected", "field": brief(team), "reason": "Typo: mvoe"})
    assert case_of(story).status == ReviewCase.Status.REJECTED

    # The requester sees why on the Requests tab and fixes it there: resubmitted.
    tab = rep.get(reverse("teams:requests")).content.decode()
    assert 'data-mark="review-rejected"' in tab and edit_url in tab
    page = rep.get(edit_url).content.decode()
    assert 'data-testid="review-panel" data-status="rejected"' in page and "Typo: mvoe" in page
    saved = rep.post(edit_url, {"title": "Northwind story", brief(team): "Cloud move", "version": reload(story).version})
    assert saved.status_code == 302 and saved.url == reverse("teams:requests")
    case = case_of(story)
    assert case.status == ReviewCase.Status.OPEN and case.rounds == 2
    assert team["schema"].field("brief").get_value(reload(story)) == "Cloud move"

    # The manager approves it from the queue: back in the team's list, unmarked on the tab.
    mark.post(verdict_url, {"verdict": "approve"})
    assert case_of(story).status == ReviewCase.Status.APPROVED
    assert "Northwind story" in mark.get(reverse("crm:list", args=[team["module"].key])).content.decode()
    tab = rep.get(reverse("teams:requests")).content.decode()
    assert "Northwind story" in tab and "data-mark=" not in tab


def test_nobody_else_reaches_a_request_s_change_page(team, client_for):
    review_process(team)
    story = submit(team)
    edit_url = reverse("teams:request_edit", args=[team["module"].pk, story.pk])
    for who in ("rhea", "mia", "mark"):  # another requester; team members are no requesters of the module
        assert client_for(team[who]).get(edit_url).status_code == 404, who
        assert client_for(team[who]).post(edit_url, {"title": "Hijacked", "version": story.version}).status_code == 404
    assert reload(story).title == "Northwind story"


def test_the_requests_tab_speaks_chinese(team, client_for):
    review_process(team)
    submit(team)
    client = client_for(team["rep"])
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    tab = client.get(reverse("teams:requests")).content.decode()
    assert "审核中" in tab  # "Under review"
