"""File fields under the processes that guard record writes: a blueprint transition that asks for
the deliverable (a file field) takes the upload on its form; a record waiting for approval keeps its
file (the freeze refuses a replacement) until the approval is decided."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from access.actions import do_set_org_default
from approvals.actions import do_save_approval_process, do_submit_for_approval
from blueprints import actions as bp_actions
from crm import actions
from crm.models import Attachment, Deal, TimelineEntry
from teams import actions as team_actions
from teams.models import TeamMember, TeamRecord
from teams.roles import forget
from tests.helpers import version_of

pytestmark = pytest.mark.django_db
STATUSES = [{"value": "requested", "label_en": "Requested"}, {"value": "in_progress", "label_en": "In progress"},
            {"value": "done", "label_en": "Done"}]


@pytest.fixture
def team(org, admin_user, make_user):
    mark, emily, rep = (make_user(org, username=n) for n in ("mark", "emily", "rep"))
    space = team_actions.do_create_space(org, name_en="Marketing", manager_ids=[mark.pk], actor=admin_user)
    forget(mark)
    team_actions.do_set_team_member(space, emily.pk, TeamMember.Role.MEMBER, actor=mark)
    module = team_actions.do_create_team_module(space, name_en="Case Studies", statuses=STATUSES, actor=mark)
    deliverable = actions.do_create_field(org, module.key, api_name="deliverable", label_en="Deliverable",
                                          field_type="file", shown_to_requesters=True, actor=mark)
    team_actions.do_set_requesters(module, [rep.pk], actor=mark)
    bp = bp_actions.do_create_blueprint(org, module.key, name="Case study", field="status", actor=mark)
    start = bp_actions.do_save_transition(bp, actor=mark, name="Start", from_states=["requested"],
                                          to_state="in_progress", owners={"assignee": True})
    done = bp_actions.do_save_transition(bp, actor=mark, name="Done", from_states=["in_progress"], to_state="done",
                                         owners={"assignee": True},
                                         during={"fields": [{"key": deliverable.key, "required": True}]})
    bp_actions.do_publish_blueprint(bp, actor=mark)
    for user in (mark, emily, rep):
        forget(user)
    story = team_actions.do_submit_request(module, {"title": "Northwind story"}, actor=rep)
    story = team_actions.do_assign(story, emily.pk, version=story.version, actor=mark)
    bp_actions.do_transition(story, start, actor=emily)
    return {"emily": emily, "rep": rep, "module": module, "deliverable": deliverable, "done": done, "story": story}


def test_a_transition_asks_for_the_deliverable_file(team, client_for):
    module, story, key = team["module"], team["story"], team["deliverable"].key
    url = reverse("blueprints:transition", args=[module.key, story.pk]) + f"?transition={team['done'].pk}"
    client = client_for(team["emily"])
    form = client.get(url)
    assert form.status_code == 200 and f'name="{key}"' in form.content.decode()

    # Without the file the transition is refused, by name, and nothing changes.
    refused = client.post(url, {})
    assert refused.status_code == 400 and TeamRecord.objects.get(pk=story.pk).status == "in_progress"
    assert not Attachment.objects.filter(record_id=story.pk).exists()

    # With it, the case study is done and the requester can download the file.
    assert client.post(url, {key: SimpleUploadedFile("story.md", b"# Northwind")}).status_code == 302
    record = TeamRecord.objects.get(pk=story.pk)
    assert record.status == "done" and record.data[key]["name"] == "story.md"
    entry = TimelineEntry.objects.filter(record_id=story.pk, kind="updated").order_by("-pk").first()
    assert entry.changes[key][1]["name"] == "story.md" and entry.path.startswith("blueprint")
    download = client_for(team["rep"]).get(reverse("crm:field_file", args=[module.key, story.pk, key]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"# Northwind"


def test_a_record_awaiting_approval_keeps_its_file(org, admin_user, standard_user):
    do_set_org_default(org, "deals", "public_read", actor=admin_user)
    contract = actions.do_create_field(org, "deals", api_name="contract", label_en="Contract", field_type="file",
                                       actor=admin_user)
    deal = actions.do_create_record("deals", {"name": "Northwind", "contract": SimpleUploadedFile("v1.pdf", b"1")},
                                    actor=standard_user)
    # Before it is submitted, its owner replaces the file.
    deal = actions.do_update_record(deal, {"contract": SimpleUploadedFile("v2.pdf", b"2")}, version=version_of(deal),
                                    actor=standard_user)
    process = do_save_approval_process(org, "deals", name="Sign-off", trigger="button", actor=admin_user,
                                       levels=[{"rule": "any", "approvers": {"users": [admin_user.pk]}}])
    do_submit_for_approval(Deal.objects.get(pk=deal.pk), actor=standard_user, process=process)
    # While it waits, the owner may neither replace nor clear it.
    for value in (SimpleUploadedFile("v3.pdf", b"3"), None):
        with pytest.raises(PermissionDenied):
            actions.do_update_record(Deal.objects.get(pk=deal.pk), {"contract": value}, version=version_of(deal),
                                     actor=standard_user)
    assert Deal.objects.get(pk=deal.pk).custom[contract.key]["name"] == "v2.pdf"
    assert Attachment.objects.filter(record_id=deal.pk, field_key=contract.key).count() == 1
