"""Accounts: failed-login lockouts (django-axes) and lifting them, password rules and changes,
session idle timeout and lifetime. Through the pages, with the real login view."""
from __future__ import annotations

import time

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from access.middleware import SESSION_LOGIN_AT_KEY, SESSION_SEEN_AT_KEY
from access.models import AuditEntry, Membership, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-99"


def _login(client: Client, username: str, password: str, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _lock_out(username: str, client: Client | None = None) -> Client:
    client = client or Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, username, WRONG)
    return client


def _attempt(username: str) -> AccessAttempt:
    return AccessAttempt.objects.get(username=username)


# --- lockout -------------------------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_right_one_out_with_a_message(standard_user):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, "sam", WRONG)
        assert response.status_code == 200 and "locked" not in response.content.decode()
    response = _login(client, "sam", WRONG)
    assert response.status_code == 429
    response = _login(client, "sam", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert 'data-testid="locked-out"' in page and "locked for 15 minutes" in page
    assert 'name="username"' in page  # the login page itself, not a bare error page
    assert "_auth_user_id" not in client.session


def test_lockout_message_in_chinese(standard_user):
    client = _lock_out("sam")
    response = _login(client, "sam", PASSWORD, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 429
    assert "15 分钟" in response.content.decode()


def test_lockout_is_per_username_and_address(standard_user, other_user):
    _lock_out("sam")
    assert _login(Client(), "olga", PASSWORD).status_code == 302  # another user from the same address
    assert _login(Client(REMOTE_ADDR="10.0.0.9"), "sam", PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 302


def test_a_huge_username_is_a_failed_login_not_a_500(standard_user):
    long_name = "x" * 10_000
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert _login(Client(), long_name, WRONG).status_code in (200, 429)
    assert _login(Client(), long_name, WRONG).status_code == 429
    assert AccessAttempt.objects.get(username="x" * 150).failures_since_start >= settings.AXES_FAILURE_LIMIT


def test_lockout_ends_after_the_cooloff(standard_user):
    import time_machine

    _lock_out("sam")
    with time_machine.travel(time.time() + 16 * 60):
        assert _login(Client(), "sam", PASSWORD).status_code == 302


def test_a_successful_login_clears_earlier_failures(standard_user):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "sam", WRONG)
    assert _login(client, "sam", PASSWORD).status_code == 302
    assert _login(Client(), "sam", WRONG).status_code == 200  # counting starts again
    assert _login(Client(), "sam", PASSWORD).status_code == 302


def test_admin_sees_and_lifts_a_lockout_then_the_password_works(admin_user, standard_user, client_for):
    _lock_out("sam")
    admin = client_for(admin_user)
    page = admin.get(reverse("lockouts"))
    assert page.status_code == 200 and 'data-username="sam"' in page.content.decode()
    response = admin.post(reverse("lockouts"), {"attempt": _attempt("sam").pk})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="sam").exists()
    entry = AuditEntry.objects.get(org=admin_user.org, event=AuditEntry.Event.USER_LOCKOUT_LIFTED)
    assert entry.object_id == str(standard_user.pk) and entry.actor_id == admin_user.pk
    assert _login(Client(), "sam", PASSWORD).status_code == 302
    assert 'data-username="sam"' not in admin.get(reverse("lockouts")).content.decode()


def test_a_standard_user_may_not_see_or_lift_lockouts(standard_user, other_user, client_for):
    _lock_out("olga")
    client = client_for(standard_user)
    assert client.get(reverse("lockouts")).status_code == 404
    assert client.post(reverse("lockouts"), {"attempt": _attempt("olga").pk}).status_code == 404
    assert AccessAttempt.objects.filter(username="olga").exists()


def test_another_orgs_admin_may_not_see_or_lift_this_orgs_lockout(standard_user, other_org_user, client_for):
    _lock_out("sam")
    client = client_for(other_org_user)
    page = client.get(reverse("lockouts"))
    assert page.status_code == 200 and 'data-username="sam"' not in page.content.decode()
    response = client.post(reverse("lockouts"), {"attempt": _attempt("sam").pk}, follow=True)
    assert "already ended" in response.content.decode()
    assert AccessAttempt.objects.filter(username="sam").exists()
    assert _login(Client(), "sam", PASSWORD).status_code == 429


def test_lift_lockout_with_a_bad_id_is_refused_not_a_500(admin_user, client_for):
    assert client_for(admin_user).post(reverse("lockouts"), {"attempt": "x"}).status_code == 400


# --- passwords -----------------------------------------------------------------------------------

def test_validators_refuse_weak_passwords_and_accept_the_fixture_password(standard_user):
    for weak in ("weakpw12", "123456789012", "password1234", "sam@example.test"):
        with pytest.raises(ValidationError):
            validate_password(weak, standard_user)
    validate_password(PASSWORD, standard_user)
    validate_password("zylker-demo-2026", standard_user)


def test_sign_up_refuses_a_short_password_by_field_in_both_languages():
    data = {"org_name": "Initech", "username": "peter", "email": "p@initech.test", "password": "weakpw12"}
    response = Client().post(reverse("signup"), data)
    assert response.status_code == 400
    assert "at least 12 characters" in " ".join(response.context["form"].errors["password"])
    response = Client().post(reverse("signup"), data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "12" in " ".join(response.context["form"].errors["password"])
    assert "at least" not in " ".join(response.context["form"].errors["password"])
    assert not User.objects.filter(username="peter").exists()


def test_admin_adding_a_user_gets_the_validators_message(admin_user, client_for):
    response = client_for(admin_user).post(reverse("users"), {
        "op": "add", "username": "newbie", "email": "n@acme.test", "role": "standard", "password": "weakpw12"})
    assert response.status_code == 400
    assert "password" in response.context["form"].errors
    assert not User.objects.filter(username="newbie").exists()


def _membership(user) -> Membership:
    return Membership.objects.get(user=user, org=user.org)


def test_admin_sets_a_password_the_user_must_change(admin_user, standard_user, client_for):
    sam_old_session = client_for(standard_user)
    url = reverse("user_password", args=[_membership(standard_user).pk])
    admin = client_for(admin_user)
    response = admin.post(url, {"password": "weakpw12", "must_change": "on"})
    assert response.status_code == 400 and "password" in response.context["form"].errors
    response = admin.post(url, {"password": "temporary-pass-77", "must_change": "on"})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(org=admin_user.org, event=AuditEntry.Event.USER_PASSWORD_SET,
                                     object_id=str(standard_user.pk)).exists()
    # The user's session from before the change has ended.
    assert sam_old_session.get(reverse("crm:list", args=["accounts"])).status_code == 302
    client = Client()
    assert _login(client, "sam", "temporary-pass-77").status_code == 302
    response = client.get(reverse("crm:list", args=["accounts"]))
    assert response.status_code == 302 and response.url == reverse("password_change")
    page = client.get(reverse("password_change"))
    assert page.status_code == 200 and 'data-testid="password-change-required"' in page.content.decode()
    response = client.post(reverse("password_change"), {"old_password": "temporary-pass-77",
                                                         "new_password1": "weakpw12", "new_password2": "weakpw12"})
    assert response.status_code == 200 and "new_password2" in response.context["form"].errors
    response = client.post(reverse("password_change"), {"old_password": "temporary-pass-77",
                                                         "new_password1": "my-own-secret-81",
                                                         "new_password2": "my-own-secret-81"})
    assert response.status_code == 302
    assert client.get(reverse("crm:list", args=["accounts"])).status_code == 200
    standard_user.refresh_from_db()
    assert not standard_user.must_change_password and standard_user.check_password("my-own-secret-81")


def test_a_standard_user_may_not_set_anothers_password(standard_user, other_user, client_for):
    url = reverse("user_password", args=[_membership(other_user).pk])
    client = client_for(standard_user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"password": "temporary-pass-77"}).status_code == 404
    other_user.refresh_from_db()
    assert other_user.check_password(PASSWORD)


def test_another_orgs_admin_may_not_set_this_orgs_users_password(standard_user, other_org_user, client_for):
    url = reverse("user_password", args=[_membership(standard_user).pk])
    assert client_for(other_org_user).post(url, {"password": "temporary-pass-77"}).status_code == 404
    standard_user.refresh_from_db()
    assert standard_user.check_password(PASSWORD)


def test_the_action_refuses_a_non_admin_and_another_org(admin_user, standard_user, other_org_user):
    from django.core.exceptions import PermissionDenied

    from access.actions import do_set_user_password

    for actor in (standard_user, other_org_user):
        with pytest.raises(PermissionDenied):
            do_set_user_password(_membership(admin_user), "temporary-pass-77", must_change=False, actor=actor)


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(standard_user):
    here, elsewhere = Client(), Client()
    assert _login(here, "sam", PASSWORD).status_code == 302
    assert _login(elsewhere, "sam", PASSWORD).status_code == 302
    assert 'data-testid="change-password-link"' in here.get(reverse("crm:list", args=["accounts"])).content.decode()
    response = here.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": "my-own-secret-81",
                                                       "new_password2": "my-own-secret-81"})
    assert response.status_code == 302
    assert here.get(reverse("crm:list", args=["accounts"])).status_code == 200
    assert elsewhere.get(reverse("crm:list", args=["accounts"])).status_code == 302


