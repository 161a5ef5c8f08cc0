"""Type-ahead search for lookup and user fields: at most 20 matches as JSON, never a list of
every record. Records come from `access.visible` only; members from the user's own org only."""
from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views import View

from access.decisions import decide_module
from access.linked import linked_names
from access.visibility import visible

from .forms import org_members
from .modules import get_module
from .schema import BoundSchema, FieldSpec
from .selectors import MAX_SEARCH_TEXT, search

MAX_RESULTS = 20
CANDIDATES = 200  # matches read before sorting by name; type more to narrow a larger set
MAX_QUERY = MAX_SEARCH_TEXT
# The field that tells two records of the same name apart, first one the user may see wins.
DETAIL_FIELDS = {
    "accounts": ("city",),
    "contacts": ("account", "email"),
    "deals": ("account",),
    "leads": ("company",),
    "tasks": ("due_date",),
}
TEAM_DETAIL_FIELDS = ("status",)


def refusal(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def query_text(request: HttpRequest) -> str | JsonResponse:
    """The typed text, or the 400 answer for one that cannot be a name (NUL is refused earlier,
    by config.middleware)."""
    text = request.GET.get("q", "").strip()
    if len(text) > MAX_QUERY:
        return refusal(_("The search text is too long (at most %(count)d characters).") % {"count": MAX_QUERY}, 400)
    return text


class RecordLookupView(View):
    """GET /m/<module>/lookup/?q=星辰 -> {"results": [{"id", "text", "detail"}, ...]}.

    The module is resolved before the method is looked at, as on every module page, so another
    org's module is a 404 whatever the method."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not request.user.is_authenticated:
            return refusal(_("Log in to search."), 403)
        try:
            self.schema = get_module(kwargs["module"], request.org).bind(request.org)
        except Http404:
            return refusal(_("There is no such module."), 404)
        decision = decide_module(request.user, self.schema, "open")
        if not decision.allowed:
            return refusal(decision.reason if decision.found else _("There is no such module."),
                           403 if decision.found else 404)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, module: str) -> JsonResponse:
        text = query_text(request)
        if isinstance(text, JsonResponse):
            return text
        schema = self.schema
        records = visible(request.user, schema, "view")
        if text:
            # The first CANDIDATES matches the search indexes give, then sorted by name: walking the
            # name index and testing every row would read most of a million-row module for a rare term.
            matches = search(records, schema, text, request.user).order_by().values("pk")[:CANDIDATES]
            records = records.filter(pk__in=matches)
        records = list(records.order_by(schema.title_field, "pk")[:MAX_RESULTS])
        details = record_details(request.user, schema, records)
        return JsonResponse({"results": [{"id": r.pk, "text": str(r), "detail": details.get(r.pk, "")}
                                         for r in records]})


def detail_spec(user: Any, schema: BoundSchema) -> list[FieldSpec]:
    keys = TEAM_DETAIL_FIELDS if schema.kind == "team" else DETAIL_FIELDS.get(schema.key, ())
    allowed = {spec.key: spec for spec in schema.fields_for(user)}  # a hidden field is never a detail
    return [allowed[key] for key in keys if key in allowed]


def record_details(user: Any, schema: BoundSchema, records: list[Any]) -> dict[int, str]:
    """{pk: the first distinguishing value the record has}; a linked record is named as
    `access.linked` names it (not when it is in the recycle bin), one query per lookup field."""
    details: dict[int, str] = {}
    for spec in detail_spec(user, schema):
        if spec.type == "lookup":
            names = linked_names(schema.org, get_module(spec.target, schema.org),
                                 [spec.get_value(r) for r in records])
            values = {r.pk: names.get(spec.get_value(r), "") for r in records}
        else:
            values = {r.pk: spec.display(r) for r in records}
        for pk, value in values.items():
            if value and pk not in details:
                details[pk] = value
    return details


class MemberLookupView(View):
    """GET /members/lookup/?q=ada -> the active members of the user's org whose name, user name or
    e-mail contains every typed word."""

    def get(self, request: HttpRequest) -> JsonResponse:
        if not request.user.is_authenticated or getattr(request, "org", None) is None:
            return refusal(_("Log in to search."), 403)
        text = query_text(request)
        if isinstance(text, JsonResponse):
            return text
        members = org_members(request.org)
        for word in text.split():
            members = members.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word)
                                     | Q(username__icontains=word) | Q(email__icontains=word))
        members = members.order_by("first_name", "last_name", "username", "pk")[:MAX_RESULTS]
        return JsonResponse({"results": [{"id": u.pk, "text": str(u), "detail": u.email} for u in members]})
