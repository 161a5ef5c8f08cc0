"""Small helpers shared by tests."""
from __future__ import annotations

from typing import Any

from access.models import Membership, Organization, User
from access.visibility import bind_org


def fresh(user: User, org: Organization | None = None) -> User:
    """The user as the next request binds them: re-read, with their membership (profile and
    role) and a fresh org object, so nothing cached on an earlier object is reused."""
    org_id = org.pk if org is not None else user.org.pk
    membership = Membership.objects.select_related("org", "profile", "org_role").get(user_id=user.pk, org_id=org_id)
    return bind_org(User.objects.get(pk=user.pk), Organization.objects.get(pk=org_id), membership)


def version_of(record: Any) -> int:
    """The record's stored version, as a page showing it now would send (tests that are not
    about conflicts pass this; every write needs a version)."""
    record.refresh_from_db(fields=["version"])
    return record.version


def versions_of(records: Any) -> dict[int, int]:
    """{pk: stored version} for bulk actions, as a list page showing them now would send."""
    return {record.pk: version_of(record) for record in records}
