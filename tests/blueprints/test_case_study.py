"""Scenario: a Case Study blueprint in a team module (the marketing team's Case Studies), built by
the team's manager through the module schema like any org module: a requester asks, the
assignee starts and submits it for review, only the manager closes it as Done, and Done asks for
the deliverable file."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.decisions import decide
from blueprints import actions
from crm import actions as crm_actions
from crm.models import Attachment
from teams import actions as team_actions
from teams.models import TeamMember, TeamRecord
from teams.roles import forget

pytestmark = pytest.mark.django_db
STATUSES = [{"value": v, "label_en": l, "label_zh": z} for v, l, z in (
    ("requested", "Requested", "已请求"), ("in_progress", "In progress", "进行中"), ("review", "Review", "审核中"),
    ("done", "Done", "完成"))]


@pytest.fixture
def team(org, admin_user, make_user):
    mark, emily, mia, rep = (make_user(org, username=n) for n in ("mark", "emily", "mia", "rep"))
    space = team_actions.do_create_space(org, name_en="Marketing", manager_ids=[mark.pk], actor=admin_user)
    forget(mark)
    team_actions.do_set_team_member(space, emily.pk, TeamMember.Role.MEMBER, actor=mark)
    team_actions.do_set_team_member(space, mia.pk, TeamMember.Role.PARTICIPANT, actor=mark)
    module = team_actions.do_create_team_module(space, name_en="Case Studies", name_singular_en="Case study",
                                                statuses=STATUSES, done_statuses=["done"], actor=mark)
    team_actions.do_set_requesters(module, [rep.pk], actor=mark)
    bp = actions.do_create_blueprint(org, module.key, name="Case study", field="status", actor=mark)
    t = {
        "Start": actions.do_save_transition(bp, actor=mark, name="Start", from_states=["requested"],
                                            to_state="in_progress", owners={"team_roles": ["manager", "member"]}),
        "Submit": actions.do_save_transition(bp, actor=mark, name="Submit for review", from_states=["in_progress"],
                                             to_state="review", owners={"assignee": True}),
        "Done": actions.do_save_transition(bp, actor=mark, name="Done", from_states=["review"], to_state="done",
                                           owners={"team_roles": ["manager"]},
                                           during={"attachment": True, "note": False}),
        "Rework": actions.do_save_transition(bp, actor=mark, name="Rework", from_states=["review"],
                                             to_state="in_progress", owners={"team_roles": ["manager"]}),
    }
    actions.do_publish_blueprint(bp, actor=mark)
    for user in (mark, emily, mia, rep):
        forget(user)
    return {"mark": mark, "emily": emily, "mia": mia, "rep": rep, "module": module, "bp": bp, "t": t}


def status(record) -> str:
    return TeamRecord.objects.get(pk=record.pk).status


def test_the_case_study_goes_through_its_blueprint(team, client_for):
    mark, emily, mia, rep, t = team["mark"], team["emily"], team["mia"], team["rep"], team["t"]
    request = team_actions.do_submit_request(team["module"], {"title": "Northwind story"}, actor=rep)
    assert status(request) == "requested"
    # The requester and a participant own no transition; the member does.
    assert not decide(rep, request, "transition", {"transition": t["Start"]}).allowed
    with pytest.raises(PermissionDenied):
        actions.do_transition(request, t["Start"], actor=rep)
    request = team_actions.do_assign(request, emily.pk, version=request.version, actor=mark)
    actions.do_transition(request, t["Start"], actor=emily)
    # The status cannot be set by hand, even by the manager.
    with pytest.raises(PermissionDenied, match="moves only through"):
        crm_actions.do_update_record(TeamRecord.objects.get(pk=request.pk), {"status": "done"},
                                     version=TeamRecord.objects.get(pk=request.pk).version, actor=mark)
    actions.do_transition(request, t["Submit"], actor=emily)
    assert status(request) == "review"
    # Done is the manager's, and asks for the file.
    assert not decide(emily, TeamRecord.objects.get(pk=request.pk), "transition", {"transition": t["Done"]}).allowed
    with pytest.raises(crm_actions.RecordValidationError) as refused:
        actions.do_transition(request, t["Done"], actor=mark)
    assert "attachment" in refused.value.message_dict and status(request) == "review"
    url = reverse("blueprints:transition", args=[team["module"].key, request.pk]) + f"?transition={t['Done'].pk}"
    page = client_for(mark).get(url)
    assert page.status_code == 200 and 'type="file"' in page.content.decode()
    done = client_for(mark).post(url, {"attachment": SimpleUploadedFile("northwind.md", b"# Northwind")})
    assert done.status_code == 302
    assert status(request) == "done"
    assert Attachment.objects.filter(record_id=request.pk, name="northwind.md").exists()


def test_the_team_manager_configures_and_a_member_may_not(team, client_for):
    module = team["module"]
    assert client_for(team["mark"]).get(reverse("blueprints:list", args=[module.key])).status_code == 200
    assert client_for(team["emily"]).get(reverse("blueprints:list", args=[module.key])).status_code == 404
    with pytest.raises(PermissionDenied):
        actions.do_create_blueprint(module.org, module.key, name="Mine", field="status", actor=team["emily"])
    editor = client_for(team["mark"]).get(reverse("blueprints:editor", args=[team["bp"].pk]))
    assert editor.status_code == 200 and 'data-testid="blueprint-diagram"' in editor.content.decode()
