"""Two-factor authentication (allauth.mfa: an authenticator app with recovery codes): who must use
it by their organisation's setting, and what the user's account page shows of it."""
from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.http import HttpRequest

from .models import Membership, Organization

Policy = Organization.TwoFactorPolicy


def is_required(membership: Membership | None) -> bool:
    """Whether the organisation requires this member to use two-factor authentication."""
    if membership is None:
        return False
    policy = membership.org.two_factor_policy
    return policy == Policy.EVERYONE or (policy == Policy.ADMINS and membership.is_admin)


def has_authenticator_app(user: Any) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def account_context(request: HttpRequest) -> dict[str, Any]:
    """The account page: the user's addresses, whether two-factor is on, their recovery codes left,
    and whether the organisation requires two-factor of them."""
    user = request.user
    authenticators = {a.type: a for a in Authenticator.objects.filter(user_id=user.pk)}
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    return {
        "emails": EmailAddress.objects.filter(user_id=user.pk).order_by("-primary", "email"),
        "totp": authenticators.get(Authenticator.Type.TOTP),
        "recovery_codes_left": len(recovery.wrap().get_unused_codes()) if recovery else 0,
        "recovery_codes_total": len(recovery.wrap().generate_codes()) if recovery else 0,
        "two_factor_required": is_required(getattr(request, "membership", None)),
    }
