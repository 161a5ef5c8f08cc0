"""Kanban board and chart: visibility, moves through the record action, lazy columns,
query budgets, chart sums and one-click assignment."""
from __future__ import annotations

import html
import re
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.actions import do_set_org_default
from crm import actions
from crm.board_views import CARDS_PER_PAGE
from crm.models import Deal, TimelineEntry
from teams.actions import do_submit_request
from teams.models import TeamRecord
from tests.helpers import version_of

pytestmark = pytest.mark.django_db


# --- helpers -------------------------------------------------------------------------

def new(schema, actor, title, **data):
    return actions.do_create_record(schema, {"title": title, **data}, actor=actor)


def card_ids(content: bytes) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-pk="(\d+)"', content.decode())]


def column_counts(content: bytes) -> dict[str, int]:
    return {value: int(n) for value, n in re.findall(r'data-count-for="([^"]*)"[^>]*>(\d+)<', content.decode())}


def kanban(client, key, **query):
    return client.get(reverse("crm:kanban", args=[key]), query)


def move(client, record, value, version=None, field="status", key=None):
    key = key or record.MODULE_KEY
    version = record.version if version is None else version
    return client.post(reverse("crm:kanban_move", args=[key, record.pk]),
                       {"field": field, "value": value, "version": version})


def updated_entries(record):
    return TimelineEntry.objects.filter(record_id=record.pk, kind="updated")


@pytest.fixture
def cast_records(case_schema, manager, member, participant):
    """Records of every kind of relation to the participant."""
    return {
        "managers": new(case_schema, manager, "Managers own"),
        "assigned": new(case_schema, manager, "Assigned to participant", assignee=participant.pk),
        "participants": new(case_schema, participant, "Participants own"),
        "members": new(case_schema, member, "Members own"),
    }


# --- visibility and isolation ----------------------------------------------------------

def test_kanban_shows_only_visible_records(case_studies, cast_records, participant, member, client_for):
    shown = card_ids(kanban(client_for(participant), case_studies.key).content)
    assert sorted(shown) == sorted([cast_records["assigned"].pk, cast_records["participants"].pk])
    shown = card_ids(kanban(client_for(member), case_studies.key).content)
    assert sorted(shown) == sorted(r.pk for r in cast_records.values())


def test_outsider_gets_404_on_the_board(case_studies, cast_records, outsider, client_for):
    """A module's pages exist only for its space's members and requesters (like a missing id)."""
    assert kanban(client_for(outsider), case_studies.key).status_code == 404
    assert client_for(outsider).get(reverse("crm:chart", args=[case_studies.key])).status_code == 404


