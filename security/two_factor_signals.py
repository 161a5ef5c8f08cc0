"""Two-factor changes in the security log, from django-allauth's MFA signals (whatever page made
them): the authenticator app turned on or off, the recovery codes regenerated."""
from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.dispatch import receiver

from . import events

# (signal, authenticator type) -> the security event it is. Keyed by the types' plain values: a
# choices member hashes by its name, so it would not find the string an authenticator holds.
KINDS = {
    ("added", Authenticator.Type.TOTP.value): events.TWO_FACTOR_ENABLED,
    ("removed", Authenticator.Type.TOTP.value): events.TWO_FACTOR_DISABLED,
    ("reset", Authenticator.Type.RECOVERY_CODES.value): events.RECOVERY_CODES_REGENERATED,
}


def _record(change: str, request: Any, user: Any, authenticator: Authenticator) -> None:
    kind = KINDS.get((change, str(authenticator.type)))
    if kind is not None:
        events.record(user, kind, request=request, method=authenticator.type)


@receiver(authenticator_added, dispatch_uid="security.two_factor_added")
def _added(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    _record("added", request, user, authenticator)


@receiver(authenticator_removed, dispatch_uid="security.two_factor_removed")
def _removed(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    _record("removed", request, user, authenticator)


@receiver(authenticator_reset, dispatch_uid="security.two_factor_reset")
def _reset(sender: Any, request: Any = None, user: Any = None, authenticator: Any = None, **kwargs: Any) -> None:
    _record("reset", request, user, authenticator)
