"""What the review processes plug into (registered from ReviewsConfig.ready):

- the decision point: a guard that keeps a record under review (case open) unchanged by every
  path but the review itself, explained to the submitter as such; a preloader so a page of
  records asks for their cases in one query;
- access: a list filter that keeps records under review (open or rejected) out of lists,
  boards, exports and searches (their page still opens for whoever may see them);
- automation: a hold, so no workflow or assignment rule runs on them and no other process
  (approval, blueprint) takes them up until the review ends;
- the record page: a panel saying the record is under review, with each field's verdict; rows
  that list records under review (the Requests tab) get a mark;
- the timeline: "by review “X”" for the path "review:<id>".
"""
from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _

from access import generations
from access.decisions import GuardRefusal

from .models import ReviewCase, ReviewProcess
from .selectors import REVIEW_PREFIX, case_for, hold_text, under_review_ids

GUARDED_ACTIONS = ("update", "delete", "change_owner", "restore", "add_attachment", "delete_attachment",
                   "transition")  # a blueprint transition too
_MEMO = "_review_cases"


# --- the decision point -----------------------------------------------------------------------

def preload_cases(user: Any, schema: Any, records: list) -> None:
    """The cases of a page of records, in one query, for the guard's dry runs."""
    ids = [r.pk for r in records if getattr(r, "pk", None)]
    memo = user.__dict__.setdefault(_MEMO, {})
    if schema.key not in modules_with_reviews(user.org.pk, user):
        memo.update({(schema.key, pk): None for pk in ids})
        return
    found = {case.record_id: case for case in ReviewCase.objects.filter(
        org_id=user.org.pk, module=schema.key, record_id__in=ids).select_related("process")}
    for pk in ids:
        memo[(schema.key, pk)] = found.get(pk)


def _case(context: Any) -> ReviewCase | None:
    record = context.record
    key = (context.module.key, record.pk)
    memo = context.actor.__dict__.get(_MEMO, {})
    if context.dry and key in memo:
        return memo[key]
    return case_for(record.org_id, context.module.key, record.pk)


def review_guard(context: Any) -> None:
    """While a record's review is open, only the review changes it."""
    if context.action not in GUARDED_ACTIONS or context.path.startswith(REVIEW_PREFIX):
        return
    if getattr(context.record, "pk", None) is None:
        return
    if context.module.key not in modules_with_reviews(context.record.org_id, context.actor):
        return
    case = _case(context)
    if case is None or case.status != ReviewCase.Status.OPEN:
        return
    if case.submitter_id == getattr(context.actor, "pk", None):
        reason = _("You submitted this record for review (“%(process)s”): you can change it again once the "
                   "review ends.") % {"process": case.process.name}
    else:
        reason = _("This record is under review (“%(process)s”): it cannot be changed until the review ends."
                   ) % {"process": case.process.name}
    raise GuardRefusal(reason, guard="review")


# --- access, automation -------------------------------------------------------------------------

def reviews_scope(org_id: int) -> str:
    """Which modules of an org have review processes (access.generations)."""
    return f"reviews:gen:{org_id}"


def modules_with_reviews(org_id: int, holder: Any = None) -> frozenset[str]:
    """The keys of the org's modules that have (or had) a review process: cached in Redis until a
    process is added or deleted, and on `holder` (the request's user) for the rest of the request.
    Everything here asks it first, so an org without review processes pays no query for them."""
    memo = holder.__dict__.get("_reviewed_modules") if holder is not None else None
    if memo is None or memo[0] != (generations.epoch(), org_id):
        keys = generations.cached(f"reviews:modules:{org_id}", [reviews_scope(org_id)], lambda: sorted(
            set(ReviewProcess.objects.filter(org_id=org_id).values_list("module", flat=True))))
        memo = ((generations.epoch(), org_id), frozenset(keys))
        if holder is not None:
            holder.__dict__["_reviewed_modules"] = memo
    return memo[1]


def under_review_filter(user: Any, module: Any, action: str) -> Q | None:
    """Lists leave out records under review: an uncorrelated `pk NOT IN (SELECT ...)` over the
    cases' (org, module, status) index, only for modules that have a review process (others
    carry no extra branch)."""
    org = getattr(user, "org", None)
    if org is None or module.key not in modules_with_reviews(org.pk, user):
        return None
    return ~Q(pk__in=under_review_ids(org.pk, module.key))


def review_hold(schema: Any, record: Any, scope: str) -> str | None:
    """Held for automation and for other processes while under review (open or rejected)."""
    if schema.key not in modules_with_reviews(record.org_id):
        return None
    case = case_for(record.org_id, schema.key, record.pk)
    if case is None or not case.under_review:
        return None
    return hold_text(case)


# --- pages ----------------------------------------------------------------------------------------

def review_panel(user: Any, schema: Any, record: Any) -> list[dict]:
    """The record page's panel while the record is (or was) reviewed: status and verdicts."""
    case = case_for(record.org_id, schema.key, record.pk)
    if case is None:
        return []
    fields = [{"key": key, "label": schema.field(key).label if schema.has_field(key) else key,
               **case.verdicts.get(key, {})} for key in case.fields]
    return [{"template": "reviews/panel.html", "case": case, "review_fields": fields,
             "is_reviewer": user.pk in case.reviewer_ids and case.status == ReviewCase.Status.OPEN,
             "review_url": reverse("reviews:record", args=[schema.key, record.pk])}]


def review_marks(user: Any, schema: Any, records: list) -> dict[int, list[dict[str, str]]]:
    """Marks on rows of records under review, where a page lists them (the Requests tab lists its
    requester's own): one query, none for a module without review processes."""
    ids = [r.pk for r in records if getattr(r, "pk", None)]
    if not ids or schema.key not in modules_with_reviews(schema.org.pk, user):
        return {}
    marks: dict[int, list[dict[str, str]]] = {}
    for case in (ReviewCase.objects.filter(org_id=schema.org.pk, module=schema.key, record_id__in=ids,
                                           status__in=ReviewCase.UNDER_REVIEW).select_related("process")):
        if case.status == ReviewCase.Status.OPEN:
            mark = {"icon": "hourglass-split", "kind": "review-open", "label": _("Under review"),
                    "title": hold_text(case)}
        else:
            mark = {"icon": "exclamation-triangle", "kind": "review-rejected", "label": _("Rejected in review"),
                    "title": _("Rejected in review (“%(name)s”): fix the rejected fields and save to resubmit.")
                    % {"name": case.process.name}}
        marks[case.record_id] = [mark]
    return marks


def path_labels(org_id: int, paths: set[str]) -> dict[str, str]:
    """"review:<case id>" -> "by review “name”" (one query for the page)."""
    ids = {int(p.split(":", 1)[1]): p for p in paths if p.split(":", 1)[1].isdigit()}
    names = dict(ReviewCase.objects.filter(org_id=org_id, pk__in=list(ids)).values_list("pk", "process__name"))
    return {path: _("by review “%(name)s”") % {"name": names[pk]} if pk in names else _("by a review")
            for pk, path in ids.items()}


def module_processes(org_id: int, module_key: str) -> list[ReviewProcess]:
    return list(ReviewProcess.objects.filter(org_id=org_id, module=module_key).order_by("name", "pk"))
