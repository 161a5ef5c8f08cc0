"""Two-factor changes reach the security log (security.two_factor_signals, from allauth.mfa's
signals): turned on, recovery codes regenerated, turned off; in the user's organisation only."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from security.models import SecurityEvent
from tests.access.test_allauth import _activate_totp, _login

pytestmark = pytest.mark.django_db

Kind = SecurityEvent.Kind


def _kinds(user) -> list[str]:
    return list(SecurityEvent.objects.filter(user=user, kind__in=[
        Kind.TWO_FACTOR_ENABLED, Kind.TWO_FACTOR_DISABLED, Kind.RECOVERY_CODES_REGENERATED]).order_by("at", "pk")
        .values_list("kind", flat=True))


# Committed for real: allauth sends its two-factor signals once the change is committed, inside
# the request (as in production), where its e-mail to the user needs the request.
@pytest.mark.django_db(transaction=True)
def test_turning_two_factor_on_regenerating_codes_and_off_are_logged(standard_user, other_org_user):
    client = Client()
    _login(client, "sam")
    _activate_totp(client)
    assert _kinds(standard_user) == [Kind.TWO_FACTOR_ENABLED]
    event = SecurityEvent.objects.get(user=standard_user, kind=Kind.TWO_FACTOR_ENABLED)
    assert event.org_id == standard_user.org.pk and event.details.get("method") == "totp"
    assert client.post(reverse("mfa_generate_recovery_codes")).status_code == 302
    assert _kinds(standard_user) == [Kind.TWO_FACTOR_ENABLED, Kind.RECOVERY_CODES_REGENERATED]
    assert client.post(reverse("mfa_deactivate_totp")).status_code == 302
    assert _kinds(standard_user) == [Kind.TWO_FACTOR_ENABLED, Kind.RECOVERY_CODES_REGENERATED,
                                     Kind.TWO_FACTOR_DISABLED]
    assert not SecurityEvent.objects.filter(org=other_org_user.org, kind__startswith="two_factor").exists()
