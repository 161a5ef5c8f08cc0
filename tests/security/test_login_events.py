"""Login events: every login, failure, lockout and logout through the real login page (and the
test client's force_login, like any other view that logs in) is recorded with its time, address,
browser and the username tried; failures of an existing username are linked to that user, and
logins, failures and lockouts go into the security log of each org the person belongs to."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from access import seal
from access.models import Membership
from security import actions, events
from security.models import LoginEvent, SecurityEvent, UserSession
from tests.access.test_seal import as_app_role  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-99"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) SecurityTest/1.0"


def _client(ip: str = "10.1.2.3") -> Client:
    return Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=BROWSER)


def _login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_a_login_is_recorded_with_time_address_browser_and_indexed_session(standard_user):
    client = _client()
    assert _login(client, "sam", PASSWORD).status_code == 302
    event = LoginEvent.objects.get()
    assert (event.kind, event.user_id, event.username, event.ip, event.user_agent) == (
        "login", standard_user.pk, "sam", "10.1.2.3", BROWSER)
    logged = SecurityEvent.objects.get()
    assert (logged.org_id, logged.kind, logged.user_id, logged.ip) == (standard_user.org.pk, "login", standard_user.pk,
                                                                        "10.1.2.3")
    session = UserSession.objects.get()
    assert (session.user_id, session.session_key, session.ip) == (standard_user.pk, client.session.session_key,
                                                                  "10.1.2.3")


def test_a_wrong_password_is_a_failure_linked_to_the_user(standard_user, other_org_user):
    assert _login(_client(), "sam", WRONG).status_code == 200
    event = LoginEvent.objects.get()
    assert (event.kind, event.user_id, event.username, event.ip) == ("failed", standard_user.pk, "sam", "10.1.2.3")
    assert list(SecurityEvent.objects.values_list("org_id", "kind", "user_id")) == [
        (standard_user.org.pk, "login_failed", standard_user.pk)]


def test_an_unknown_username_is_a_failure_of_nobody_in_no_orgs_log(standard_user):
    _login(_client(), "nobody-here", WRONG)
    event = LoginEvent.objects.get()
    assert (event.kind, event.user_id, event.username) == ("failed", None, "nobody-here")
    assert not SecurityEvent.objects.exists()


def test_five_failures_lock_out_and_each_refused_attempt_is_a_lockout(standard_user):
    client = _client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "sam", WRONG)
    assert _login(client, "sam", PASSWORD).status_code == 429  # the right password, refused
    kinds = list(LoginEvent.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["failed"] * (settings.AXES_FAILURE_LIMIT - 1) + ["locked_out", "locked_out"]
    assert set(LoginEvent.objects.values_list("user_id", flat=True)) == {standard_user.pk}
    lockout = LoginEvent.objects.filter(kind="locked_out").earliest("pk")
    assert lockout.details == {"failures": settings.AXES_FAILURE_LIMIT} and lockout.ip == "10.1.2.3"
    assert list(SecurityEvent.objects.order_by("pk").values_list("kind", flat=True)) == [
        "login_failed"] * (settings.AXES_FAILURE_LIMIT - 1) + ["locked_out", "locked_out"]
    assert not UserSession.objects.exists()


def test_a_logout_is_recorded_and_its_session_forgotten(standard_user):
    client = _client()
    _login(client, "sam", PASSWORD)
    assert UserSession.objects.count() == 1
    assert client.post(reverse("logout")).status_code == 302
    assert list(LoginEvent.objects.order_by("pk").values_list("kind", flat=True)) == ["login", "logout"]
    assert not UserSession.objects.exists()
    # Logouts are in the person's history, not in the org's security log.
    assert list(SecurityEvent.objects.values_list("kind", flat=True)) == ["login"]


def test_force_login_is_recorded_too(standard_user, client_for):
    client = client_for(standard_user)
    event = LoginEvent.objects.get()
    assert (event.kind, event.user_id, event.ip, event.user_agent) == ("login", standard_user.pk, None, "")
    assert UserSession.objects.get().session_key == client.session.session_key


def test_huge_username_and_browser_are_cut_to_fit(standard_user):
    client = Client(REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="B" * 5000)
    assert _login(client, "x" * 10_000, WRONG).status_code == 200
    event = LoginEvent.objects.get()
    assert (len(event.username), len(event.user_agent), event.user_id) == (150, 255, None)


def test_a_login_in_two_orgs_goes_into_both_logs(standard_user, other_org_user):
    Membership.objects.create(org=other_org_user.org, user=standard_user)  # sam joins Globex as well
    _login(_client(), "sam", PASSWORD)
    assert sorted(SecurityEvent.objects.filter(kind="login").values_list("org_id", flat=True)) == sorted(
        [standard_user.org.pk, other_org_user.org.pk])


def test_recording_never_breaks_a_login_outside_tests(standard_user, settings, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the log's table is gone")

    monkeypatch.setattr(actions, "do_record_login_event", broken)
    settings.SECURITY_LOG_STRICT = False
    client = _client()
    assert _login(client, "sam", PASSWORD).status_code == 302
    assert client.get(reverse("crm:list", args=["accounts"])).status_code == 200
    assert "could not record" in caplog.text
    settings.SECURITY_LOG_STRICT = True  # in tests a failure is not swallowed
    with pytest.raises(RuntimeError):
        _login(_client(), "sam", PASSWORD)


def test_the_api_for_two_factor_changes_writes_each_org_of_the_person(standard_user, other_org_user, rf):
    Membership.objects.create(org=other_org_user.org, user=standard_user)
    request = rf.post("/", REMOTE_ADDR="10.9.9.9", HTTP_USER_AGENT=BROWSER)
    written = events.record(standard_user, events.TWO_FACTOR_ENABLED, request=request, method="totp")
    assert sorted(e.org_id for e in written) == sorted([standard_user.org.pk, other_org_user.org.pk])
    event = SecurityEvent.objects.filter(org=standard_user.org).get()
    assert (event.kind, event.user_id, event.ip, event.user_agent, event.details) == (
        "two_factor_enabled", standard_user.pk, "10.9.9.9", BROWSER, {"method": "totp"})
    events.record(standard_user, events.TWO_FACTOR_DISABLED)
    events.record(standard_user, events.RECOVERY_CODES_REGENERATED)
    assert SecurityEvent.objects.filter(org=standard_user.org).count() == 3
    with pytest.raises(ValueError):
        events.record(standard_user, "made_up_kind")


def test_behind_the_tenant_seal_a_login_still_reaches_each_org_log(standard_user, other_org_user, as_app_role):  # noqa: F811
    """As the application's role, a login (no organisation bound yet) writes the person's login
    history and each of their organisations' logs; nothing else is opened to the request."""
    with seal.cross_org("test: set-up"):
        Membership.objects.create(org=other_org_user.org, user=standard_user)
    client = _client()
    assert _login(client, "sam", PASSWORD).status_code == 302
    assert client.get(reverse("work:index")).status_code == 200
    assert LoginEvent.objects.filter(user=standard_user, kind="login").count() == 1
    assert not SecurityEvent.objects.exists()  # nothing bound here: the seal shows no org's rows
    with seal.cross_org("test: check"):
        assert sorted(SecurityEvent.objects.filter(kind="login").values_list("org_id", flat=True)) == sorted(
            [standard_user.org.pk, other_org_user.org.pk])