def test_another_orgs_user_gets_404_on_every_board_url(case_studies, cast_records, admin_user, other_org_user,
                                                       client_for):
    record = cast_records["managers"]
    key = case_studies.key
    deal = actions.do_create_record("deals", {"name": "Acme secret deal"}, actor=admin_user)
    client = client_for(other_org_user)
    gets = [
        reverse("crm:kanban", args=[key]),
        reverse("crm:kanban_column", args=[key]) + "?value=requested&page=1",
        reverse("crm:chart", args=[key]),
        reverse("crm:chart_records", args=[key]) + "?person=none",
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        (reverse("crm:kanban_move", args=[key, record.pk]), {"field": "status", "value": "done", "version": 1}),
        (reverse("teams:chart_assign", args=[key, record.pk]), {"assignee": other_org_user.pk}),
        (reverse("crm:kanban_move", args=["deals", deal.pk]), {"field": "stage", "value": "won", "version": 1}),
        (reverse("teams:chart_assign", args=["deals", deal.pk]), {"assignee": other_org_user.pk}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
        assert client.get(url).status_code == 404, url
    record.refresh_from_db()
    assert (record.status, record.assignee_id, record.version) == ("requested", None, 1)
    assert Deal.objects.get(pk=deal.pk).stage == "qualification"
    # Their own deals board is theirs: none of Acme's deals on it.
    assert deal.pk not in card_ids(kanban(client, "deals").content)


def test_record_the_user_cannot_see_is_404(case_studies, cast_records, participant, client_for):
    record = cast_records["members"]
    response = move(client_for(participant), record, "in_progress")
    assert response.status_code == 404
    record.refresh_from_db()
    assert record.status == "requested"


# --- moves -----------------------------------------------------------------------------

def test_member_moving_into_done_is_refused_with_the_reason(case_schema, member, client_for):
    record = new(case_schema, member, "Mine")
    response = move(client_for(member), record, "done")
    assert response.status_code == 403
    body = response.json()
    assert body["ok"] is False
    assert "Only a manager of this team may set the status" in body["error"]
    record.refresh_from_db()
    assert (record.status, record.version) == ("requested", 1)
    assert not updated_entries(record).exists()


def test_member_may_move_own_record_between_open_columns(case_schema, member, client_for):
    record = new(case_schema, member, "Mine")
    response = move(client_for(member), record, "in_progress")
    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_manager_move_succeeds_and_writes_the_timeline(case_schema, case_studies, manager, member, client_for):
    record = new(case_schema, member, "Finished")
    new(case_schema, manager, "Other")
    response = move(client_for(manager), record, "done")
    assert response.status_code == 200
    body = response.json()
    assert body == {"ok": True, "version": 2, "value": "done",
                    "counts": {"requested": 1, "in_progress": 0, "review": 0, "done": 1, "": 0},
                    "count_labels": {"requested": "1", "in_progress": "0", "review": "0", "done": "1", "": "0"}}
    record.refresh_from_db()
    assert (record.status, record.version, record.modified_by_id) == ("done", 2, manager.pk)
    entry = updated_entries(record).get()
    assert entry.path == "page"
    assert entry.actor_id == manager.pk
    assert entry.changes == {"status": ["requested", "done"]}


def test_stale_version_is_a_conflict(case_schema, manager, client_for):
    record = new(case_schema, manager, "Contested")
    actions.do_update_record(record, {"status": "review"}, version=1, actor=manager)
    response = move(client_for(manager), record, "done", version=1)
    assert response.status_code == 409
    assert response.json()["ok"] is False
    assert "after you opened it" in response.json()["error"]
    record.refresh_from_db()
    assert (record.status, record.version) == ("review", 2)


def test_requester_cannot_move_their_request(case_studies, requester, client_for):
    request_record = do_submit_request(case_studies, {"title": "Please write one"}, actor=requester)
    client = client_for(requester)
    page = kanban(client, case_studies.key)  # requesters reach the module through the Requests tab only
    assert page.status_code == 403
    assert "Requesters reach this module through the Requests tab." in page.content.decode()
    response = move(client, request_record, "in_progress")
    assert response.status_code == 403
    assert response.json()["error"]
    request_record.refresh_from_db()
    assert (request_record.status, request_record.version) == ("requested", 1)


def test_invalid_moves_are_bad_requests(case_schema, manager, client_for):
    record = new(case_schema, manager, "Stays")
    client = client_for(manager)
    assert move(client, record, "nonsense").status_code == 400
    assert move(client, record, "").status_code == 400  # status is required
    assert move(client, record, "done", field="title").status_code == 400
    response = client.post(reverse("crm:kanban_move", args=[record.MODULE_KEY, record.pk]),
                           {"field": "status", "value": "done", "version": "x"})
    assert response.status_code == 400
    record.refresh_from_db()
    assert (record.status, record.version) == ("requested", 1)


# --- columns -----------------------------------------------------------------------------

def test_column_counts(case_schema, case_studies, manager, member, client_for):
    for status, n in (("requested", 3), ("in_progress", 2), ("done", 1)):
        for i in range(n):
            new(case_schema, manager, f"{status} {i}", status=status)
    hidden = new(case_schema, manager, "Deleted")
    actions.do_delete_record(hidden, version=version_of(hidden), actor=manager)
    response = kanban(client_for(member), case_studies.key)
    assert column_counts(response.content) == {"requested": 3, "in_progress": 2, "review": 0, "done": 1, "": 0}
    assert len(card_ids(response.content)) == 6


def test_empty_column_for_a_custom_picklist(case_studies, case_schema, manager, client_for, org):
    from teams.schema import schema_for

    channel = actions.do_create_field(org, case_studies.key, api_name="channel", label_en="Channel",
                                      field_type="picklist", actor=manager,
                                      options=[{"value": "web", "label_en": "Web"},
                                               {"value": "print", "label_en": "Print"}])
    schema = schema_for(case_studies).bind(org)
    web = new(schema, manager, "Web one", channel="web")
    blank = new(schema, manager, "No channel")
    client = client_for(manager)
    response = kanban(client, case_studies.key, field="channel")
    assert column_counts(response.content) == {"web": 1, "print": 0, "": 1}
    moved = move(client, blank, "print", field=channel.key)
    assert moved.status_code == 200
    assert moved.json()["counts"] == {"web": 1, "print": 1, "": 0}
    cleared = move(client, web, "", field=channel.key)
    assert cleared.json()["counts"] == {"web": 0, "print": 1, "": 1}


def more_url(content: bytes) -> str | None:
    found = re.search(r'class="kanban-more[^"]*" hx-get="([^"]+)"', content.decode())
    return html.unescape(found.group(1)) if found else None


def test_columns_load_lazily(case_schema, case_studies, manager, client_for):
    created = [new(case_schema, manager, f"Request {i}").pk for i in range(2 * CARDS_PER_PAGE + 5)]
    new(case_schema, manager, "In progress", status="in_progress")
    client = client_for(manager)
    page = kanban(client, case_studies.key).content
    assert column_counts(page)["requested"] == len(created)
    first = card_ids(page)
    assert len(first) == CARDS_PER_PAGE + 1  # every column's first page, one in progress
    seen = [pk for pk in first if pk in created]
    url = more_url(page)
    for expected in (CARDS_PER_PAGE, 5):
        response = client.get(url)
        assert response.status_code == 200
        ids = card_ids(response.content)
        assert len(ids) == expected
        seen += ids
        url = more_url(response.content)
    assert url is None
    assert seen == sorted(created, reverse=True)  # newest first, each card once

    # Plain ?page= works too (offset paging).
    column_url = reverse("crm:kanban_column", args=[case_studies.key])
    for number, expected in ((1, CARDS_PER_PAGE), (2, CARDS_PER_PAGE), (3, 5), (4, 0)):
        response = client.get(column_url, {"field": "status", "value": "requested", "page": number})
        assert card_ids(response.content) == seen[(number - 1) * CARDS_PER_PAGE:number * CARDS_PER_PAGE]
    assert client.get(column_url, {"field": "status", "value": "nope"}).status_code == 404


def test_moving_cards_does_not_skip_or_repeat_later_pages(case_schema, case_studies, manager, client_for):
    created = [new(case_schema, manager, f"Request {i}") for i in range(CARDS_PER_PAGE + 10)]
    client = client_for(manager)
    page = kanban(client, case_studies.key).content
    first = card_ids(page)
    moved = next(r for r in created if r.pk == first[3])
    assert move(client, moved, "in_progress").status_code == 200
    rest = card_ids(client.get(more_url(page)).content)
    remaining = sorted((r.pk for r in created if r.pk != moved.pk), reverse=True)
    assert [pk for pk in first if pk != moved.pk] + rest == remaining


def test_org_module_kanban_under_private_default(admin_user, org, standard_user, other_user, client_for):
    do_set_org_default(org, "deals", "private", actor=admin_user)
    mine = actions.do_create_record("deals", {"name": "Mine", "stage": "proposal"}, actor=standard_user)
    theirs = actions.do_create_record("deals", {"name": "Theirs", "stage": "proposal"}, actor=other_user)
    client = client_for(standard_user)
    response = kanban(client, "deals")
    assert response.context["group"].key == "stage"
    assert card_ids(response.content) == [mine.pk]
    assert column_counts(response.content)["proposal"] == 1
    assert move(client, theirs, "won", field="stage").status_code == 404
    moved = move(client, mine, "won", field="stage")
    assert moved.status_code == 200
    assert Deal.objects.get(pk=mine.pk).stage == "won"
    assert updated_entries(mine).get().path == "page"
    assert kanban(client, "leads").context["group"].key == "status"
    assert kanban(client, "tasks").context["group"].key == "status"


# --- query budgets -------------------------------------------------------------------

def fill(case_schema, manager, people, start, count):
    statuses = ["requested", "in_progress", "review", "done"]
    for i in range(start, start + count):
        person = people[i % len(people)]
        data = {"status": statuses[i % len(statuses)]}
        if person is not None:
            data["assignee"] = person.pk
        new(case_schema, manager, f"Record {i}", **data)


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("name", ["crm:kanban", "crm:chart"])
def test_query_count_does_not_grow_with_records(name, case_schema, case_studies, manager, member, participant,
                                                client_for):
    people = [manager, member, participant, None]
    fill(case_schema, manager, people, 0, 10)
    client = client_for(manager)
    url = reverse(name, args=[case_studies.key])
    client.get(url)  # warm caches (content types, session)
    with_10 = queries_for(client, url)
    fill(case_schema, manager, people, 10, 90)
    with_100 = queries_for(client, url)
    assert with_10 == with_100
    assert with_100 <= 25


def test_org_module_kanban_query_count(admin_user, client_for):
    client = client_for(admin_user)
    for i in range(10):
        actions.do_create_record("deals", {"name": f"Deal {i}", "stage": "proposal"}, actor=admin_user)
    url = reverse("crm:kanban", args=["deals"])
    client.get(url)
    with_10 = queries_for(client, url)
    for i in range(40):
        actions.do_create_record("deals", {"name": f"More {i}", "stage": ["won", "lost"][i % 2]}, actor=admin_user)
    assert queries_for(client, url) == with_10


# --- chart -------------------------------------------------------------------------------

def chart_cells(response) -> Counter:
    chart = response.context["chart"]
    cells = Counter()
    for dataset in chart["datasets"]:
        for person, n in zip(chart["persons"], dataset["data"]):
            if n:
                cells[(person, dataset["value"])] += n
    return cells


@pytest.mark.parametrize("viewer", ["manager", "participant"])
def test_chart_sums_equal_visible_records(viewer, request, case_schema, case_studies, manager, member, participant,
                                          client_for):
    fill(case_schema, manager, [manager, member, participant, None], 0, 14)
    new(case_schema, participant, "Participant's own", status="in_progress")
    user = request.getfixturevalue(viewer)
    rows = TeamRecord.objects.filter(module=case_studies, deleted_at__isnull=True)
    if viewer == "participant":
        rows = [r for r in rows if participant.pk in (r.owner_id, r.assignee_id)]
    expected = Counter((r.assignee_id, r.status) for r in rows)
    response = client_for(user).get(reverse("crm:chart", args=[case_studies.key]))
    assert chart_cells(response) == expected
    totals = response.context["totals"]
    assert totals["total"] == sum(expected.values())
    assert totals["done"] == sum(n for (_p, status), n in expected.items() if status == "done")
    assert totals["open"] == totals["total"] - totals["done"]
    assert totals["unassigned"] == sum(n for (person, _s), n in expected.items() if person is None)
    assert response.context["chart"]["persons"][0] is None  # unassigned comes first, standing out
    assert 'id="chart-data"' in response.content.decode()


def test_chart_bars_lead_to_their_records(case_schema, case_studies, manager, member, client_for):
    in_progress = new(case_schema, manager, "Member in progress", status="in_progress", assignee=member.pk)
    new(case_schema, manager, "Member review", status="review", assignee=member.pk)
    nobody = new(case_schema, manager, "Nobody requested")
    client = client_for(manager)
    chart = client.get(reverse("crm:chart", args=[case_studies.key])).context["chart"]
    urls = {(p, d["value"]): url for d in chart["datasets"] for p, url in zip(chart["persons"], d["urls"])}
    listed = client.get(urls[(member.pk, "in_progress")])
    assert urls[(member.pk, "in_progress")].startswith(reverse("crm:list", args=[case_studies.key]))
    assert listed.status_code == 200
    body = listed.content.decode()
    assert "Member in progress" in body and "Member review" not in body and "Nobody requested" not in body
    records = client.get(urls[(None, "requested")])
    assert records.status_code == 200
    assert [row["record"].pk for row in records.context["records"]] == [nobody.pk]
    assert in_progress.pk not in [row["record"].pk for row in records.context["records"]]


def test_chart_for_org_module_groups_by_owner(admin_user, standard_user, client_for):
    actions.do_create_record("deals", {"name": "A", "stage": "won"}, actor=admin_user)
    actions.do_create_record("deals", {"name": "B", "stage": "won"}, actor=standard_user)
    actions.do_create_record("deals", {"name": "C", "stage": "lost"}, actor=standard_user)
    response = client_for(admin_user).get(reverse("crm:chart", args=["deals"]))
    assert chart_cells(response) == Counter({(admin_user.pk, "won"): 1, (standard_user.pk, "won"): 1,
                                             (standard_user.pk, "lost"): 1})
    assert response.context["has_assignee"] is False


# --- one-click assignment ------------------------------------------------------------

def test_manager_assigns_from_the_chart(case_schema, case_studies, manager, member, client_for):
    record = new(case_schema, manager, "Needs someone")
    client = client_for(manager)
    chart = client.get(reverse("crm:chart", args=[case_studies.key]))
    assert chart.context["can_assign"] is True
    assert [row["record"].pk for row in chart.context["unassigned"]] == [record.pk]
    assert member in chart.context["assign_members"]
    response = client.post(reverse("teams:chart_assign", args=[case_studies.key, record.pk]),
                           {"assignee": member.pk, "version": record.version}, follow=True)
    assert response.status_code == 200
    record.refresh_from_db()
    assert record.assignee_id == member.pk
    entry = updated_entries(record).get()
    assert entry.path == "page" and entry.changes["assignee"][1]["id"] == member.pk
    assert response.context["unassigned"] == []


def test_member_assigning_is_refused_with_the_reason(case_schema, case_studies, manager, member, client_for):
    record = new(case_schema, member, "Needs someone")  # their own: they may edit it, not assign it
    client = client_for(member)
    chart = client.get(reverse("crm:chart", args=[case_studies.key]))
    assert chart.context["can_assign"] is False
    assign_url = reverse("teams:chart_assign", args=[case_studies.key, record.pk])
    assert f'data-unassigned="{record.pk}"' in chart.content.decode()
    assert assign_url not in chart.content.decode()
    response = client.post(assign_url, {"assignee": member.pk}, follow=True)
    assert "Only a manager of this team may assign records." in response.content.decode()
    record.refresh_from_db()
    assert record.assignee_id is None and record.version == 1
    others = new(case_schema, manager, "Managers record")
    response = client.post(reverse("teams:chart_assign", args=[case_studies.key, others.pk]),
                           {"assignee": member.pk}, follow=True)
    assert "You do not have permission to do this on this record." in response.content.decode()
    others.refresh_from_db()
    assert others.assignee_id is None


def test_assigning_outside_the_team_is_refused(case_schema, case_studies, manager, outsider, client_for):
    record = new(case_schema, manager, "Needs someone")
    response = client_for(manager).post(reverse("teams:chart_assign", args=[case_studies.key, record.pk]),
                                        {"assignee": outsider.pk, "next": "https://evil.test/"})
    assert response.status_code == 302
    assert response.url == reverse("crm:chart", args=[case_studies.key])
    record.refresh_from_db()
    assert record.assignee_id is None
