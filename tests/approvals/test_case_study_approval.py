"""Scenario from the seeds' team: a case study moves through its blueprint; "Done" asks the assignee
for the deliverable and then submits the case study for the marketing manager's approval. While it
waits, nobody but an administrator changes it; the manager rejects it from My Work (the blueprint's
"Rework" takes it back to In progress), the assignee fixes it and asks again, and the manager
approves from My Work."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from access.decisions import decide
from approvals.actions import do_save_approval_process
from approvals.models import ApprovalRequest
from blueprints import actions as bp_actions
from crm import actions as crm_actions
from crm.models import TimelineEntry
from teams import actions as team_actions
from teams.models import TeamMember, TeamRecord
from teams.roles import forget

pytestmark = pytest.mark.django_db
STATUSES = [{"value": v, "label_en": l, "label_zh": z} for v, l, z in (
    ("requested", "Requested", "已请求"), ("in_progress", "In progress", "进行中"), ("done", "Done", "完成"))]


@pytest.fixture
def marketing(org, admin_user, make_user):
    mark, emily, rep = (make_user(org, username=n) for n in ("mark", "emily", "rep"))
    space = team_actions.do_create_space(org, name_en="Marketing", manager_ids=[mark.pk], actor=admin_user)
    forget(mark)
    team_actions.do_set_team_member(space, emily.pk, TeamMember.Role.MEMBER, actor=mark)
    module = team_actions.do_create_team_module(space, name_en="Case Studies", name_singular_en="Case study",
                                                statuses=STATUSES, done_statuses=["done"], actor=mark)
    team_actions.do_set_requesters(module, [rep.pk], actor=mark)
    bp = bp_actions.do_create_blueprint(org, module.key, name="Case study", field="status", actor=mark)
    start = bp_actions.do_save_transition(bp, actor=mark, name="Start", from_states=["requested"],
                                          to_state="in_progress", owners={"assignee": True})
    rework = bp_actions.do_save_transition(bp, actor=mark, name="Rework", from_states=["done"],
                                           to_state="in_progress", owners={"team_roles": ["manager"]})
    process = do_save_approval_process(
        org, module.key, name="Manager sign-off", trigger="button", actor=mark,
        levels=[{"rule": "any", "approvers": {"team_manager": True}}],
        on_reject=[{"type": "blueprint_transition", "blueprint": bp.key, "transition": rework.key}])
    done = bp_actions.do_save_transition(bp, actor=mark, name="Done", from_states=["in_progress"], to_state="done",
                                         owners={"assignee": True}, during={"attachment": True},
                                         after=[{"type": "submit_for_approval", "process": process.pk}])
    bp_actions.do_publish_blueprint(bp, actor=mark)
    for user in (mark, emily, rep):
        forget(user)
    return {"mark": mark, "emily": emily, "rep": rep, "module": module, "start": start, "done": done,
            "rework": rework}


def kinds(record, request):
    return list(TimelineEntry.objects.filter(record_id=record.pk, path=f"approval:{request.pk}")
                .order_by("pk").values_list("kind", flat=True))


def fresh(record):
    return TeamRecord.objects.get(pk=record.pk)


def pending(record):
    return ApprovalRequest.objects.filter(record_id=record.pk, status__in=("pending", "delegated")).first()


def deliver(client, module, record, transition, name):
    url = reverse("blueprints:transition", args=[module.key, record.pk]) + f"?transition={transition.pk}"
    with TestCase.captureOnCommitCallbacks(execute=True):  # "Done" submits for approval after its commit
        return client.post(url, {"attachment": SimpleUploadedFile(name, b"# Northwind story")})


def test_done_needs_the_file_and_the_managers_approval_from_my_work(marketing, client_for, admin_user):
    mark, emily, rep, module = marketing["mark"], marketing["emily"], marketing["rep"], marketing["module"]
    story = team_actions.do_submit_request(module, {"title": "Northwind story"}, actor=rep)
    story = team_actions.do_assign(story, emily.pk, version=story.version, actor=mark)
    bp_actions.do_transition(story, marketing["start"], actor=emily)

    # Done without the deliverable is refused and changes nothing.
    with pytest.raises(crm_actions.RecordValidationError) as refused:
        bp_actions.do_transition(fresh(story), marketing["done"], actor=emily)
    assert "attachment" in refused.value.message_dict
    assert fresh(story).status == "in_progress" and pending(story) is None

    # With it, the case study is done and waits for the manager.
    emily_client, mark_client = client_for(emily), client_for(mark)
    assert deliver(emily_client, module, story, marketing["done"], "v1.md").status_code == 302
    request = pending(story)
    assert fresh(story).status == "done" and request is not None and request.waiting_on == [mark.pk]

    # While it waits, the assignee may not change it (and is told why); an administrator may.
    verdict = decide(emily, fresh(story), "edit")
    assert not verdict.allowed and verdict.reason
    with pytest.raises(PermissionDenied):
        crm_actions.do_update_record(fresh(story), {"title": "Northwind (final)"}, version=fresh(story).version,
                                     actor=emily)
    assert decide(admin_user, fresh(story), "edit").allowed
    # The assignee cannot decide it either.
    assert emily_client.post(reverse("approvals:decide", args=[request.pk]),
                             {"decision": "approve"}).status_code in (302, 403, 404)
    assert pending(story) is not None

    # The manager finds it on My Work and rejects it with a comment: Rework takes it back.
    work = mark_client.get(reverse("work:index")).content.decode()
    assert "Northwind story" in work and reverse("approvals:decide", args=[request.pk]) in work
    mark_client.post(reverse("approvals:decide", args=[request.pk]),
                     {"decision": "reject", "comment": "Add the customer's quote", "next": reverse("work:index")})
    request.refresh_from_db()
    assert request.status == "rejected" and fresh(story).status == "in_progress"
    assert kinds(story, request) == ["approval_submitted", "approval_rejected"]

    # Fixed and delivered again; approved from My Work; then locked for everyone but administrators.
    crm_actions.do_update_record(fresh(story), {"title": "Northwind story (with quote)"},
                                 version=fresh(story).version, actor=emily)
    assert deliver(emily_client, module, story, marketing["done"], "v2.md").status_code == 302
    second = pending(story)
    assert second is not None and second.pk != request.pk
    assert reverse("approvals:decide", args=[second.pk]) in mark_client.get(reverse("work:index")).content.decode()
    mark_client.post(reverse("approvals:decide", args=[second.pk]),
                     {"decision": "approve", "comment": "", "next": reverse("work:index")})
    second.refresh_from_db()
    assert second.status == "approved" and fresh(story).status == "done"
    assert kinds(story, second) == ["approval_submitted", "approval_step_approved", "approval_approved"]
    # Approved: the assignee may change it again.
    crm_actions.do_update_record(fresh(story), {"title": "Northwind story (published)"},
                                 version=fresh(story).version, actor=emily)
    assert reverse("approvals:decide", args=[second.pk]) not in mark_client.get(reverse("work:index")).content.decode()
