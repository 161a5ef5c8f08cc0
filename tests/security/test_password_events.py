"""A person's own password changes reach the security log (security.password_signals, from
allauth's signals): changed on the password page, reset through the e-mailed link; in the
person's organisation only, and shown in the log in both languages."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from security.models import SecurityEvent
from tests.access.test_allauth import PASSWORD, _link, _login

pytestmark = pytest.mark.django_db(transaction=True)  # allauth signals after the commit, as live

Kind = SecurityEvent.Kind


def _kinds(user) -> list[str]:
    return list(SecurityEvent.objects.filter(user=user, kind__in=[Kind.PASSWORD_CHANGED, Kind.PASSWORD_RESET])
                .order_by("at", "pk").values_list("kind", flat=True))


def test_changing_ones_password_is_logged_in_ones_organisation_only(admin_user, standard_user, other_org_user):
    client = Client()
    assert _login(client, "sam").status_code == 302
    response = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": "my-own-secret-81",
                                                          "new_password2": "my-own-secret-81"})
    assert response.status_code == 302
    assert _kinds(standard_user) == [Kind.PASSWORD_CHANGED]
    event = SecurityEvent.objects.get(user=standard_user, kind=Kind.PASSWORD_CHANGED)
    assert event.org_id == standard_user.org.pk and event.ip == "127.0.0.1"
    assert not SecurityEvent.objects.filter(org=other_org_user.org, kind=Kind.PASSWORD_CHANGED).exists()

    admin = Client()
    _login(admin, "acme-admin")
    admin.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = admin.get(reverse("security:log")).content.decode()
    assert "已修改密码" in page

    wrong = client.post(reverse("password_change"), {"old_password": "not-the-old-one", "new_password1": "x-y-z-123456",
                                                       "new_password2": "x-y-z-123456"})
    assert wrong.status_code == 200 and _kinds(standard_user) == [Kind.PASSWORD_CHANGED]  # a refused change: nothing


def test_a_reset_by_mail_is_logged(standard_user, mailoutbox):
    client = Client()
    client.post(reverse("account_reset_password"), {"email": "sam@example.test"})
    link = _link(mailoutbox[-1], "/accounts/password/reset/key/")
    response = client.get(link)
    form_url = response.url if response.status_code == 302 else link
    assert _kinds(standard_user) == []  # asking for the link changes nothing
    response = client.post(form_url, {"password1": "a-brand-new-secret-7", "password2": "a-brand-new-secret-7"})
    assert response.status_code == 302
    assert _kinds(standard_user) == [Kind.PASSWORD_RESET]
