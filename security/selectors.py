"""Reads of the security app: a person's login history and active sessions, and an
organisation's security log (its own events merged with the permission changes of the audit log
and the exports of the access log). Pages are read newest first by keyset (a cursor of time and
id, never an offset), one row more than a page saying whether there are older; nothing is counted."""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from access.audit_views import changes_of
from access.middleware import SESSION_LOGIN_AT_KEY, SESSION_SEEN_AT_KEY
from access.models import AccessLog, AuditEntry, Organization, User
from access.modules import settings_modules

from .actions import session_model, session_store_class
from .models import LoginEvent, SecurityEvent, UserSession

PAGE_SIZE = 50
MAX_SESSIONS = 100  # more live sessions than this for one person are not listed (all still end)

# Audit-log events that change who may do what: users and their memberships, profiles, roles,
# groups, sharing, team membership. New events of these kinds appear in the security log unasked.
PERMISSION_PREFIXES = ("user.", "profile.", "role.", "group.", "sharing_rule.", "org_default.", "public_fields.",
                       "team_member.", "requesters.")
PERMISSION = "permission"
EXPORT = "export"


def permission_events() -> list[str]:
    return [value for value in AuditEntry.Event.values if value.startswith(PERMISSION_PREFIXES)]


# --- cursors ------------------------------------------------------------------------------------

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _micros(at: datetime.datetime) -> int:
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _time(micros: int) -> datetime.datetime:
    return EPOCH + datetime.timedelta(microseconds=micros)


def encode_cursor(at: datetime.datetime, *parts: int) -> str:
    return "-".join(str(n) for n in (_micros(at), *parts))


def decode_cursor(text: str, parts: int) -> tuple[datetime.datetime, ...] | None:
    """(time, *ints) from a cursor of `parts` numbers after the time; None when it is not one."""
    pieces = (text or "").split("-")
    if len(pieces) != parts + 1 or not all(p.isdigit() and len(p) <= 18 for p in pieces):
        return None
    numbers = [int(p) for p in pieces]
    try:
        return (_time(numbers[0]), *numbers[1:])
    except OverflowError:
        return None


# --- a person's login history -----------------------------------------------------------------

