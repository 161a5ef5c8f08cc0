"""A person's own password changes in the security log, from django-allauth's signals: changed on
the password page (also the change forced at the next login), or reset through the e-mailed
link. A password set by an administrator is in the audit log instead (access.actions)."""
from __future__ import annotations

from typing import Any

from allauth.account.signals import password_changed, password_reset
from django.dispatch import receiver

from . import events


@receiver(password_changed, dispatch_uid="security.password_changed")
def _changed(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    events.record(user, events.PASSWORD_CHANGED, request=request)


@receiver(password_reset, dispatch_uid="security.password_reset")
def _reset(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    events.record(user, events.PASSWORD_RESET, request=request)
