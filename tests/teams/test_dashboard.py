"""The team dashboard: figures right, who may open it, queries flat in the number of records."""
from __future__ import annotations

import datetime as dt
import types

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, include, path, reverse
from django.utils import timezone

from crm.actions import do_create_record, do_delete_record, do_update_record
from teams import actions
from teams.dashboard_views import dashboard_urlpatterns, space_figures
from teams.models import TeamMember
from tests.helpers import version_of

pytestmark = pytest.mark.django_db

PRESS_STATUSES = [{"value": "draft", "label_en": "Draft"}, {"value": "sent", "label_en": "Sent"}]


def _urlconf_with_dashboard() -> types.ModuleType:
    """config.urls with the dashboard added to the "teams" namespace (until teams/urls.py has it)."""
    import config.urls
    import teams.urls

    teams_include = path("", include((list(teams.urls.urlpatterns) + dashboard_urlpatterns, "teams")))
    patterns = [teams_include if getattr(p, "namespace", None) == "teams" else p for p in config.urls.urlpatterns]
    if teams_include not in patterns:
        patterns.append(teams_include)
    module = types.ModuleType("dashboard_test_urls")
    module.urlpatterns = patterns
    return module


@pytest.fixture
def dashboard_url(settings):
    try:
        reverse("teams:dashboard", args=[1])
    except NoReverseMatch:
        settings.ROOT_URLCONF = _urlconf_with_dashboard()
    return lambda space: reverse("teams:dashboard", args=[space.pk])


@pytest.fixture
def clock(monkeypatch):
    """Moves `timezone.now` (and so auto_now_add timestamps) to chosen moments."""
    real_now = timezone.now

    class Clock:
        def at(self, moment: dt.datetime) -> None:
            monkeypatch.setattr(timezone, "now", lambda: moment)

        def reset(self) -> None:
            monkeypatch.setattr(timezone, "now", real_now)

    yield Clock()
    monkeypatch.setattr(timezone, "now", real_now)


def _key(schema, api_name):
    return schema.field(api_name).key


def _status(record, status, actor):
    return do_update_record(record, {"status": status}, version=version_of(record), actor=actor)


def test_figures_for_a_small_scenario(case_studies, case_schema, marketing, manager, member, participant,
                                      requester, admin_user, team_modules_admin, clock):
    """Day 0 is ten days ago; "today" is the real today, so overdue compares with the real date."""
    today = timezone.localdate()
    base = timezone.now().replace(microsecond=0) - dt.timedelta(days=10)
    due = _key(case_schema, "due")

    def day(n: float) -> None:
        clock.at(base + dt.timedelta(days=n))

    def submit(title, due_in=None):
        data = {"title": title}
        if due_in is not None:
            data[due] = (today + dt.timedelta(days=due_in)).isoformat()
        return actions.do_submit_request(case_studies, data, actor=requester)

    day(0)
    a = submit("A", due_in=3)
    b = submit("B", due_in=-3)
    day(1)
    actions.do_assign(a, member.pk, version=version_of(a), actor=manager)
    _status(a, "in_progress", manager)
    d = do_create_record(case_schema, {"title": "D", "assignee": member.pk,
                                       due: (today - dt.timedelta(days=1)).isoformat()}, actor=member)
    day(2)
    c = submit("C")
    _status(d, "in_progress", member)
    day(3)
    actions.do_assign(c, participant.pk, version=version_of(c), actor=manager)
    e = submit("E", due_in=-2)
    actions.do_assign(e, member.pk, version=version_of(e), actor=manager)
    day(4)
    _status(a, "done", manager)  # cycle 4 days
    day(5)
    _status(e, "review", manager)
    f = do_create_record(case_schema, {"title": "F"}, actor=member)
    day(6)
    _status(f, "done", manager)  # cycle 1 day
    g = submit("G", due_in=-5)
    do_delete_record(g, version=version_of(g), actor=manager)
    day(7)
    h = submit("H")
    actions.do_assign(h, participant.pk, version=version_of(h), actor=manager)
    day(8)
    _status(c, "done", manager)  # cycle 6 days (created on day 2)
    day(9)
    _status(c, "review", manager)  # reopened ...
    day(9.5)
    _status(c, "done", manager)  # ... and done again: the first time counts
    # A second module without a due field or done statuses, and a retired one.
    press = actions.do_create_team_module(marketing, name_en="Press releases", statuses=PRESS_STATUSES,
                                          actor=manager)
    do_create_record(press.key, {"title": "Launch"}, actor=member)
    old = actions.do_create_team_module(marketing, name_en="Old stuff", statuses=PRESS_STATUSES, actor=manager)
    actions.do_set_team_module_retired(old, True, actor=manager)
    clock.reset()

    figures = {item["module"].name_en: item for item in space_figures(manager, marketing)}
    assert list(figures) == ["Case Studies", "Press releases"]
    cs = figures["Case Studies"]
    assert cs["total"] == 7  # G is in the recycle bin
    assert cs["open_requests"] == 3  # B, E, H (A and C done; D and F were not requests)
    assert cs["unassigned"] == 1  # B
    assert cs["overdue"] == 3  # B, D, E (A's due date is ahead; done and deleted ones never count)
    assert cs["cycle_count"] == 3
    assert cs["cycle_median"] == pytest.approx(4.0)
    assert cs["cycle_average"] == pytest.approx(11 / 3)
    assert [(row["name"], row["open"], row["overdue"]) for row in cs["load"]] == [
        (str(member), 2, 2), (str(participant), 1, 0)]
    assert {s["value"]: s["count"] for s in cs["statuses"]} == {
        "requested": 2, "in_progress": 1, "review": 1, "done": 3}

    pr = figures["Press releases"]
    assert pr["total"] == 1 and pr["open_requests"] == 0 and pr["unassigned"] == 1
    assert pr["overdue"] is None and not pr["has_due"]
    assert pr["cycle_median"] is None and pr["cycle_count"] == 0

    # The same figures for an org administrator and a team-modules admin.
    for viewer in (admin_user, team_modules_admin):
        again = {item["module"].name_en: item for item in space_figures(viewer, marketing)}
        assert again["Case Studies"]["open_requests"] == 3
        assert again["Case Studies"]["overdue"] == 3