def login_history(user: User, *, before: tuple | None = None, size: int = PAGE_SIZE) -> tuple[list[LoginEvent], str]:
    """A page of the person's login events, newest first, and the cursor of the next page ("" at
    the end). One query on (user, -at, -id)."""
    rows = LoginEvent.objects.filter(user=user)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))
    rows = list(rows.order_by("-at", "-pk")[:size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, encode_cursor(rows[-1].at, rows[-1].pk) if more else ""


# --- a person's sessions ----------------------------------------------------------------------

@dataclass
class ActiveSession:
    id: int
    started: datetime.datetime
    last_seen: datetime.datetime | None
    ip: str | None
    user_agent: str
    current: bool


def _stamp(value: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromtimestamp(int(value), tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _hash_matches(stored: Any, user: User) -> bool:
    """Whether the session still belongs to the user's current password (a password change ends
    the sessions started before it)."""
    if not isinstance(stored, str):
        return False
    if constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
    return any(constant_time_compare(stored, h) for h in fallbacks()) if fallbacks else False


def active_sessions(user: User, current_key: str | None = None) -> list[ActiveSession]:
    """The sessions the person is logged in with now, newest first: two queries (the index, then
    those sessions), whatever the number of sessions of everyone else."""
    rows = list(UserSession.objects.filter(user=user).order_by("-created_at", "-pk")[:MAX_SESSIONS])
    live = {s.session_key: s for s in session_model().objects.filter(
        session_key__in=[r.session_key for r in rows], expire_date__gt=timezone.now())}
    store = session_store_class()()
    found = []
    for row in rows:
        session = live.get(row.session_key)
        if session is None:
            continue
        data = store.decode(session.session_data)
        if str(data.get(SESSION_KEY)) != str(user.pk) or not _hash_matches(data.get(HASH_SESSION_KEY), user):
            continue
        found.append(ActiveSession(
            id=row.pk, started=_stamp(data.get(SESSION_LOGIN_AT_KEY)) or row.created_at,
            last_seen=_stamp(data.get(SESSION_SEEN_AT_KEY)), ip=row.ip, user_agent=row.user_agent,
            current=bool(current_key) and row.session_key == current_key))
    return found


# --- an organisation's security log -------------------------------------------------------------

@dataclass
class Entry:
    """One line of the security log, whichever table it comes from."""

    at: datetime.datetime
    source: int  # the table: events 2, audit 1, exports 0 (orders entries of the same time)
    pk: int
    kind: str
    label: str
    user_name: str = ""
    actor_name: str = ""
    ip: str | None = None
    user_agent: str = ""
    summary: str = ""
    changes: list = field(default_factory=list)

    @property
    def cursor(self) -> str:
        return encode_cursor(self.at, self.source, self.pk)


EVENTS, AUDIT, EXPORTS = 2, 1, 0


def _after(rows: QuerySet, source: int, before: tuple | None) -> QuerySet:
    """Rows that come after the cursor in the merged order (time, table, id), newest first."""
    if before is None:
        return rows
    at, cursor_source, pk = before
    if source > cursor_source:
        return rows.filter(at__lt=at)
    if source < cursor_source:
        return rows.filter(at__lte=at)
    return rows.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))


def _event_entries(org: Organization, kind: str, user: User | None, before: tuple | None, size: int) -> list[Entry]:
    rows = SecurityEvent.objects.filter(org=org)
    if kind:
        rows = rows.filter(kind=kind)
    if user is not None:
        rows = rows.filter(Q(user=user) | Q(actor=user))
    labels = dict(SecurityEvent.Kind.choices)
    entries = []
    for event in _after(rows, EVENTS, before).order_by("-at", "-pk")[:size + 1]:
        summary = ""
        count = event.details.get("count") if isinstance(event.details, dict) else None
        if event.kind in (SecurityEvent.Kind.SESSIONS_ENDED, SecurityEvent.Kind.SIGNED_OUT_EVERYWHERE):
            summary = _("Sessions ended: %(count)s") % {"count": count or 0}
        elif event.kind == SecurityEvent.Kind.LOCKED_OUT and isinstance(event.details, dict):
            summary = _("Failed attempts: %(count)s") % {"count": event.details.get("failures") or 0}
        entries.append(Entry(event.at, EVENTS, event.pk, event.kind, str(labels.get(event.kind, event.kind)),
                             user_name=event.user_name, actor_name=event.actor_name, ip=event.ip,
                             user_agent=event.user_agent, summary=summary))
    return entries


def _audit_entries(org: Organization, user: User | None, before: tuple | None, size: int) -> list[Entry]:
    rows = AuditEntry.objects.filter(org=org, event__in=permission_events())
    if user is not None:
        rows = rows.filter(Q(actor=user) | Q(object_type="access.user", object_id=str(user.pk)))
    entries = []
    for entry in _after(rows, AUDIT, before).order_by("-at", "-pk")[:size + 1]:
        about_user = entry.object_type == "access.user"
        entries.append(Entry(entry.at, AUDIT, entry.pk, PERMISSION, entry.get_event_display(),
                             user_name=entry.object_name if about_user else "", actor_name=entry.actor_name,
                             summary="" if about_user else entry.object_name, changes=changes_of(entry)))
    return entries


def _export_entries(org: Organization, user: User | None, before: tuple | None, size: int) -> list[Entry]:
    rows = AccessLog.objects.filter(org=org)
    if user is not None:
        rows = rows.filter(user=user)
    labels = {module.key: module.label_plural for module in settings_modules()}
    return [Entry(log.at, EXPORTS, log.pk, EXPORT, _("Export"), user_name=log.user_name, actor_name=log.user_name,
                  summary=_("%(module)s, rows: %(count)s") % {"module": labels.get(log.module, log.module),
                                                             "count": log.count})
            for log in _after(rows, EXPORTS, before).order_by("-at", "-pk")[:size + 1]]


def log_kinds() -> list[tuple[str, str]]:
    """The kinds a security log can be filtered by."""
    return [*SecurityEvent.Kind.choices, (PERMISSION, _("Permission changes")), (EXPORT, _("Exports"))]


def security_log(org: Organization, *, kind: str = "", user: User | None = None, before: tuple | None = None,
                 size: int = PAGE_SIZE) -> tuple[list[Entry], str]:
    """A page of the org's security log, newest first, and the next page's cursor ("" at the end):
    at most one query per table (its own events, permission changes, exports), each on an index
    that starts with the org and reads at most a page and one row."""
    entries: list[Entry] = []
    if kind in ("", *SecurityEvent.Kind.values):
        entries += _event_entries(org, kind, user, before, size)
    if kind in ("", PERMISSION):
        entries += _audit_entries(org, user, before, size)
    if kind in ("", EXPORT):
        entries += _export_entries(org, user, before, size)
    entries.sort(key=lambda e: (e.at, e.source, e.pk), reverse=True)
    page = entries[:size]
    return page, page[-1].cursor if len(entries) > size else ""
