"""My Work, the home page: each section reads through access, shows at most SHOWN items with a
link to the rest at a fixed number of queries, and shows nothing of another org."""
from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.actions import do_update_record
from crm.recent import remember
from crm.work_sections import SHOWN
from teams import actions as team_actions
from teams.schema import schema_for
from tests.factories import LeadFactory, TaskFactory
from tests.helpers import fresh, version_of

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def page(client_for, user):
    response = client_for(user).get(reverse("work:index"))
    assert response.status_code == 200
    return response


def test_login_lands_on_my_work(client_for, standard_user):
    response = client_for(standard_user).get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse("work:index")
    assert settings_login_redirect() == "home"


def settings_login_redirect():
    from django.conf import settings

    return settings.LOGIN_REDIRECT_URL


def test_my_tasks_overdue_first_and_only_mine(client_for, admin_user, standard_user, other_user):
    later = TaskFactory(actor=admin_user, subject="Later call", assignee=standard_user.pk,
                        due_date=(TODAY + dt.timedelta(days=3)).isoformat())
    late = TaskFactory(actor=admin_user, subject="Late report", assignee=standard_user.pk,
                       due_date=(TODAY - dt.timedelta(days=2)).isoformat())
    TaskFactory(actor=admin_user, subject="Undated chore", assignee=standard_user.pk)
    TaskFactory(actor=admin_user, subject="Olga's task", assignee=other_user.pk)
    done = TaskFactory(actor=admin_user, subject="Finished one", assignee=standard_user.pk)
    do_update_record(done, {"status": "completed"}, version=version_of(done), actor=admin_user)
    html = page(client_for, standard_user).content.decode()
    assert html.index("Late report") < html.index("Later call") < html.index("Undated chore")
    assert "Olga&#x27;s task" not in html and "Olga's task" not in html and "Finished one" not in html
    assert 'data-testid="work-count-tasks">3<' in html
    assert "Overdue" in html
    assert late.pk and later.pk


def test_tasks_show_at_most_shown_with_a_link_and_a_fixed_query_count(
        client_for, admin_user, standard_user, django_assert_max_num_queries):
    for n in range(3):
        TaskFactory(actor=admin_user, subject=f"Task {n}", assignee=standard_user.pk)
    client = client_for(standard_user)
    client.get(reverse("work:index"))  # warm the session and the caches alike for both runs
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("work:index"))
    for n in range(3, SHOWN + 5):
        TaskFactory(actor=admin_user, subject=f"Task {n}", assignee=standard_user.pk)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("work:index"))
    html = response.content.decode()
    assert html.count('data-testid="work-task"') == SHOWN
    assert 'data-testid="work-more-tasks"' in html


def test_team_records_assigned_to_me_and_my_open_requests(client_for, admin_user, standard_user, other_user,
                                                          tickets):
    schema = schema_for(tickets)
    mine = team_actions.do_submit_request(tickets, {"title": "Printer jam"}, actor=fresh(other_user))
    team_actions.do_assign(mine, standard_user.pk, version=version_of(mine), actor=admin_user)
    closed = team_actions.do_submit_request(tickets, {"title": "Old problem"}, actor=fresh(other_user))
    do_update_record(closed, {"status": "closed", "assignee": standard_user.pk}, version=version_of(closed),
                     actor=admin_user, schema=schema.bind(admin_user.org))
    html = page(client_for, standard_user).content.decode()
    assert 'data-testid="work-section-team_assigned"' in html and "Printer jam" in html
    assert "Old problem" not in html
    requester_html = page(client_for, fresh(other_user)).content.decode()
    assert 'data-testid="work-section-requests"' in requester_html
    assert "Printer jam" in requester_html and "Open" in requester_html
    assert "Old problem" not in requester_html


