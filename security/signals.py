"""Login events from Django's auth signals and django-axes's lockout signal, whatever view does the
login (the app's own login page, django-allauth's, the test client's force_login).

One row per attempt: a refused attempt of a username and address that is locked out (and the
attempt that locked it) is a lockout, not also a failure. django-axes's own failure receiver runs
first (axes is an earlier app), so by the time ours runs it has marked the request as locked out."""
from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from . import actions
from .client import username_tried
from .events import never_breaking
from .models import LoginEvent


@receiver(user_logged_in, dispatch_uid="security.logged_in")
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with never_breaking("a login"):
        actions.do_record_login_event(LoginEvent.Kind.LOGIN, user=user, username=user.get_username(),
                                      request=request)
        actions.do_index_session(user, request)


@receiver(user_login_failed, dispatch_uid="security.login_failed")
def _login_failed(sender: Any, credentials: dict | None = None, request: Any = None, **kwargs: Any) -> None:
    if request is not None and getattr(request, "axes_locked_out", False):
        return  # recorded as a lockout by the receiver below
    with never_breaking("a failed login"):
        name = username_tried(credentials)
        user = actions.user_named(name, email=bool((credentials or {}).get("email")))
        actions.do_record_login_event(LoginEvent.Kind.FAILED, user=user, username=name, request=request)


@receiver(user_locked_out, dispatch_uid="security.locked_out")
def _locked_out(sender: Any, request: Any = None, username: str | None = None, **kwargs: Any) -> None:
    with never_breaking("a lockout"):
        name = username or username_tried(getattr(request, "axes_credentials", None))
        details = {"failures": int(getattr(request, "axes_failures_since_start", 0) or 0)}
        actions.do_record_login_event(LoginEvent.Kind.LOCKED_OUT, user=actions.user_named(name, email=True),
                                      username=name, request=request, details=details)


@receiver(user_logged_out, dispatch_uid="security.logged_out")
def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        return
    with never_breaking("a logout"):
        actions.do_record_login_event(LoginEvent.Kind.LOGOUT, user=user, username=user.get_username(),
                                      request=request)
        actions.do_forget_session(request)