def test_change_password_needs_the_old_one(standard_user, client_for):
    response = client_for(standard_user).post(reverse("password_change"), {
        "old_password": WRONG, "new_password1": "my-own-secret-81", "new_password2": "my-own-secret-81"})
    assert response.status_code == 200 and "old_password" in response.context["form"].errors
    standard_user.refresh_from_db()
    assert standard_user.check_password(PASSWORD)


# --- sessions ------------------------------------------------------------------------------------

def _age_session(client: Client, key: str, seconds: int) -> None:
    session = client.session
    session[key] = int(time.time()) - seconds
    session.save()


def test_an_idle_session_is_logged_out_on_its_next_request(standard_user, client_for):
    client = client_for(standard_user)
    url = reverse("crm:list", args=["accounts"])
    assert client.get(url).status_code == 200
    _age_session(client, SESSION_SEEN_AT_KEY, settings.SESSION_IDLE_TIMEOUT - 120)
    assert client.get(url).status_code == 200  # not idle long enough; the request counts as activity
    _age_session(client, SESSION_SEEN_AT_KEY, settings.SESSION_IDLE_TIMEOUT + 60)
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert "_auth_user_id" not in client.session
    assert client.get(url).status_code == 302


def test_idle_timeout_with_time_machine(standard_user):
    import time_machine

    client = Client()
    url = reverse("crm:list", args=["accounts"])
    with time_machine.travel(time.time(), tick=False) as traveller:
        assert _login(client, "sam", PASSWORD).status_code == 302
        traveller.shift(7 * 60 * 60)
        assert client.get(url).status_code == 200
        traveller.shift(7 * 60 * 60)  # 7 hours since the last request, 14 since the login
        assert client.get(url).status_code == 200
        traveller.shift(settings.SESSION_IDLE_TIMEOUT + 60)
        assert client.get(url).status_code == 302