def test_team_sections_cost_the_same_however_many_modules_and_records(
        client_for, admin_user, standard_user, support, tickets, django_assert_max_num_queries):
    def add(module, n):
        for i in range(n):
            record = team_actions.do_submit_request(module, {"title": f"R{module.pk}-{i}"}, actor=admin_user)
            team_actions.do_assign(record, standard_user.pk, version=version_of(record), actor=admin_user)

    team_actions.do_set_requesters(tickets, [admin_user.pk], actor=admin_user)
    add(tickets, 2)
    client = client_for(standard_user)
    client.get(reverse("work:index"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("work:index"))
    other = team_actions.do_create_team_module(support, name_en="Bugs", statuses=[{"value": "new", "label_en": "New"}],
                                               actor=admin_user)
    team_actions.do_set_requesters(other, [admin_user.pk], actor=admin_user)
    add(other, 6)
    add(tickets, 6)
    # A second module adds one query (its schema's team roles are cached), never one per record.
    with django_assert_max_num_queries(len(few.captured_queries) + 1):
        response = client.get(reverse("work:index"))
    assert response.content.decode().count('data-testid="work-team-record"') == SHOWN


def test_recently_viewed_is_written_by_the_record_page_and_read_through_access(
        client_for, admin_user, standard_user):
    lead = LeadFactory(actor=standard_user, last_name="Visited Lead")
    client = client_for(standard_user)
    assert client.get(reverse("crm:detail", args=["leads", lead.pk])).status_code == 200
    html = client.get(reverse("work:index")).content.decode()
    assert 'data-testid="work-section-recent"' in html and "Visited Lead" in html
    # Leads are private: once it belongs to someone else, it drops out of the list.
    from crm.actions import do_change_owner

    do_change_owner(lead, admin_user.pk, version=version_of(lead), actor=admin_user)
    html = client.get(reverse("work:index")).content.decode()
    assert "Visited Lead" not in html


def test_recent_views_are_kept_per_org(client_for, admin_user, other_org_user):
    lead = LeadFactory(actor=admin_user, last_name="AcmeSecret")
    remember(admin_user, "leads", lead.pk)
    # Even a forged entry under the other org's key would be read through that org's access.
    remember(other_org_user, "leads", lead.pk)
    html = page(client_for, other_org_user).content.decode()
    assert "AcmeSecret" not in html


def test_other_orgs_see_nothing_of_this_org(client_for, admin_user, other_org_user, standard_user, tickets):
    TaskFactory(actor=admin_user, subject="AcmeSecret task", assignee=standard_user.pk,
                due_date=(TODAY - dt.timedelta(days=1)).isoformat())
    record = team_actions.do_submit_request(tickets, {"title": "AcmeSecret ticket"}, actor=admin_user)
    team_actions.do_assign(record, standard_user.pk, version=version_of(record), actor=admin_user)
    html = page(client_for, other_org_user).content.decode()
    assert "AcmeSecret" not in html
    count = client_for(other_org_user).get(reverse("work:count")).content.decode()
    assert 'data-testid="my-work-count"' not in count


def test_the_navigation_count_is_fetched_not_rendered(client_for, admin_user, standard_user):
    TaskFactory(actor=admin_user, subject="Late", assignee=standard_user.pk,
                due_date=(TODAY - dt.timedelta(days=1)).isoformat())
    TaskFactory(actor=admin_user, subject="Not late", assignee=standard_user.pk,
                due_date=(TODAY + dt.timedelta(days=1)).isoformat())
    client = client_for(standard_user)
    html = client.get(reverse("crm:list", args=["accounts"])).content.decode()
    assert f'hx-get="{reverse("work:count")}"' in html and 'data-testid="my-work-count"' not in html
    badge = client.get(reverse("work:count")).content.decode()
    assert 'data-testid="my-work-count">1<' in badge


def test_getting_started_for_a_new_orgs_administrator_only(client_for, admin_user, make_user):
    html = page(client_for, admin_user).content.decode()
    assert 'data-testid="work-section-getting_started"' in html
    for step in ("users", "team_space", "import"):
        assert f'data-testid="getting-started-{step}" data-done="0"' in html
    user = make_user(admin_user.org, username="newbie")
    assert 'data-testid="work-section-getting_started"' not in page(client_for, user).content.decode()
    html = page(client_for, admin_user).content.decode()
    assert 'data-testid="getting-started-users" data-done="1"' in html


def test_getting_started_goes_once_everything_is_there(client_for, admin_user, make_user):
    from tests.imports.conftest import import_file

    make_user(admin_user.org)
    team_actions.do_create_space(admin_user.org, name_en="Sales team", actor=admin_user)
    LeadFactory(actor=admin_user)  # a lead typed in is not an import
    html = page(client_for, admin_user).content.decode()
    start = reverse("imports:start", args=["leads"])
    assert 'data-testid="getting-started-import" data-done="0"' in html and f'href="{start}"' in html
    assert "coming soon" not in html
    assert client_for(admin_user).get(start).status_code == 200
    import_file(client_for(admin_user), "leads", "bom_mixed_headers.csv")
    html = page(client_for, admin_user).content.decode()
    assert 'data-testid="work-section-getting_started"' not in html
    assert 'data-testid="work-section-recent"' not in html


def test_an_empty_page_says_so(client_for, standard_user):
    assert 'data-testid="work-empty"' in page(client_for, standard_user).content.decode()


def test_my_work_in_chinese(client_for, admin_user):
    client = client_for(admin_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = client.get(reverse("work:index")).content.decode()
    assert "我的工作" in html and "添加用户" in html
