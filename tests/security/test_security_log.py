"""The org security log (Settings > Security log): its members' logins, failures and lockouts,
two-factor changes, sessions ended, permission changes (read from the audit log) and exports
(read from the access log, direct downloads and background jobs alike); filtered by kind and
user, newest first, a keyset page at a time; for the org's administrators only, and never
showing another org's entries or users."""
from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import audit
from access.actions import do_set_membership_role
from access.models import AccessLog, AuditEntry, Membership
from crm import actions as crm_actions
from exports.models import ExportJob
from exports.tasks import run_export_job
from security import actions, events, selectors
from security.models import LoginEvent, SecurityEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOG = reverse("security:log")


def _login(username: str, password: str = PASSWORD, ip: str = "10.0.0.7") -> Client:
    client = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT="LogTest")
    client.post(reverse("login"), {"username": username, "password": password})
    return client


def _kinds(response) -> list[str]:
    return [entry.kind for entry in response.context["entries"]]


def test_the_log_shows_logins_failures_lockouts_two_factor_permissions_and_exports(
        admin_user, standard_user, client_for, settings):
    _login("sam")
    _login("sam", "wrong-password-99")
    client = Client(REMOTE_ADDR="10.0.0.8")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "sam", "password": "wrong-password-99"})
    events.record(standard_user, events.TWO_FACTOR_ENABLED)
    do_set_membership_role(Membership.objects.get(org=admin_user.org, user=standard_user), "admin", actor=admin_user)
    crm_actions.do_create_record("accounts", {"name": "Northwind"}, actor=admin_user)
    admin = client_for(admin_user)
    assert admin.post(reverse("exports:export", args=["accounts"]), {"format": "csv"}).status_code == 200

    page = admin.get(LOG)
    assert page.status_code == 200
    kinds = _kinds(page)
    assert kinds[:3] == ["export", "login", "permission"]  # newest first: the export, the admin's login, ...
    assert {"login", "login_failed", "locked_out", "two_factor_enabled"} <= set(kinds)
    html = page.content.decode()
    assert "Accounts, rows: 1" in html and "Alice Admin" in html
    assert "User&#x27;s administrator role changed" in html and "10.0.0.8" in html
    assert "Two-factor authentication turned on" in html


def test_a_background_export_appears_once_its_file_is_written(admin_user, client_for, settings):
    settings.EXPORT_DIRECT_MAX_ROWS = 1
    for name in ("A", "B"):
        crm_actions.do_create_record("accounts", {"name": name}, actor=admin_user)
    admin = client_for(admin_user)
    admin.post(reverse("exports:export", args=["accounts"]), {"format": "xlsx"})
    run_export_job(ExportJob.objects.get().pk)
    page = admin.get(LOG, {"kind": "export"})
    assert [(e.kind, e.user_name, e.summary) for e in page.context["entries"]] == [
        ("export", "Alice Admin", "Accounts, rows: 2")]


def test_filter_by_kind_and_by_user(admin_user, standard_user, other_user, client_for):
    _login("sam")
    _login("olga", "wrong-password-99")
    do_set_membership_role(Membership.objects.get(org=admin_user.org, user=other_user), "admin", actor=admin_user)
    admin = client_for(admin_user)
    assert set(_kinds(admin.get(LOG, {"kind": "login_failed"}))) == {"login_failed"}
    changes = admin.get(LOG, {"kind": "permission"}).context["entries"]
    assert [(e.kind, e.label) for e in changes] == [("permission", "User's administrator role changed"),
                                                    ("permission", "User added"), ("permission", "User added")]
    sams = admin.get(LOG, {"user": standard_user.pk})
    assert [(e.kind, e.user_name) for e in sams.context["entries"]] == [("login", "Sam"), ("permission", "Sam")]
    olgas = _kinds(admin.get(LOG, {"user": other_user.pk}))
    assert olgas == ["permission", "login_failed", "permission"]  # her role changed, her failed login, her adding
    assert admin.get(LOG, {"kind": "no-such-kind"}).status_code == 400


