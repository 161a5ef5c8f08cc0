"""Reads of review processes and cases, and who reviews what. Cases are looked up by org, module
and record id (the unique index); records are read through `access` by the callers."""
from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from access.models import Membership

from .models import ReviewCase, ReviewProcess

REVIEW_PREFIX = "review:"


def review_path(case: ReviewCase) -> str:
    return f"{REVIEW_PREFIX}{case.pk}"


REQUEST_PATH = "request"  # the Requests tab's forms (teams) write with this path


def entry_path(path: str, record: Any, actor: Any, creating: bool) -> str | None:
    """The entry path (a key of models.PATHS) a write came by, or None when it is not a person's
    entry (a rule, an approval, a review itself). The Requests tab writes with the path "request";
    a team record's requester writing their own request by any person's path (its page, inline)
    comes by the Requests tab too, so fixing a rejected request on its page resubmits it."""
    head = (path or "").split(":", 1)[0]
    if head in ("import", "api", "webform", REQUEST_PATH):
        return head
    if head in ("page", "inline", "kanban", "bulk"):
        requester = getattr(record, "requested_by_id", None)
        if requester and requester == getattr(actor, "pk", None):
            return REQUEST_PATH
        return "page"
    return None


def active_processes(org_id: int, module_key: str) -> list[ReviewProcess]:
    """The module's active processes (read once per batch inside a batch action)."""
    from access.generations import remember

    return remember(("reviews:active", org_id, module_key), lambda: list(
        ReviewProcess.objects.filter(org_id=org_id, module=module_key, active=True).order_by("pk")))


def case_for(org_id: int, module_key: str, record_id: int) -> ReviewCase | None:
    return (ReviewCase.objects.filter(org_id=org_id, module=module_key, record_id=record_id)
            .select_related("process", "submitter").first())


def under_review_ids(org_id: int, module_key: str):
    """A subquery of the ids of the module's records under review (never a Python list)."""
    return (ReviewCase.objects.filter(org_id=org_id, module=module_key, status__in=ReviewCase.UNDER_REVIEW)
            .values("record_id"))


def resolve_reviewers(process: ReviewProcess, record: Any, submitter_id: int | None) -> list[int]:
    """The active members the process names (users, users in its org roles, users of its groups
    directly or through their roles, the record's owner), less the submitter: nobody reviews
    their own record. One query (two when nobody is left and the administrators review it)."""
    spec = process.reviewers or {}
    users = [int(pk) for pk in spec.get("users", []) if str(pk).isdigit()]
    roles = [int(pk) for pk in spec.get("roles", []) if str(pk).isdigit()]
    groups = [int(pk) for pk in spec.get("groups", []) if str(pk).isdigit()]
    if spec.get("owner") and getattr(record, "owner_id", None):
        users.append(record.owner_id)
    named = Q(user_id__in=users) | Q(org_role_id__in=roles) | Q(user__org_groups__in=groups,
                                                                 user__org_groups__org_id=process.org_id)
    named |= Q(org_role__groups__in=groups, org_role__groups__org_id=process.org_id)
    members = Membership.objects.filter(org_id=process.org_id, is_active=True, user__is_active=True)
    ids = set(members.filter(named).exclude(user_id=submitter_id).values_list("user_id", flat=True))
    if not ids:  # nobody named is left (the only reviewer submitted it): the administrators review it
        ids = set(members.filter(role=Membership.Role.ADMIN).exclude(user_id=submitter_id)
                  .values_list("user_id", flat=True))
    return sorted(ids)


def open_cases_for_reviewer(user: Any):
    return (ReviewCase.objects.filter(org_id=user.org.pk, status=ReviewCase.Status.OPEN,
                                      reviewer_ids__contains=[user.pk])
            .select_related("process", "submitter").order_by("-opened_at", "-pk"))


def my_submissions(user: Any):
    return (ReviewCase.objects.filter(org_id=user.org.pk, status__in=ReviewCase.UNDER_REVIEW, submitter_id=user.pk)
            .select_related("process").order_by("-opened_at", "-pk"))


def hold_text(case: ReviewCase) -> str:
    return _("Under review (“%(process)s”) until the review ends.") % {"process": case.process.name}
