"""Accounts on django-allauth, through the pages: logging in, sign-up with a verified e-mail
address (unique whatever its case), password reset by e-mail, two-factor authentication with an
authenticator app and recovery codes, and the organisation's two-factor requirement."""
from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from access.actions import do_add_user, do_set_two_factor_policy
from access.models import AuditEntry, Organization, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ACCOUNTS = "/m/accounts/"


def _login(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _link(mail, path: str) -> str:
    """The link of an e-mail that starts with `path` (without the scheme and host)."""
    return re.search(rf"http://testserver({re.escape(path)}\S+)", mail.body)[1]


def totp_code(secret: str) -> str:
    """The code an authenticator app shows now for this secret (allauth.mfa's own computation)."""
    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def _sign_up(client: Client, **data) -> object:
    fields = {"org_name": "Initech", "username": "peter", "email": "peter@initech.test",
              "password": "tps-reports-2026", **data}
    return client.post(reverse("signup"), fields)


# --- logging in ----------------------------------------------------------------------------------

def test_login_with_the_right_password_and_refused_with_a_wrong_one(standard_user):
    client = Client()
    response = _login(client, "sam", "not-the-password-99")
    assert response.status_code == 200 and not _logged_in(client)
    assert response.context["form"].errors
    response = _login(client, "sam")
    assert response.status_code == 302 and response.url == reverse("home")
    assert _logged_in(client)
    assert client.get(ACCOUNTS).status_code == 200


def test_login_page_in_chinese_links_to_the_password_reset():
    page = Client().get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "忘记密码" in page and reverse("account_reset_password") in page
    assert 'name="username"' in page and 'name="password"' in page


def test_allauths_own_login_address_leads_to_the_apps_login():
    response = Client().get("/accounts/login/?next=/m/accounts/")
    assert response.status_code == 302 and response.url == "/login/?next=/m/accounts/"


def test_logout_ends_the_session(standard_user):
    client = Client()
    _login(client, "sam")
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert not _logged_in(client)


# --- sign-up and e-mail verification -------------------------------------------------------------

def test_sign_up_sends_a_verification_mail_whose_link_verifies_and_logs_in(mailoutbox):
    client = Client()
    response = _sign_up(client)
    assert response.status_code == 302 and response.url == reverse("account_email_verification_sent")
    user = User.objects.get(username="peter")
    assert user.memberships.get().role == "admin" and user.memberships.get().org.name == "Initech"
    assert not _logged_in(client)
    assert EmailAddress.objects.get(user=user).verified is False
    [mail] = mailoutbox
    assert mail.to == ["peter@initech.test"] and mail.subject.startswith("[TeamCRM]")
    link = _link(mail, "/accounts/confirm-email/")
    # Logging in before the address is verified is not possible (the mail is not sent again at once).
    assert _login(Client(), "peter", "tps-reports-2026").url == reverse("account_email_verification_sent")
    page = client.get(link)
    assert page.status_code == 200 and "peter@initech.test" in page.content.decode()
    response = client.post(link)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified is True
    assert _logged_in(client) and client.get(reverse("users")).status_code == 200
    assert _login(Client(), "peter", "tps-reports-2026").status_code == 302
    assert _login(Client(), "peter", "tps-reports-2026").url == reverse("home")


def test_verification_pages_in_chinese(mailoutbox):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    response = _sign_up(client)
    page = client.get(response.url).content.decode()
    assert "验证" in page and 'class="container account-page"' in page
    [mail] = mailoutbox
    assert "/accounts/confirm-email/" in mail.body


def test_a_bad_verification_link_verifies_nothing(mailoutbox):
    _sign_up(Client())
    response = Client().post("/accounts/confirm-email/not-a-key/")
    assert response.status_code in (200, 404)
    assert not EmailAddress.objects.filter(verified=True, email="peter@initech.test").exists()


@pytest.mark.parametrize("address", ["admin@acme.test", "ADMIN@Acme.Test"])
def test_sign_up_refuses_an_address_already_in_use_whatever_its_case(admin_user, address, mailoutbox):
    response = _sign_up(Client(), email=address)
    assert response.status_code == 400
    assert "email" in response.context["form"].errors
    assert "already exists" in " ".join(response.context["form"].errors["email"])
    assert not User.objects.filter(username="peter").exists()
    assert not Organization.objects.filter(name="Initech").exists()
    assert not mailoutbox


def test_sign_up_refuses_a_used_address_in_chinese(admin_user):
    response = Client().post(reverse("signup"), {"org_name": "X", "username": "peter", "email": "Admin@acme.test",
                                                 "password": "tps-reports-2026"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400 and "已有用户使用此电子邮件地址" in response.content.decode()


@pytest.mark.parametrize("address", ["admin@acme.test", "Admin@ACME.test"])
def test_an_administrator_cannot_add_a_user_with_an_address_in_use(admin_user, client_for, address):
    response = client_for(admin_user).post(reverse("users"), {
        "op": "add", "username": "newbie", "email": address, "role": "standard", "password": "first-day-2026"})
    assert response.status_code == 400 and "email" in response.context["form"].errors
    assert not User.objects.filter(username="newbie").exists()
    with pytest.raises(ValidationError) as refused:
        do_add_user(admin_user.org, username="newbie", email=address, password="first-day-2026", role="standard",
                    actor=admin_user)
    assert "email" in refused.value.message_dict


def test_an_address_is_unique_in_the_database_too(admin_user):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="sneaky", email="ADMIN@acme.test", password=PASSWORD)


def test_users_added_by_an_administrator_are_verified_and_log_in_at_once(admin_user, standard_user):
    assert EmailAddress.objects.get(user=standard_user).verified is True
    assert EmailAddress.objects.get(user=admin_user).verified is True  # made by the action, as the demo's
    assert _login(Client(), "sam").status_code == 302


# --- password reset -----------------------------------------------------------------------------

def test_password_reset_by_mail_sets_a_valid_new_password_and_ends_other_sessions(standard_user, mailoutbox):
    elsewhere = Client()
    assert _login(elsewhere, "sam").status_code == 302
    client = Client()
    response = client.post(reverse("account_reset_password"), {"email": "SAM@example.test"})
    assert response.status_code == 302
    [mail] = mailoutbox
    assert mail.to == ["sam@example.test"]
    link = _link(mail, "/accounts/password/reset/key/")
    response = client.get(link)
    form_url = response.url if response.status_code == 302 else link
    page = client.get(form_url)
    assert page.status_code == 200 and 'name="password1"' in page.content.decode()
    response = client.post(form_url, {"password1": "weakpw12", "password2": "weakpw12"})
    assert response.status_code == 200 and "at least 12 characters" in response.content.decode()
    response = client.post(form_url, {"password1": "a-brand-new-secret-7", "password2": "a-brand-new-secret-7"})
    assert response.status_code == 302
    standard_user.refresh_from_db()
    assert standard_user.check_password("a-brand-new-secret-7")
    assert elsewhere.get(ACCOUNTS).status_code == 302  # the session from before has ended
    assert _login(Client(), "sam").status_code == 200  # the old password no longer works
    assert _login(Client(), "sam", "a-brand-new-secret-7").status_code == 302
    # The link works once.
    assert client.post(form_url, {"password1": "another-secret-77", "password2": "another-secret-77"}).status_code != 302


def test_a_reset_for_an_unknown_address_says_nothing_of_it(mailoutbox):
    response = Client().post(reverse("account_reset_password"), {"email": "nobody@example.test"})
    assert response.status_code == 302  # the same answer as for a known address
    assert all("/accounts/password/reset/key/" not in mail.body for mail in mailoutbox)


def test_a_reset_ends_a_forced_change(admin_user, standard_user, mailoutbox):
    from access.actions import do_set_user_password
    from access.models import Membership

    do_set_user_password(Membership.objects.get(user=standard_user), "temporary-pass-77", must_change=True,
                         actor=admin_user)
    client = Client()
    client.post(reverse("account_reset_password"), {"email": "sam@example.test"})
    response = client.get(_link(mailoutbox[-1], "/accounts/password/reset/key/"))
    client.post(response.url, {"password1": "a-brand-new-secret-7", "password2": "a-brand-new-secret-7"})
    standard_user.refresh_from_db()
    assert not standard_user.must_change_password


# --- two-factor authentication ------------------------------------------------------------------

def _activate_totp(client: Client, password: str = PASSWORD) -> str:
    """Turn on the authenticator app from the account page (confirming the password first), with
    the code of the secret shown."""
    assert 'data-testid="two-factor-off"' in client.get(reverse("account")).content.decode()
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and response.url.startswith(reverse("account_reauthenticate"))
    assert client.post(response.url, {"password": "not-the-password-99"}).status_code == 200
    assert client.post(response.url, {"password": password}).url == reverse("mfa_activate_totp")
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    html = page.content.decode()
    assert f'value="{secret}"' in html and 'src="data:image/svg+xml;base64,' in html
    response = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert response.status_code == 200 and response.context["form"].errors
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    return secret


def test_turning_on_two_factor_makes_the_login_ask_for_a_code(standard_user):
    client = Client()
    _login(client, "sam")
    secret = _activate_totp(client)
    assert Authenticator.objects.filter(user=standard_user, type=Authenticator.Type.TOTP).exists()
    assert Authenticator.objects.filter(user=standard_user, type=Authenticator.Type.RECOVERY_CODES).exists()
    assert 'data-testid="two-factor-on"' in client.get(reverse("account")).content.decode()

    client = Client()
    response = _login(client, "sam")
    assert response.status_code == 302 and response.url == reverse("mfa_authenticate")
    assert not _logged_in(client)
    assert client.get(ACCOUNTS).status_code == 302  # nothing before the code
    response = client.post(reverse("mfa_authenticate"), {"code": "123456"})
    assert response.status_code == 200 and response.context["form"].errors and not _logged_in(client)
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302 and _logged_in(client)
    assert client.get(ACCOUNTS).status_code == 200


def test_the_code_page_is_the_apps_and_reads_in_chinese(standard_user):
    client = Client()
    _login(client, "sam")
    _activate_totp(client)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    _login(client, "sam")
    page = client.get(reverse("mfa_authenticate")).content.decode()
    assert "双因素身份认证" in page
    assert 'class="container account-page"' in page and "<script>" not in page


def test_a_recovery_code_works_once(standard_user):
    client = Client()
    _login(client, "sam")
    _activate_totp(client)
    recovery = Authenticator.objects.get(user=standard_user, type=Authenticator.Type.RECOVERY_CODES)
    code = recovery.wrap().get_unused_codes()[0]
    client = Client()
    _login(client, "sam")
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302 and _logged_in(client)
    client = Client()
    _login(client, "sam")
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 200 and not _logged_in(client)


def test_turning_two_factor_off(standard_user):
    client = Client()
    _login(client, "sam")
    _activate_totp(client)
    assert client.get(reverse("mfa_deactivate_totp")).status_code == 200
    assert client.post(reverse("mfa_deactivate_totp")).status_code == 302
    assert not Authenticator.objects.filter(user=standard_user, type=Authenticator.Type.TOTP).exists()
    client = Client()
    assert _login(client, "sam").url == reverse("home") and _logged_in(client)


def test_lockout_still_counts_with_two_factor_on(standard_user):
    from django.conf import settings

    client = Client()
    _login(client, "sam")
    _activate_totp(client)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(), "sam", "not-the-password-99")
    assert _login(Client(), "sam").status_code == 429


# --- the organisation's two-factor requirement ----------------------------------------------------

def test_only_an_administrator_may_change_the_requirement(admin_user, standard_user, other_org_user, client_for):
    standard = client_for(standard_user)
    assert standard.get(reverse("security_settings")).status_code == 404
    assert standard.post(reverse("security_settings"), {"policy": "everyone"}).status_code == 404
    with pytest.raises(PermissionDenied):
        do_set_two_factor_policy(admin_user.org, "everyone", actor=standard_user)
    with pytest.raises(PermissionDenied):
        do_set_two_factor_policy(admin_user.org, "everyone", actor=other_org_user)
    admin_user.org.refresh_from_db()
    assert admin_user.org.two_factor_policy == "nobody"

    admin = client_for(admin_user)
    page = admin.get(reverse("security_settings"))
    assert page.status_code == 200 and 'value="admins"' in page.content.decode()
    assert admin.post(reverse("security_settings"), {"policy": "sometimes"}).status_code == 400
    assert admin.post(reverse("security_settings"), {"policy": "admins"}).status_code == 302
    admin_user.org.refresh_from_db()
    assert admin_user.org.two_factor_policy == "admins"
    entry = AuditEntry.objects.get(org=admin_user.org, event=AuditEntry.Event.TWO_FACTOR_POLICY_CHANGED)
    assert entry.old_value == {"two_factor_policy": "nobody"} and entry.new_value == {"two_factor_policy": "admins"}
    assert entry.actor_id == admin_user.pk


def test_required_two_factor_sends_the_user_to_set_it_up_first(admin_user, standard_user, client_for):
    do_set_two_factor_policy(admin_user.org, "admins", actor=admin_user)
    assert client_for(standard_user).get(ACCOUNTS).status_code == 200  # not an administrator

    client = Client()
    _login(client, "acme-admin")
    response = client.get(ACCOUNTS)
    assert response.status_code == 302 and response.url == reverse("mfa_activate_totp")
    response = client.get(reverse("work:count"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/m/")
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("mfa_activate_totp")
    assert client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"}).status_code == 302
    assert client.get(reverse("account")).status_code == 200
    secret = _activate_totp(client)
    assert client.get(ACCOUNTS).status_code == 200
    # Required, it cannot be turned off.
    assert client.get(reverse("mfa_deactivate_totp")).url == reverse("account")
    client.post(reverse("mfa_deactivate_totp"))
    assert Authenticator.objects.filter(user=admin_user, type=Authenticator.Type.TOTP).exists()
    # Logging out still works, and the next login asks for the code.
    assert client.post(reverse("logout")).status_code == 302 and not _logged_in(client)
    client = Client()
    assert _login(client, "acme-admin").url == reverse("mfa_authenticate")
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.get(ACCOUNTS).status_code == 200


def test_required_for_everyone_covers_standard_users(admin_user, standard_user):
    do_set_two_factor_policy(admin_user.org, "everyone", actor=admin_user)
    client = Client()
    _login(client, "sam")
    assert client.get(ACCOUNTS).url == reverse("mfa_activate_totp")
    assert client.post(reverse("logout")).status_code == 302 and not _logged_in(client)


def test_allauth_pages_carry_the_policy_and_no_inline_script(standard_user):
    client = Client()
    for url in (reverse("login"), reverse("signup"), reverse("account_reset_password")):
        response = client.get(url)
        assert response.status_code == 200 and "'unsafe-inline'" not in response["Content-Security-Policy"]
    _login(client, "sam")
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    for url in (reverse("account"), reverse("mfa_activate_totp"), reverse("account_email"), reverse("password_change"),
                reverse("account_reauthenticate")):
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), url
        assert " style=" not in html, url
    assert "publickey-credentials-get=()" in client.get(reverse("account"))["Permissions-Policy"]
