"""Global search: one term over every module the user may open, grouped by module.

Each group holds the bounded number of matches (one query for all modules), the newest few
matches and a link to the module's list filtered by the term. Reads go through
`access.visible` and match only fields the user may see; custom fields are left out, as they
have no search index (the module's list still searches them)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models.functions import Coalesce
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from access.decisions import decide_module
from access.visibility import visible

from . import selectors
from .modules import all_modules

MIN_TERM_LENGTH = 2  # one character matches nearly everything and says nothing
MAX_TERM_LENGTH = selectors.MAX_SEARCH_TEXT
TOP_MATCHES = 5
# What is shown beside a match's name, so two "Zhang"s can be told apart.
HINT_FIELDS = {"accounts": "city", "contacts": "email", "leads": "company", "deals": "stage", "tasks": "status"}
NAME_FIELDS = {"contacts": ("first_name", "last_name"), "leads": ("first_name", "last_name")}


def term_problem(text: str) -> str | None:
    """Why a term cannot be searched for, in the user's language, or None."""
    if len(text) < MIN_TERM_LENGTH:
        return _("Type at least %(count)d characters.") % {"count": MIN_TERM_LENGTH}
    if len(text) > MAX_TERM_LENGTH:
        return _("Type at most %(count)d characters.") % {"count": MAX_TERM_LENGTH}
    return None


def searched_modules(user: Any, org: Any, text: str) -> list[Any]:
    """The bound schemas of the modules the user may open that have a field the term can be
    matched against (org modules, then team modules)."""
    schemas = [module.bind(org) for module in all_modules(org) if decide_module(user, module, "open")]
    return [schema for schema in schemas if selectors.search_fields(schema, text, user, core_only=True)]


def match_row(schema: Any, record: Any, shown: dict[str, Any]) -> dict[str, str]:
    """A match as shown: its name and one distinguishing field, both only if the user may see them."""
    names = [shown[key].display(record) for key in NAME_FIELDS.get(schema.key, (schema.title_field,)) if key in shown]
    hint_key = "status" if schema.kind == "team" else HINT_FIELDS.get(schema.key, "")
    hint = shown[hint_key] if hint_key in shown else None
    return {"name": " ".join(n for n in names if n) or f"#{record.pk}", "url": record.get_absolute_url(),
            "hint_label": hint.label if hint else "", "hint": hint.display(record) if hint else ""}


def newest_first(queryset: Any, many: bool) -> Any:
    """Matches, newest first. With more than the count cap of them, walking the (org, modified)
    index meets five at once. With fewer, that walk can read the whole module before it meets
    five (a rare term), so the order is given as an expression no index serves: PostgreSQL then
    reads the matches through the search indexes and sorts at most cap+1 of them."""
    if many:
        return queryset.order_by("-modified_at", "-pk")
    return queryset.order_by(Coalesce("modified_at", "created_at").desc(), "-pk")


def search_groups(user: Any, org: Any, text: str) -> list[dict[str, Any]]:
    """One group per module with a match: its bounded count, top matches and list link."""
    querysets = {}
    for schema in searched_modules(user, org, text):
        queryset = selectors.search(visible(user, schema, "view"), schema, text, user, core_only=True)
        querysets[schema.key] = (schema, queryset)
    counts = selectors.bounded_counts({key: qs for key, (_schema, qs) in querysets.items()})
    groups = []
    for key, (schema, queryset) in querysets.items():
        if not counts[key]:
            continue
        shown = {spec.key: spec for spec in schema.fields_for(user)}
        groups.append({
            "module": schema, "count": counts[key], "count_label": selectors.count_label(counts[key]),
            "matches": [match_row(schema, record, shown)
                        for record in newest_first(queryset, counts[key] > selectors.count_cap())[:TOP_MATCHES]],
            "list_url": reverse("crm:list", args=[key]) + "?" + urlencode({"q": text}),
        })
    return groups


class SearchView(LoginRequiredMixin, View):
    template_name = "crm/search.html"

    def get(self, request):
        text = request.GET.get("q", "").strip()
        problem = term_problem(text) if text else None
        groups = search_groups(request.user, request.org, text) if text and not problem else []
        return render(request, self.template_name, {
            "query": text[:MAX_TERM_LENGTH], "problem": problem, "groups": groups})
