"""The login history of each person, the security log of each organisation, and the index of
who is signed in where.

- `LoginEvent`: one row per login attempt, logout or ended session of a person (not of an org: a
  person may belong to several). Read by the person and by the administrators of their orgs.
- `SecurityEvent`: the security log of one organisation (logins, failures and lockouts of its
  members, two-factor changes, sessions ended). An event about a person is written once for each
  org they belong to, so each org's log is read from its own index, newest first.
- `UserSession`: which database sessions belong to whom (written at login, removed at logout),
  so a person's sessions are found without reading every session.

Permission changes and exports are not copied here: the security log page reads them from the
org audit log (`access.AuditEntry`) and the access log (`access.AccessLog`)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from access.models import Organization

USER_AGENT_MAX = 255
USERNAME_MAX = 150


class LoginEvent(models.Model):
    class Kind(models.TextChoices):
        LOGIN = "login", _("Logged in")
        FAILED = "failed", _("Failed login")
        LOCKED_OUT = "locked_out", _("Locked out")
        LOGOUT = "logout", _("Logged out")
        SIGNED_OUT = "signed_out", _("Session ended from elsewhere")

    at = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices)
    # Failures of a username that names nobody have no user; the name tried is kept either way.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    username = models.CharField(_("username"), max_length=USERNAME_MAX, blank=True)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=USER_AGENT_MAX, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("login event")
        verbose_name_plural = _("login history")
        indexes = [
            models.Index(fields=["user", "-at", "-id"], name="loginevent_user_at"),
        ]


class SecurityEvent(models.Model):
    class Kind(models.TextChoices):
        LOGIN = "login", _("Logged in")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKED_OUT = "locked_out", _("Locked out")
        TWO_FACTOR_ENABLED = "two_factor_enabled", _("Two-factor authentication turned on")
        TWO_FACTOR_DISABLED = "two_factor_disabled", _("Two-factor authentication turned off")
        RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated", _("Recovery codes regenerated")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        PASSWORD_RESET = "password_reset", _("Password reset by e-mail")
        SESSIONS_ENDED = "sessions_ended", _("Own sessions ended")
        SIGNED_OUT_EVERYWHERE = "signed_out_everywhere", _("Signed out everywhere by an administrator")

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("event"), max_length=40, choices=Kind.choices)
    # Whom the event is about, and who did it when that is someone else (an administrator). Names
    # are copied: the entry still reads right after the user is renamed or gone.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    user_name = models.CharField(_("user"), max_length=200, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(_("by"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=USER_AGENT_MAX, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security log")
        indexes = [
            models.Index(fields=["org", "-at", "-id"], name="securityevent_org_at"),
            models.Index(fields=["org", "kind", "-at", "-id"], name="securityevent_org_kind_at"),
            models.Index(fields=["org", "user", "-at", "-id"], name="securityevent_org_user_at"),
            models.Index(fields=["org", "actor", "-at", "-id"], name="securityevent_org_actor_at"),
        ]


class UserSession(models.Model):
    """A database session a person is logged in with (django.contrib.sessions' key)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="usersession_user_created")]