def test_a_session_ends_at_its_absolute_lifetime_even_when_active(standard_user, client_for):
    client = client_for(standard_user)
    url = reverse("crm:list", args=["accounts"])
    _age_session(client, SESSION_LOGIN_AT_KEY, settings.SESSION_COOKIE_AGE + 60)
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert settings.SESSION_COOKIE_AGE == 14 * 24 * 60 * 60 and settings.SESSION_IDLE_TIMEOUT == 8 * 60 * 60


def test_a_forced_change_sends_htmx_pieces_to_the_page_not_into_it(admin_user, standard_user, client_for):
    from access.actions import do_set_user_password

    do_set_user_password(_membership(standard_user), "temporary-pass-77", must_change=True, actor=admin_user)
    client = Client()
    assert _login(client, "sam", "temporary-pass-77").status_code == 302
    target = reverse("password_change")
    response = client.get(reverse("work:count"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/m/")
    assert response.status_code == 204 and response["HX-Redirect"] == target
    response = client.get(reverse("work:count"), HTTP_HX_REQUEST="true",
                          HTTP_HX_CURRENT_URL=f"http://testserver{target}")
    assert response.status_code == 204 and "HX-Redirect" not in response


def test_an_idle_sessions_htmx_piece_sends_the_page_to_the_login(standard_user, client_for):
    client = client_for(standard_user)
    _age_session(client, SESSION_SEEN_AT_KEY, settings.SESSION_IDLE_TIMEOUT + 60)
    response = client.get(reverse("work:count"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("login")
