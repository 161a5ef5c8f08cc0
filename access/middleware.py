from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _

from .models import Membership
from .visibility import bind_org

SESSION_ORG_KEY = "org_id"


class OrganizationMiddleware:
    """Binds request.org from the user's active membership; no membership, no session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.org = None
        request.membership = None
        user = request.user
        if user.is_authenticated:
            membership = self._membership(request, user)
            if membership is None:
                logout(request)
                messages.error(request, _("Your account has no active organisation. Ask an administrator."))
                return redirect("login")
            request.org = membership.org
            request.membership = membership
            bind_org(user, membership.org, membership)
        return self.get_response(request)

    def _membership(self, request, user):
        active = Membership.objects.select_related("org", "profile", "org_role").filter(user=user, is_active=True)
        wanted = request.session.get(SESSION_ORG_KEY) or user.last_org_id
        membership = None
        if wanted:
            membership = active.filter(org_id=wanted).first()
        if membership is None:
            membership = active.order_by("pk").first()
        return membership


class UserLanguageMiddleware:
    """Activates the language saved on the user (after LocaleMiddleware, which covers visitors)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.language:
            return self.get_response(request)
        request.LANGUAGE_CODE = user.language
        with translation.override(user.language):  # restored afterwards: threads are reused
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", user.language)
        return response
