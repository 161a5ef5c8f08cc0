"""Sessions: a person sees where they are signed in and ends the others; changing one's password
ends the other sessions and keeps this one; an administrator signs a member out everywhere (and
nobody else may); every ended session really is ended for the browser that had it."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from access.actions import do_set_membership_active
from access.models import Membership
from security.models import LoginEvent, SecurityEvent, UserSession
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGE = reverse("security:account")


def _browser(username: str, ip: str, agent: str) -> Client:
    client = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    assert client.post(reverse("login"), {"username": username, "password": PASSWORD}).status_code == 302
    return client


def _signed_in(client: Client) -> bool:
    return client.get(reverse("crm:list", args=["accounts"])).status_code == 200


def _membership(user) -> Membership:
    return Membership.objects.get(org=user.org, user=user)


def test_a_person_sees_their_sessions_and_ends_another(standard_user, other_user):
    here, laptop = _browser("sam", "10.0.0.1", "Here/1.0"), _browser("sam", "10.0.0.2", "Laptop/2.0")
    olga = _browser("olga", "10.0.0.3", "Olga/3.0")
    page = here.get(PAGE)
    assert page.status_code == 200
    sessions = page.context["sessions"]
    assert [(s.ip, s.user_agent, s.current) for s in sessions] == [("10.0.0.2", "Laptop/2.0", False),
                                                                    ("10.0.0.1", "Here/1.0", True)]
    assert "Olga/3.0" not in page.content.decode()
    other = sessions[0]
    response = here.post(PAGE, {"session": other.id})
    assert response.status_code == 302
    assert not _signed_in(laptop) and _signed_in(here) and _signed_in(olga)
    assert [s.ip for s in here.get(PAGE).context["sessions"]] == ["10.0.0.1"]
    ended = LoginEvent.objects.get(kind="signed_out")
    assert (ended.user_id, ended.ip, ended.user_agent, ended.details) == (standard_user.pk, "10.0.0.2", "Laptop/2.0",
                                                                          {"by": "self"})
    logged = SecurityEvent.objects.get(kind="sessions_ended")
    assert (logged.user_id, logged.details, logged.ip) == (standard_user.pk, {"count": 1}, "10.0.0.1")


def test_sign_out_all_other_sessions_keeps_this_one(standard_user):
    here = _browser("sam", "10.0.0.1", "Here/1.0")
    others = [_browser("sam", f"10.0.0.{n}", "Other") for n in (2, 3)]
    here.post(PAGE, {"op": "end_others"})
    assert _signed_in(here) and not any(_signed_in(c) for c in others)
    assert UserSession.objects.count() == 1


def test_nobody_ends_another_persons_session_or_their_own_current_one(standard_user, other_user):
    sam, olga = _browser("sam", "10.0.0.1", "Sam"), _browser("olga", "10.0.0.2", "Olga")
    olgas = UserSession.objects.get(user=other_user)
    response = sam.post(PAGE, {"session": olgas.pk}, follow=True)
    assert "This session has already ended." in response.content.decode()
    assert _signed_in(olga)
    own = UserSession.objects.get(user=standard_user)
    sam.post(PAGE, {"session": own.pk})
    assert _signed_in(sam)
    assert sam.post(PAGE, {"session": "not-an-id"}).status_code == 400


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(standard_user):
    here, elsewhere = _browser("sam", "10.0.0.1", "Here"), _browser("sam", "10.0.0.2", "Elsewhere")
    response = here.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": "my-own-secret-81",
                                                       "new_password2": "my-own-secret-81"})
    assert response.status_code == 302
    assert _signed_in(here) and not _signed_in(elsewhere)
    # The session kept got a new key: the list follows it and shows it as this one, alone.
    sessions = here.get(PAGE).context["sessions"]
    assert [(s.ip, s.current) for s in sessions] == [("10.0.0.1", True)]
    assert UserSession.objects.filter(session_key=here.session.session_key).exists()


def test_an_admin_signs_a_member_out_everywhere(admin_user, standard_user, client_for):
    phone, laptop = _browser("sam", "10.0.0.1", "Phone"), _browser("sam", "10.0.0.2", "Laptop")
    admin = client_for(admin_user)
    membership = _membership(standard_user)
    page = admin.get(reverse("security:member", args=[membership.pk]))
    assert page.status_code == 200 and len(page.context["sessions"]) == 2
    assert [e.kind for e in page.context["history"]] == ["login", "login"]
    response = admin.post(reverse("security:sign_out", args=[membership.pk]))
    assert response.status_code == 302
    assert not _signed_in(phone) and not _signed_in(laptop) and _signed_in(admin)
    event = SecurityEvent.objects.get(kind="signed_out_everywhere")
    assert (event.org_id, event.user_id, event.actor_id, event.details) == (
        admin_user.org.pk, standard_user.pk, admin_user.pk, {"count": 2})
    assert LoginEvent.objects.filter(kind="signed_out", user=standard_user, details={"by": "admin"}).count() == 2
    assert admin.get(reverse("security:member", args=[membership.pk])).context["sessions"] == []


def test_an_admin_signing_themselves_out_everywhere_keeps_this_session(admin_user):
    here, other = _browser("acme-admin", "10.0.0.1", "Here"), _browser("acme-admin", "10.0.0.2", "Other")
    here.post(reverse("security:sign_out", args=[_membership(admin_user).pk]))
    assert _signed_in(here) and not _signed_in(other)


def test_a_member_and_another_orgs_admin_may_not_see_or_sign_out(admin_user, standard_user, other_user,
                                                               other_org_user, client_for):
    sam = _browser("sam", "10.0.0.1", "Sam")
    membership = _membership(standard_user)
    for intruder in (other_user, other_org_user):
        client = client_for(intruder)
        assert client.get(reverse("security:member", args=[membership.pk])).status_code == 404
        assert client.post(reverse("security:sign_out", args=[membership.pk])).status_code == 404
    assert _signed_in(sam)
    assert not SecurityEvent.objects.filter(kind="signed_out_everywhere").exists()


def test_a_person_in_two_orgs_is_signed_out_everywhere_and_only_the_acting_orgs_log_says_so(
        admin_user, standard_user, other_org_user, client_for):
    Membership.objects.create(org=other_org_user.org, user=standard_user)
    sam = _browser("sam", "10.0.0.1", "Sam")
    client_for(admin_user).post(reverse("security:sign_out", args=[_membership(standard_user).pk]))
    assert not _signed_in(sam)
    assert list(SecurityEvent.objects.filter(kind="signed_out_everywhere").values_list("org_id", flat=True)) == [
        admin_user.org.pk]
    # Globex's admin sees the member's history (ended by "an administrator"), not who did it.
    globex = client_for(other_org_user)
    membership = Membership.objects.get(org=other_org_user.org, user=standard_user)
    page = globex.get(reverse("security:member", args=[membership.pk])).content.decode()
    assert "by an administrator" in page and "Alice" not in page


def test_deactivation_still_ends_the_sessions(admin_user, standard_user):
    sam = _browser("sam", "10.0.0.1", "Sam")
    do_set_membership_active(_membership(standard_user), False, actor=admin_user)
    assert not _signed_in(sam)


def test_the_pages_in_chinese(admin_user, standard_user, client_for):
    sam = _browser("sam", "10.0.0.1", "Sam")
    page = sam.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    admin = client_for(admin_user)
    admin.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = admin.get(reverse("security:member", args=[_membership(standard_user).pk])).content.decode()
    assert "全部登出" in html and "登录记录" in html
