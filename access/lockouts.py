"""Failed-login lockouts (django-axes, attempts in the database): what the login page says when a
username is locked out from an address, and which of an org's users are locked out now.

Lifting a lockout is an action (`access.actions.do_lift_lockout`)."""
from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from .models import Membership, Organization, User


def username_of(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username a login attempt is counted under (AXES_USERNAME_CALLABLE): as django-axes reads
    it, cut to the longest username there can be, so that a 10,000-character name is a failed login
    like any other and not a database error."""
    field = "username"
    value = (credentials or {}).get(field) if credentials else request.POST.get(field)
    if value is None:
        return None
    return str(value)[:User._meta.get_field("username").max_length]


def cooloff_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_response(request: HttpRequest, original_response: Any = None,
                     credentials: dict | None = None) -> HttpResponse:
    """The login page again, with the username kept and the lockout explained (429)."""
    # The login form allauth is configured with (ACCOUNT_FORMS: access.forms.LoginForm), loaded once
    # the apps are.
    from allauth.account import app_settings as account_settings
    from allauth.account.forms import LoginForm
    from allauth.utils import get_form_class

    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = get_form_class(account_settings.FORMS, "login", LoginForm)(request=request, initial={"login": username})
    next_url = request.POST.get("next", "")
    return render(request, "access/login.html",
                  {"form": form, "locked_out": True, "cooloff_minutes": cooloff_minutes(),
                   "redirect_field_name": "next", "redirect_field_value": next_url}, status=429)


def current_lockouts(org: Organization) -> QuerySet[AccessAttempt]:
    """Lockouts in force of the org's users (active or not): the failure limit reached within the
    cool-off time. Matched by username through the org's memberships (one query)."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    usernames = Membership.objects.filter(org=org).values("user__username")
    return (AccessAttempt.objects.filter(username__in=usernames, failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
                                         attempt_time__gte=since)
            .order_by("-attempt_time", "pk"))