def test_page_shows_the_figures(case_studies, case_schema, marketing, manager, member, requester, client_for,
                                dashboard_url):
    due = _key(case_schema, "due")
    late = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    record = actions.do_submit_request(case_studies, {"title": "Late one", due: late}, actor=requester)
    actions.do_assign(record, member.pk, version=version_of(record), actor=manager)
    response = client_for(manager).get(dashboard_url(marketing))
    assert response.status_code == 200
    (item,) = response.context["modules"]
    assert (item["open_requests"], item["unassigned"], item["overdue"]) == (1, 0, 1)
    body = response.content.decode()
    assert "Case Studies" in body and "Open requests" in body and str(member) in body
    assert f'data-assignee="{member.pk}"' in body


@pytest.mark.parametrize("who, status", [
    ("manager", 200), ("admin_user", 200), ("team_modules_admin", 200),
    ("member", 404), ("participant", 404), ("requester", 404), ("outsider", 404), ("other_org_user", 404),
    ("other_space_manager", 404),
])
def test_who_may_open_the_dashboard(who, status, request, case_studies, marketing, client_for, dashboard_url,
                                    admin_user, make_user, org):
    if who == "other_space_manager":
        user = make_user(org, username="sales-lead")
        actions.do_create_space(org, name_en="Sales", manager_ids=[user.pk], actor=admin_user)
    else:
        user = request.getfixturevalue(who)
    assert client_for(user).get(dashboard_url(marketing)).status_code == status


def test_anonymous_is_sent_to_log_in(marketing, client, dashboard_url):
    response = client.get(dashboard_url(marketing))
    assert response.status_code == 302 and "login" in response["Location"]


def test_missing_or_other_orgs_space_is_404(marketing, admin_user, other_org_user, client_for, dashboard_url):
    theirs = actions.do_create_space(other_org_user.org, name_en="Globex team", manager_ids=[other_org_user.pk],
                                     actor=other_org_user)
    client = client_for(admin_user)
    assert client.get(dashboard_url(theirs)).status_code == 404
    assert client.get(reverse("teams:dashboard", args=[theirs.pk + 1000])).status_code == 404
    assert client_for(other_org_user).get(dashboard_url(theirs)).status_code == 200


def test_a_member_promoted_to_manager_may_open_it(marketing, manager, member, admin_user, client_for,
                                                   dashboard_url):
    assert client_for(member).get(dashboard_url(marketing)).status_code == 404
    actions.do_set_team_member(marketing, member.pk, TeamMember.Role.MANAGER, actor=admin_user)
    assert client_for(member).get(dashboard_url(marketing)).status_code == 200


def _add_records(count, module, schema, manager, member, requester):
    due = _key(schema, "due")
    late = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    for n in range(count):
        record = actions.do_submit_request(module, {"title": f"Case {n}", due: late}, actor=requester)
        if n % 3 == 0:
            actions.do_assign(record, member.pk, version=version_of(record), actor=manager)
        if n % 4 == 0:
            _status(record, "done", manager)


def test_queries_do_not_grow_with_records(case_studies, case_schema, marketing, manager, member, requester,
                                          client_for, dashboard_url, django_assert_max_num_queries):
    client = client_for(manager)
    url = dashboard_url(marketing)
    client.get(url)  # warm caches (content types, sessions)
    _add_records(10, case_studies, case_schema, manager, member, requester)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _add_records(90, case_studies, case_schema, manager, member, requester)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["modules"][0]["total"] == 100
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(16):
        client.get(url)


def test_counts_above_the_cap_read_cap_plus(case_studies, case_schema, marketing, manager, member, requester,
                                            client_for, dashboard_url, settings):
    """A module bigger than the count cap is not counted to the end: its figures say "3+"."""
    settings.CRM_COUNT_CAP = 3
    _add_records(8, case_studies, case_schema, manager, member, requester)
    response = client_for(manager).get(dashboard_url(marketing))
    (item,) = response.context["modules"]
    assert item["total"] == 4 and item["total_label"] == "3+"  # read cap+1 rows, no more
    assert item["open_requests_label"] == "3+" and item["overdue_label"] == "3+"
    statuses = {s["value"]: s["count_label"] for s in item["statuses"]}
    assert statuses["requested"] == "3+" and statuses["done"] == "2"  # records 0 and 4 are done
    assert item["load_capped"] is False and item["load"][0]["open_label"] == "2"  # records 3 and 6
    body = response.content.decode()
    assert "3+ records" in body and "3+" in body


def test_counts_at_or_below_the_cap_are_exact(case_studies, case_schema, marketing, manager, member, requester,
                                              client_for, dashboard_url, settings):
    settings.CRM_COUNT_CAP = 10
    _add_records(8, case_studies, case_schema, manager, member, requester)
    (item,) = client_for(manager).get(dashboard_url(marketing)).context["modules"]
    assert (item["total"], item["total_label"]) == (8, "8")
    assert item["open_requests_label"] == "6"  # 0 and 4 are done
