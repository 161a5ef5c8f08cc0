from __future__ import annotations

import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, user_logged_in
from django.dispatch import receiver
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from . import seal
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
        if not user.is_authenticated:
            with seal.unbound():  # a visitor sees no organisation's data
                return self.get_response(request)
        # The tenant seal: the database shows this org's rows (and the user's own memberships) until
        # the response is made, and nothing afterwards (restored in a finally: the connection is reused).
        wanted = request.session.get(SESSION_ORG_KEY) or user.last_org_id
        with seal.bound(wanted, user.pk):
            membership = self._membership(wanted, user)
            if membership is None:
                logout(request)
                messages.error(request, _("Your account has no active organisation. Ask an administrator."))
                return redirect("login")
            if membership.org_id != seal.current_org_id():
                seal.rebind(membership.org_id, user.pk)
            request.org = membership.org
            request.membership = membership
            bind_org(user, membership.org, membership)
            response = self.get_response(request)
        if response.streaming and not isinstance(response, FileResponse):  # its body is read after this returns: bound again while it is
            response.streaming_content = seal.sealed_stream(response.streaming_content, membership.org_id, user.pk)
        return response

    def _membership(self, wanted, user):
        active = Membership.objects.select_related("org", "profile", "org_role").filter(user=user, is_active=True)
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


SESSION_LOGIN_AT_KEY = "login_at"
SESSION_SEEN_AT_KEY = "seen_at"
# The last-activity time is written at most this often (seconds), so that a page does not save the
# session on every request; the idle timeout is accurate to within this much.
SEEN_AT_RESOLUTION = 60


@receiver(user_logged_in)
def _stamp_login(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[SESSION_LOGIN_AT_KEY] = now
        request.session[SESSION_SEEN_AT_KEY] = now


class SessionIdleTimeoutMiddleware:
    """Ends a session idle for longer than SESSION_IDLE_TIMEOUT seconds, or older than
    SESSION_COOKIE_AGE since the login (Django's own expiry moves forward whenever the session is
    saved, so the absolute lifetime is kept here). The next request goes to the login page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            session = request.session
            seen_at = session.get(SESSION_SEEN_AT_KEY)
            login_at = session.get(SESSION_LOGIN_AT_KEY)
            idle = seen_at is not None and now - int(seen_at) > settings.SESSION_IDLE_TIMEOUT
            old = login_at is not None and now - int(login_at) > settings.SESSION_COOKIE_AGE
            if idle or old:
                logout(request)
                messages.info(request, _("Your session has ended after a period of inactivity. Please log in again.")
                              if idle else _("Your session has ended. Please log in again."))
                if request.headers.get("HX-Request"):  # a piece of a page: the whole page goes to the login
                    return HttpResponse(status=204, headers={"HX-Redirect": reverse(settings.LOGIN_URL)})
                if request.method == "GET":
                    return redirect(f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': request.get_full_path()})}")
                return redirect(settings.LOGIN_URL)
            if seen_at is None or now - int(seen_at) >= SEEN_AT_RESOLUTION:
                session[SESSION_SEEN_AT_KEY] = now
            if login_at is None:
                session[SESSION_LOGIN_AT_KEY] = now
        return self.get_response(request)


# What a user who must change their password may still reach: that page, logging out, the language
# switch. Everything else redirects to the change-password page.
PASSWORD_CHANGE_ALLOWED = ("password_change", "logout", "set_language")


class PasswordChangeRequiredMiddleware:
    """A user whose password an administrator set with "must change at next login" is sent to the
    change-password page until they have chosen their own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and getattr(user, "must_change_password", False):
            allowed = {reverse(name) for name in PASSWORD_CHANGE_ALLOWED}
            if request.path not in allowed:
                return _move_to(request, reverse("password_change"))
        return self.get_response(request)


def _move_to(request, target: str):
    """The whole page goes to `target`: a redirect, or for a piece of a page (htmx: the
    navigation's counters) nothing when the page is there already, else an HX-Redirect."""
    if request.headers.get("HX-Request"):
        on_target = urlsplit(request.headers.get("HX-Current-URL", "")).path == target
        return HttpResponse(status=204, headers={} if on_target else {"HX-Redirect": target})
    return redirect(target)


# What a user who must set up two-factor authentication may still reach: its pages (and the
# password confirmation they may ask for), their account page, logging out, the language switch.
TWO_FACTOR_ALLOWED = ("account", "logout", "account_logout", "set_language", "password_change",
                      "account_reauthenticate", "mfa_reauthenticate", "mfa_index", "mfa_activate_totp",
                      "mfa_view_recovery_codes", "mfa_generate_recovery_codes", "mfa_download_recovery_codes")


class TwoFactorRequiredMiddleware:
    """A user whose organisation requires two-factor authentication of them (access.two_factor) and
    who has no authenticator app is sent to set one up, and may not turn it off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from . import two_factor  # allauth's models are loaded with the apps

        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and two_factor.is_required(getattr(request, "membership", None))):
            has_app = two_factor.has_authenticator_app(user)
            if not has_app and request.path not in {reverse(name) for name in TWO_FACTOR_ALLOWED}:
                return self._send_to(request, "mfa_activate_totp",
                                     _("Your organisation requires two-factor authentication. Set up an "
                                       "authenticator app to continue."))
            if has_app and request.path == reverse("mfa_deactivate_totp"):
                return self._send_to(request, "account",
                                     _("Your organisation requires two-factor authentication: it cannot be "
                                       "turned off."))
        return self.get_response(request)

    @staticmethod
    def _send_to(request, name: str, message: str):
        if request.method == "GET" and not request.headers.get("HX-Request"):
            messages.warning(request, message)
        return _move_to(request, reverse(name))
