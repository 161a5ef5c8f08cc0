"""Every write of the security app: login events, the organisations' security log, the index of
who is signed in where, and ending sessions.

Login events are written by the receivers of Django's auth signals and django-axes's lockout signal
(`security.signals`), whatever view does the login; other apps record their events through
`security.events.record`."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Iterable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from access import seal
from access.models import Membership, User
from access.visibility import is_org_admin

from .client import client_ip, clean_text, user_agent
from .models import USERNAME_MAX, LoginEvent, SecurityEvent, UserSession

# A login event that also goes into the security log of each of the person's organisations.
ORG_KINDS = {
    LoginEvent.Kind.LOGIN: SecurityEvent.Kind.LOGIN,
    LoginEvent.Kind.FAILED: SecurityEvent.Kind.LOGIN_FAILED,
    LoginEvent.Kind.LOCKED_OUT: SecurityEvent.Kind.LOCKED_OUT,
}


def session_store_class() -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore


def session_model() -> Any:
    """The table of the database session engine (the default engine, and cached_db)."""
    return session_store_class().get_model_class()


def user_named(name: str, *, email: bool = False) -> User | None:
    """The user a tried name belongs to: by username (unique), or for an e-mail login by the one
    user with that address."""
    if not name:
        return None
    user = User.objects.filter(username=name).first()
    if user is None and email and "@" in name:
        found = list(User.objects.filter(email__iexact=name)[:2])
        user = found[0] if len(found) == 1 else None
    return user


def _log(user: User, kind: str, *, org_ids: Iterable[int] | None, at: Any, ip: str | None, agent: str,
         actor: User | None = None, details: dict | None = None) -> list[SecurityEvent]:
    """The event in the log of each of `org_ids`, by default every organisation the person belongs
    to (deactivated memberships too: attempts on a dormant account are worth seeing)."""
    # A login comes before any organisation is bound; a person's event is written into each of
    # their organisations' logs (the tenant seal's one way out, for this read and write only).
    with seal.cross_org("security log: a person's event goes to each of their organisations"):
        if org_ids is None:
            org_ids = Membership.objects.filter(user=user).order_by("org_id").values_list("org_id", flat=True)
        events = [SecurityEvent(org_id=org_id, at=at, kind=kind, user=user, user_name=str(user)[:200],
                                actor=actor, actor_name=str(actor)[:200] if actor else "", ip=ip, user_agent=agent,
                                details=details or {})
                  for org_id in org_ids]
        return SecurityEvent.objects.bulk_create(events)


@transaction.atomic
def do_record_login_event(kind: str, *, user: User | None, username: str, request: Any = None,
                          details: dict | None = None) -> LoginEvent:
    """One login attempt, logout or ended session of a person (or of a name that is nobody's); a
    login, failure or lockout also goes into the security log of each of the person's orgs."""
    ip, agent = client_ip(request), user_agent(request)
    event = LoginEvent.objects.create(kind=kind, user=user, username=clean_text(username, USERNAME_MAX), ip=ip,
                                      user_agent=agent, details=details or {})
    if user is not None and kind in ORG_KINDS:
        _log(user, ORG_KINDS[kind], org_ids=None, at=event.at, ip=ip, agent=agent, details=details)
    return event


@transaction.atomic
def do_record_security_event(user: User, kind: str, *, request: Any = None, actor: User | None = None,
                             org_ids: Iterable[int] | None = None, details: dict | None = None) -> list[SecurityEvent]:
    """An event about a person (two-factor changes, ended sessions) in the security log of each of
    their orgs, or of the orgs given."""
    if kind not in SecurityEvent.Kind.values:
        raise ValueError(f"Unknown security event kind: {kind!r}")
    return _log(user, kind, org_ids=org_ids, at=timezone.now(),
                ip=client_ip(request), agent=user_agent(request), actor=actor, details=details)


# --- the index of sessions --------------------------------------------------------------------

def _current_key(request: Any) -> str | None:
    return getattr(getattr(request, "session", None), "session_key", None)


def _live(now: Any) -> Exists:
    return Exists(session_model().objects.filter(session_key=OuterRef("session_key"), expire_date__gt=now))


@transaction.atomic
def do_index_session(user: User, request: Any) -> UserSession | None:
    """Remember that this session (just logged in) is the user's; forget the user's sessions that
    have expired or were deleted meanwhile."""
    key = _current_key(request)
    if not key:
        return None
    now = timezone.now()
    UserSession.objects.filter(user=user).exclude(_live(now)).exclude(session_key=key).delete()
    row, _created = UserSession.objects.update_or_create(
        session_key=key, defaults={"user": user, "created_at": now, "ip": client_ip(request),
                                   "user_agent": user_agent(request)})
    return row


def do_forget_session(request: Any) -> None:
    """The request's session was logged out (its row goes with it)."""
    session_key = _current_key(request)
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


@transaction.atomic
def do_rekey_session(user: User, old_key: str, new_key: str) -> None:
    """The session got a new key while logged in (Django cycles it when a password is changed):
    the index follows it."""
    if UserSession.objects.filter(session_key=new_key).exists():
        UserSession.objects.filter(user=user, session_key=old_key).delete()
    else:
        UserSession.objects.filter(user=user, session_key=old_key).update(session_key=new_key)


def _end(rows: list[UserSession], *, by: str) -> int:
    """Delete the sessions (their next request goes to the login page) and say so in the person's
    login history, with the address and browser of each session ended."""
    store = session_store_class()
    for row in rows:
        store(session_key=row.session_key).delete()
    LoginEvent.objects.bulk_create([
        LoginEvent(kind=LoginEvent.Kind.SIGNED_OUT, user_id=row.user_id, username=row.user.get_username(),
                   ip=row.ip, user_agent=row.user_agent, details={"by": by})
        for row in rows])
    UserSession.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


@transaction.atomic
def do_end_own_sessions(user: User, *, request: Any, session_id: int | None = None) -> int:
    """A person ends one of their other sessions (`session_id`), or all of them: never the one they
    are using. Returns how many ended."""
    rows = UserSession.objects.select_related("user").filter(user=user).exclude(session_key=_current_key(request))
    if session_id is not None:
        rows = rows.filter(pk=session_id)
    rows = list(rows.order_by("pk").select_for_update(of=("self",)))
    if session_id is not None and not rows:
        raise ValidationError(_("This session has already ended."))
    ended = _end(rows, by="self")
    if ended:
        do_record_security_event(user, SecurityEvent.Kind.SESSIONS_ENDED, request=request, details={"count": ended})
    return ended


@transaction.atomic
def do_sign_out_everywhere(membership: Membership, *, actor: User, request: Any = None) -> int:
    """An administrator ends every session of a member of their org (an administrator doing it to
    themselves keeps the session they are using). The person's sessions are theirs, not the org's:
    sessions they use in their other organisations end too. Written to this org's security log
    (not to the other orgs': their administrators are not told which other orgs the person is in).
    Returns how many sessions ended."""
    if not is_org_admin(actor) or getattr(actor, "org", None) is None or membership.org_id != actor.org.pk:
        raise PermissionDenied(_("Only an administrator of this organisation may do this."))
    rows = UserSession.objects.select_related("user").filter(user_id=membership.user_id)
    if membership.user_id == actor.pk:
        rows = rows.exclude(session_key=_current_key(request))
    ended = _end(list(rows.order_by("pk").select_for_update(of=("self",))), by="admin")
    do_record_security_event(membership.user, SecurityEvent.Kind.SIGNED_OUT_EVERYWHERE, request=request,
                             actor=actor, org_ids=[membership.org_id], details={"count": ended})
    return ended
