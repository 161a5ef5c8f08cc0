"""Duplicate pages: find groups by chosen fields, and merge two or three records field by field.

Who may open them is the decision point's answer (`decide_module(..., "open")`); which record may
be kept or merged away, and which fields are hidden or read-only, is `decide` per record. The
merge action asks the same questions again for real."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views import View

from access.decisions import decide_many, decide_module, require
from config.params import MAX_PAGE, bounded_int, parse_id
from crm.actions import ConflictError
from crm.modules import get_module

from . import actions, selectors


class ModuleView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.schema = get_module(kwargs["module"], request.org).bind(request.org)
        require(decide_module(request.user, self.schema, "open"))
        return super().dispatch(request, *args, **kwargs)


class FindView(ModuleView):
    """Groups of records equal on the chosen fields, largest first, a page at a time."""

    def get(self, request, module):
        fields = selectors.matchable_fields(self.schema, request.user)
        by_key = {spec.key: spec for spec in fields}
        asked = request.GET.getlist("fields")
        unknown = [key for key in asked if key not in by_key]
        chosen = [by_key[key] for key in dict.fromkeys(asked) if key in by_key]
        if not asked:
            chosen = [by_key[key] for key in selectors.default_fields(fields)]
        page = bounded_int(request.GET.get("page"), default=1, low=1, high=MAX_PAGE)
        groups, more = selectors.duplicate_groups(request.user, self.schema, chosen, page=page)
        for group in groups:
            for record in group.records:
                record.dedupe_shown = [spec.display(record) for spec in chosen]
        query = [("fields", spec.key) for spec in chosen]
        return render(request, "dedupe/find.html", {
            "module": self.schema, "fields": fields, "chosen": [spec.key for spec in chosen],
            "shown": chosen, "groups": groups, "page": page, "more": more, "unknown": unknown,
            "capped": selectors.scan_capped(request.user, self.schema), "scan_rows": _scan_rows(),
            "next_url": f"?{urlencode(query + [('page', page + 1)])}" if more else "",
            "previous_url": f"?{urlencode(query + [('page', page - 1)])}" if page > 1 else "",
            "merge_url": reverse("dedupe:merge", args=[self.schema.key]),
            "max_merged": selectors.MAX_MERGED,
        }, status=400 if unknown else 200)


def _scan_rows() -> int:
    from django.conf import settings

    return settings.DEDUPE_SCAN_ROWS


class MergeView(ModuleView):
    """GET ?ids=..: the field-by-field table; POST: the merge. A POST from the list page's
    "Merge" button carries only the chosen rows' ids and opens the table."""

    def ids(self, values: list[str]) -> list[int]:
        ids = [parse_id(value, "ids") for value in values]
        if len(ids) < 2:
            raise ValidationError(_("Choose at least two records to merge."))
        if len(ids) > selectors.MAX_MERGED:
            raise ValidationError(_("Merge at most %(count)d records at once.") % {"count": selectors.MAX_MERGED})
        if len(set(ids)) != len(ids):
            raise ValidationError(_("Choose different records: the same record is named twice."))
        return ids

    def records(self, ids: list[int]) -> list[Any]:
        records = selectors.merge_candidates(self.request.user, self.schema, ids)
        if len(records) != len(ids):
            raise Http404  # unknown, another organisation's, or not visible: the same answer
        return records

    def get(self, request, module):
        try:
            ids = self.ids(request.GET.getlist("ids"))
        except ValidationError as exc:
            return self.problem(exc.messages, status=400)
        records = self.records(ids)
        master = bounded_int(request.GET.get("master"), default=ids[0], low=0, high=2**63 - 1)
        return self.page(records, master if master in ids else ids[0])

    def post(self, request, module):
        if "master" not in request.POST:  # from the list page: show the table
            try:
                ids = self.ids(request.POST.getlist("ids"))
            except ValidationError as exc:
                return self.problem(exc.messages, status=400)
            return HttpResponseRedirect(f"{request.path}?{urlencode([('ids', pk) for pk in ids])}")
        try:
            ids = self.ids(request.POST.getlist("ids"))
        except ValidationError as exc:
            return self.problem(exc.messages, status=400)
        records = self.records(ids)
        master = parse_id(request.POST.get("master"), "master")
        if master not in ids:
            return self.page(records, ids[0], errors=[_("Choose which record is kept.")], status=400)
        survivor = next(record for record in records if record.pk == master)
        others = [record for record in records if record.pk != master]
        choices = {key.removeprefix("field_"): value for key, value in request.POST.items() if key.startswith("field_")}
        # The versions the page showed (a stale one is a conflict); an API-like post without them
        # merges the records as they are now.
        versions = {record.pk: request.POST[f"version_{record.pk}"] for record in records
                    if f"version_{record.pk}" in request.POST}
        try:
            kept = actions.do_merge_records(survivor, others, choices, actor=request.user, versions=versions)
        except ValidationError as exc:
            errors = [message for messages_ in getattr(exc, "message_dict", {"": exc.messages}).values()
                      for message in messages_]
            return self.page(records, master, errors=errors, status=400)
        except ConflictError as exc:
            return self.page(self.records(ids), master, errors=[str(exc)], status=409)
        except PermissionDenied as exc:
            reason = str(exc.args[0]) if exc.args else _("You may not do this.")
            return self.page(records, master, errors=[reason], status=403)
        counts = kept.merge_counts
        messages.success(request, _("Merged into “%(record)s”: %(notes)d notes, %(files)d files, %(related)d related "
                                    "records and %(shares)d shares moved; the others are in the recycle bin.") % {
            "record": kept, "notes": counts["notes"], "files": counts["files"], "related": counts["related"],
            "shares": counts["shares"]})
        return redirect("crm:detail", self.schema.key, kept.pk)

    def problem(self, errors: list[str], *, status: int):
        return render(self.request, "dedupe/merge.html", {"module": self.schema, "errors": errors, "rows": []},
                      status=status)

    def page(self, records: list[Any], master: int, *, errors: list[str] | None = None, status: int = 200):
        user = self.request.user
        edits = decide_many(user, records, "edit", schema=self.schema)
        deletes = decide_many(user, records, "delete", schema=self.schema, fields=False)
        decision = edits[master]
        posted = self.request.POST if self.request.method == "POST" else {}
        rows = []
        for spec in self.schema.fields_for(user):
            if not spec.editable or spec.key in decision.hidden:
                continue
            values = [(record, spec.get_value(record), spec.display(record)) for record in records]
            filled = [record.pk for record, value, _shown in values if value not in (None, "", [])]
            same = len({str(shown) for _record, _value, shown in values}) == 1
            default = master if master in filled or not filled else filled[0]
            chosen = posted.get(f"field_{spec.key}") or str(default)
            rows.append({"spec": spec, "values": values, "same": same, "chosen": chosen,
                         "read_only": decision.read_only.get(spec.key, "")})
        return render(self.request, "dedupe/merge.html", {
            "module": self.schema, "records": records, "master": master, "rows": rows, "errors": errors or [],
            "columns": [{"record": record, "keep": edits[record.pk], "remove": deletes[record.pk]}
                        for record in records],
        }, status=status)
