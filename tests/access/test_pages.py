"""Sign-up, users, organisation switching and language, through the pages."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from access.actions import do_add_user
from access.models import Membership, Organization, User

pytestmark = pytest.mark.django_db


def test_sign_up_creates_org_and_administrator(mailoutbox):
    client = Client()
    response = client.post(reverse("signup"), {"org_name": "Initech", "username": "peter", "email": "p@initech.test",
                                               "password": "tps-reports-42"})
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="peter")
    assert membership.org.name == "Initech" and membership.role == "admin"
    # The administrator logs in by opening the link of the verification e-mail (tests/access/test_allauth.py).
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mailoutbox[-1].body)[1]
    assert client.post(link).status_code == 302
    assert client.get(reverse("users")).status_code == 200


def test_sign_up_rejects_weak_password_and_taken_username(admin_user):
    response = Client().post(reverse("signup"), {"org_name": "X", "username": admin_user.username,
                                                 "email": "x@x.test", "password": "123"})
    assert response.status_code == 400
    assert {"username", "password"} <= set(response.context["form"].errors)
    assert not Organization.objects.filter(name="X").exists()


def test_admin_adds_user_who_can_log_in(admin_user, client_for):
    response = client_for(admin_user).post(reverse("users"), {
        "op": "add", "username": "newbie", "email": "n@acme.test", "role": "standard", "password": "first-day-2026",
    })
    assert response.status_code == 302
    client = Client()
    assert client.post(reverse("login"), {"username": "newbie", "password": "first-day-2026"}).status_code == 302
    assert client.get(reverse("crm:list", args=["accounts"])).status_code == 200
    assert client.get(reverse("users")).status_code == 404


def test_standard_user_cannot_add_or_deactivate(admin_user, standard_user, client_for):
    client = client_for(standard_user)
    assert client.post(reverse("users"), {"op": "add", "username": "sneaky", "email": "s@x.test",
                                          "role": "admin", "password": "sneaky-pass-1"}).status_code == 404
    assert not User.objects.filter(username="sneaky").exists()
    assert client.post(reverse("users"), {"op": "deactivate",
                                          "membership": admin_user.membership.pk}).status_code == 404
    assert Membership.objects.get(pk=admin_user.membership.pk).is_active


def test_admin_cannot_touch_another_orgs_membership(admin_user, other_org_user, client_for):
    response = client_for(admin_user).post(reverse("users"), {"op": "deactivate",
                                                             "membership": other_org_user.membership.pk})
    assert response.status_code == 404
    assert Membership.objects.get(pk=other_org_user.membership.pk).is_active


def test_deactivate_then_reactivate(admin_user, standard_user, client_for):
    admin = client_for(admin_user)
    admin.post(reverse("users"), {"op": "deactivate", "membership": standard_user.membership.pk})
    client = client_for(standard_user)
    assert client.get(reverse("crm:list", args=["accounts"])).status_code == 302
    admin.post(reverse("users"), {"op": "activate", "membership": standard_user.membership.pk})
    assert client_for(standard_user).get(reverse("crm:list", args=["accounts"])).status_code == 200


def test_user_in_two_orgs_switches(admin_user, other_org_user, client_for):
    do_add_user(other_org_user.org, username="both", email="b@x.test", password="both-orgs-2026",
                role="standard", actor=other_org_user)
    user = User.objects.get(username="both")
    Membership.objects.create(org=admin_user.org, user=user, role="standard")
    client = Client()
    client.force_login(user)
    client.post(reverse("switch_org"), {"org": admin_user.org.pk})
    assert client.get(reverse("crm:list", args=["accounts"])).context["current_org"] == admin_user.org
    client.post(reverse("switch_org"), {"org": other_org_user.org.pk})
    assert client.get(reverse("crm:list", args=["accounts"])).context["current_org"] == other_org_user.org


def test_switch_to_foreign_org_is_404(admin_user, other_org_user, client_for):
    assert client_for(admin_user).post(reverse("switch_org"), {"org": other_org_user.org.pk}).status_code == 404


def test_language_is_saved_per_user(standard_user, client_for):
    client = client_for(standard_user)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    standard_user.refresh_from_db()
    assert standard_user.language == "zh-hans"
    fresh = Client()
    fresh.force_login(standard_user)
    body = fresh.get(reverse("crm:list", args=["accounts"])).content.decode()
    assert "客户" in body  # "Accounts" in Simplified Chinese
