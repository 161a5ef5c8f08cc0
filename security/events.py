"""The security log's door for other apps: `record(user, kind, request=None, **details)`.

    from security import events
    events.record(request.user, events.TWO_FACTOR_ENABLED, request=request, method="totp")

The event goes into the security log of each organisation the person belongs to, with the time,
the request's address and browser, and the details given (JSON values: short, no secrets).
Recording never breaks the caller: a failure is logged and swallowed, except when the setting
SECURITY_LOG_STRICT is on (the tests), where it is raised."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

from django.conf import settings
from django.db import transaction

from .actions import do_record_security_event
from .models import SecurityEvent

logger = logging.getLogger(__name__)

TWO_FACTOR_ENABLED = SecurityEvent.Kind.TWO_FACTOR_ENABLED.value
TWO_FACTOR_DISABLED = SecurityEvent.Kind.TWO_FACTOR_DISABLED.value
RECOVERY_CODES_REGENERATED = SecurityEvent.Kind.RECOVERY_CODES_REGENERATED.value
PASSWORD_CHANGED = SecurityEvent.Kind.PASSWORD_CHANGED.value
PASSWORD_RESET = SecurityEvent.Kind.PASSWORD_RESET.value
KINDS = frozenset(SecurityEvent.Kind.values)


@contextmanager
def never_breaking(what: str) -> Iterator[None]:
    """Run a recording in a savepoint; a failure rolls back only the recording and is logged (or
    raised, with SECURITY_LOG_STRICT), so a login or a settings change goes on."""
    try:
        with transaction.atomic():
            yield
    except Exception:
        if getattr(settings, "SECURITY_LOG_STRICT", False):
            raise
        logger.exception("The security log could not record %s.", what)


def record(user: Any, kind: str, request: Any = None, **details: Any) -> list[SecurityEvent]:
    """Add an event about `user` to the security log of each of their organisations (see the
    kinds above); returns the entries written (none when recording failed)."""
    if kind not in KINDS:  # a caller's mistake, not a failure to record: always raised
        raise ValueError(f"Unknown security event kind: {kind!r}")
    written: list[SecurityEvent] = []
    with never_breaking(kind):
        written = do_record_security_event(user, kind, request=request, details=details)
    return written