def test_keyset_pages_walk_the_merged_log_without_gaps_or_repeats(admin_user, standard_user):
    org = admin_user.org
    now = timezone.now()
    same = now - datetime.timedelta(minutes=5)  # one instant shared by entries of all three tables
    SecurityEvent.objects.bulk_create(
        [SecurityEvent(org=org, kind="login", user=standard_user, at=now - datetime.timedelta(minutes=n))
         for n in range(9)] + [SecurityEvent(org=org, kind="login", user=standard_user, at=same) for _ in range(2)])
    AccessLog.objects.bulk_create([AccessLog(org=org, user=admin_user, action="export", module="accounts", count=n)
                                   for n in range(6)])
    for log in AccessLog.objects.filter(org=org):  # auto_now_add gave them all the time of the insert
        AccessLog.objects.filter(pk=log.pk).update(
            at=same if log.count < 2 else now - datetime.timedelta(minutes=log.count, seconds=30))
    for _ in range(2):
        AuditEntry.objects.create(org=org, at=same, event=AuditEntry.Event.USER_ROLE_CHANGED, actor=admin_user,
                                  object_type="access.user", object_id=str(standard_user.pk), object_name="Sam")
    everything = [(e.at, e.source, e.pk) for e in selectors.security_log(org, size=1000)[0]]
    assert len(everything) == 11 + 6 + 2 + 1  # and the audit entry of Sam's being added
    walked, cursor = [], None
    while True:
        page, older = selectors.security_log(org, before=cursor, size=4)
        walked += [(e.at, e.source, e.pk) for e in page]
        if not older:
            break
        cursor = selectors.decode_cursor(older, 2)
    assert walked == everything and len(set(walked)) == len(walked)
    assert walked == sorted(walked, reverse=True)


def test_only_the_orgs_administrators_see_the_log(admin_user, standard_user, client_for):
    assert client_for(standard_user).get(LOG).status_code == 404
    assert Client().get(LOG).status_code == 302  # to the login


def test_an_admin_of_another_org_never_sees_this_orgs_entries_or_users(admin_user, standard_user, other_org_user,
                                                                       client_for):
    _login("sam", ip="10.66.66.66")
    _login("sam", "wrong-password-99", ip="10.66.66.66")
    events.record(standard_user, events.TWO_FACTOR_DISABLED)
    crm_actions.do_create_record("accounts", {"name": "Northwind"}, actor=admin_user)
    client_for(admin_user).post(reverse("exports:export", args=["accounts"]), {"format": "csv"})
    _login("globex-admin", ip="10.77.77.77")  # a Globex-only user's login
    globex = client_for(other_org_user)
    page = globex.get(LOG)
    html = page.content.decode()
    assert page.status_code == 200 and "10.77.77.77" in html
    assert "10.66.66.66" not in html and "Sam" not in html and "Alice" not in html
    assert {e.kind for e in page.context["entries"]} == {"login"}
    # Asking for Acme's user by id is refused, not answered.
    refused = globex.get(LOG, {"user": standard_user.pk})
    assert refused.status_code == 400 and refused.context["entries"] == []
    # And the other way round: Acme's log has nothing of Globex's admin.
    acme = client_for(admin_user).get(LOG).content.decode()
    assert "10.77.77.77" not in acme and "Gary" not in acme
    assert client_for(admin_user).get(LOG, {"user": other_org_user.pk}).status_code == 400


def test_a_bad_page_link_is_a_clear_400(admin_user, client_for):
    admin = client_for(admin_user)
    for bad in ("x", "1-2", "9" * 40 + "-1-1", "-1-1-1"):
        response = admin.get(LOG, {"before": bad})
        assert response.status_code == 400 and "This page link is not valid" in response.content.decode()
    history = admin.get(reverse("security:account"), {"before": "nope"})
    assert history.status_code == 400 and "This page link is not valid" in history.content.decode()


def test_the_log_reads_a_fixed_number_of_queries(admin_user, standard_user, client_for,
                                                 django_assert_max_num_queries):
    admin = client_for(admin_user)
    for _ in range(3):
        _login("sam")
        events.record(standard_user, events.RECOVERY_CODES_REGENERATED)
    with django_assert_max_num_queries(12):
        assert admin.get(LOG).status_code == 200
    for _ in range(20):
        _login("sam")
    with django_assert_max_num_queries(12):
        assert admin.get(LOG).status_code == 200


def test_the_log_in_chinese(admin_user, standard_user, client_for):
    _login("sam")
    admin = client_for(admin_user)
    admin.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = admin.get(LOG).content.decode()
    assert "安全日志" in html and "已登录" in html


def test_the_login_history_pages_by_keyset(standard_user):
    client = _login("sam")
    for _ in range(60):  # (60 real logins from one address would meet allauth's rate limit)
        actions.do_record_login_event(LoginEvent.Kind.LOGIN, user=standard_user, username="sam")
    first = client.get(reverse("security:account"))
    assert len(first.context["history"]) == selectors.PAGE_SIZE and first.context["older"]
    second = client.get(reverse("security:account"), {"before": first.context["older"]})
    assert len(second.context["history"]) == 61 - selectors.PAGE_SIZE and not second.context["older"]
    seen = [e.pk for e in first.context["history"]] + [e.pk for e in second.context["history"]]
    assert len(set(seen)) == 61
